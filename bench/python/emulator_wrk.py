"""Throughput of iop-emulator binaries under wrk (issue 11): keep-alive `GET /_emulator/now` and a
signed `POST /rest/auth/token/refresh` (pre-signed once, replayed by a wrk Lua script; the
emulators run with rotation off), at 1 and 16 connections, binaries alternated in one run.

    python bench/python/emulator_wrk.py OLD_BINARY NEW_BINARY[:THREADS] ... [--seconds 6] [--rounds 2]

Each binary is `PATH` or `PATH:THREADS` (passed as `--threads`; without it the binary's
default). Prints requests/s, p50 and p99 from wrk, and the emulator's CPU per request from
/proc/PID/stat around each run. Needs `wrk` (Debian's package) and the `iop` package.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Dict, List, Tuple

import iop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from emulator_process import (  # noqa: E402
    APP_KEY,
    APP_SECRET,
    cpu_of,
    refresh_token_of,
    start_emulator,
)


def refresh_lua(url: str, directory: str) -> str:
    """A wrk script sending one signed refresh of the bench seller, and its path."""
    refresh = refresh_token_of(url)
    params = {
        "app_key": APP_KEY,
        "timestamp": str(int(time.time() * 1000)),
        "sign_method": "sha256",
        "refresh_token": refresh,
    }
    params["sign"] = iop.sign(APP_SECRET, params, api="/auth/token/refresh")
    body = urllib.parse.urlencode(params)
    script = Path(directory) / f"refresh-{os.getpid()}-{abs(hash(url))}.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded;charset=utf-8"\n'
        f'wrk.body = "{body}"\n'
    )
    return str(script)


def wrk(url: str, connections: int, seconds: int, script: str | None) -> Dict[str, float]:
    """One wrk run: requests/s, p50 and p99 in microseconds, and completed requests."""
    threads = 1 if connections == 1 else 2
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")

    def micros(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out)
        if not m:
            raise RuntimeError(f"no {label} in wrk output:\n{out}")
        scale = {"us": 1.0, "ms": 1e3, "s": 1e6}[m.group(2)]
        return float(m.group(1)) * scale

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p50": micros("50%"), "p99": micros("99%"), "requests": done}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binaries", nargs="+", help="PATH or PATH:THREADS")
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    running = []
    with tempfile.TemporaryDirectory() as directory:
        try:
            for spec in args.binaries:
                path, _, threads = spec.partition(":")
                proc, url = start_emulator(path, int(threads) if threads else None)
                running.append((spec, proc, url, refresh_lua(url, directory)))
            cases = [
                ("now, 1 connection", "/_emulator/now", 1, False),
                ("now, 16 connections", "/_emulator/now", 16, False),
                ("refresh, 1 connection", "/rest/auth/token/refresh", 1, True),
                ("refresh, 16 connections", "/rest/auth/token/refresh", 16, True),
            ]
            results: Dict[Tuple[str, str], List[Dict[str, float]]] = {}
            for _ in range(args.rounds):
                for name, path, connections, signed in cases:
                    for spec, proc, url, script in running:
                        before = cpu_of(proc.pid)
                        row = wrk(url + path, connections, args.seconds, script if signed else None)
                        row["cpu_us"] = (cpu_of(proc.pid) - before) / row["requests"] * 1e6
                        results.setdefault((name, spec), []).append(row)
            print("| case | binary | req/s | p50 µs | p99 µs | emulator CPU µs/request |")
            print("|---|---|---:|---:|---:|---:|")
            for name, *_ in cases:
                for spec, *_ in running:
                    rows = results[(name, spec)]

                    def join(key: str, fmt: str) -> str:
                        return " / ".join(fmt.format(r[key]) for r in rows)

                    print(
                        f"| {name} | {spec} | {join('rps', '{:,.0f}')} | {join('p50', '{:.0f}')} "
                        f"| {join('p99', '{:.0f}')} | {join('cpu_us', '{:.1f}')} |"
                    )
        finally:
            for _, proc, _, _ in running:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
