"""The quick set of benchmarks (`make bench`): iop beside the vendor's Python SDK, lazop-sdk, measured
in the same run, printed as one table (figure, iop, peer, ratio).

    python bench/python/quick.py [--rounds 3] [--emulator PATH]

Run it through `make bench` (bench/run), which builds what it measures first: the release
emulator, libiop and bench/c/refresh, the bench targets of the iop-bench crate, and the wheel,
installed with lazop-sdk into target/bench-venv. What each row measures: bench/README.md.

- sign: criterion's `sign_refresh_request` (bench/benches/core.rs) for Rust; `iop.sign` and
  `lazop_sdk.base.sign` on the same inputs, timed in this process (best of 5 rounds).
- refresh round trips: one iop-emulator binary (its own process, `--no-rotate`, 2 threads) serves
  every client in turn: the Rust `Client` (bench/benches/refresh_load.rs), C through libiop
  (bench/c/refresh.c), `iop.Client` and lazop-sdk's `LazopClient` in this process; one caller
  (wall and client CPU per refresh) and 8 threads (refreshes per second). The clients take turns
  round by round, so machine load hits them alike; each figure is the median of the rounds.
- import: `import iop` vs `import lazop_sdk` in fresh interpreters (median of 11).
- refresh_due over 10,000 sellers (bench/benches/manager_load.rs): no peer (lazop-sdk has no token
  manager).

Ratios say how many times better iop is: the peer's time over iop's, or iop's rate over the peer's.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# Taken before bench.py replaces HOME: cargo (rustup's proxy) finds its toolchain through it.
ENV = dict(os.environ)

# bench.py points HOME at a scratch directory before it imports lazop-sdk (which writes ~/logs).
import bench as pybench  # noqa: E402  (the module beside this script)
from emulator_process import (  # noqa: E402
    APP_KEY,
    APP_SECRET,
    find_emulator,
    lazop_refresh,
    refresh_token_of,
    start_emulator,
)

import iop  # noqa: E402
import lazop_sdk  # noqa: E402

ROOT = HERE.parents[1]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
LAZOP = f"lazop-sdk {importlib.metadata.version('lazop-sdk')}"
# Refreshes per run: iop's clients, then lazop-sdk's (about 7x slower per call, so fewer).
ONE_THREAD, EIGHT_THREADS = 3000, 4000
LAZOP_ONE_THREAD, LAZOP_EIGHT_THREADS = 500, 800


def cargo_bench(name: str, *args: str, env: Optional[Dict[str, str]] = None) -> str:
    """Runs a bench target of iop-bench (built already by bench/run) and returns its stdout."""
    cmd = ["cargo", "bench", "--locked", "-q", "-p", "iop-bench", "--bench", name, "--", *args]
    done = subprocess.run(cmd, cwd=ROOT, env=env or ENV, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def json_lines(text: str) -> List[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


UNITS = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}


def criterion() -> Dict[str, float]:
    """The core benches (short warm-up and measurement): each bench's estimate, in ns."""
    out = cargo_bench("core", "--warm-up-time", "1", "--measurement-time", "3")
    found = {}
    # "name  time:   [low unit estimate unit high unit]"; a long name sits on a line of its own.
    for m in re.finditer(r"(\w+)\s+time:\s+\[\S+ \S+ ([\d.]+) (\S+) \S+ \S+\]", out):
        found[m.group(1)] = float(m.group(2)) * UNITS[m.group(3)]
    for name in ("sign_refresh_request", "build_signed_http_request", "parse_aliexpress_token"):
        if name not in found:
            sys.exit(f"criterion printed no estimate for {name}:\n{out}")
    return found


def measure(call: Callable[[], object], threads: int, total: int) -> dict:
    """`total` calls split between `threads` threads: wall time, calls per second, and this
    process's CPU (every thread) per call."""
    per_thread = max(total // threads, 1)
    barrier = threading.Barrier(threads + 1)
    errors: List[BaseException] = []

    def work() -> None:
        barrier.wait()
        try:
            for _ in range(per_thread):
                call()
        except BaseException as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for t in pool:
        t.join()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if errors:
        raise errors[0]
    n = per_thread * threads
    return {"threads": threads, "wall_s": wall, "per_s": n / wall, "cpu_us_per_refresh": cpu / n * 1e6}


def round_trips(url: str, rounds: int) -> Dict[str, Dict[int, List[dict]]]:
    """Every client against the emulator at `url`, `rounds` times in turn: runs by client and
    thread count."""
    env = dict(ENV, IOP_APP_KEY=APP_KEY, IOP_APP_SECRET=APP_SECRET)
    refresh = refresh_token_of(url)
    client = iop.Client(APP_KEY, APP_SECRET, base_url=url)
    vendor = lazop_sdk.LazopClient(url + "/rest", APP_KEY, APP_SECRET)

    def ours() -> object:
        return client.refresh_token(refresh)

    def theirs() -> object:
        return lazop_refresh(lazop_sdk, vendor, refresh)

    def rust() -> List[dict]:
        runs = []
        for threads, total in ((1, ONE_THREAD), (8, EIGHT_THREADS)):
            out = cargo_bench("refresh_load", "--url", url, "--threads", str(threads),
                              "--refreshes", str(total), "--json", env=env)
            runs += json_lines(out)
        return runs

    def c() -> List[dict]:
        program = str(TARGET / "bench-c" / "release" / "refresh")
        runs = []
        for threads, total in ((1, ONE_THREAD), (8, EIGHT_THREADS)):
            done = subprocess.run([program, url, str(total), str(threads), "--json"], env=env,
                                  capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"{program} failed:\n{done.stdout}\n{done.stderr}")
            runs += json_lines(done.stdout)
        return runs

    def python() -> List[dict]:
        return [measure(ours, 1, ONE_THREAD), measure(ours, 8, EIGHT_THREADS)]

    def lazop() -> List[dict]:
        return [measure(theirs, 1, LAZOP_ONE_THREAD), measure(theirs, 8, LAZOP_EIGHT_THREADS)]

    # Warm-up: the Python clients' connections and caches.
    for _ in range(100):
        ours()
    for _ in range(20):
        theirs()
    clients = {"rust": rust, "c": c, "python": python, "lazop": lazop}
    results: Dict[str, Dict[int, List[dict]]] = {name: {1: [], 8: []} for name in clients}
    for r in range(rounds):
        for name, run in clients.items():
            for result in run():
                results[name][result["threads"]].append(result)
        print(f"  round {r + 1} of {rounds} done", file=sys.stderr, flush=True)
    return results


def median(runs: List[dict], field: str) -> float:
    return statistics.median(run[field] for run in runs)


def manager_load() -> Dict[str, dict]:
    runs = {}
    for store, concurrency in (("memory", 8), ("file", 32)):
        (run,) = json_lines(cargo_bench("manager_load", "10000", store, str(concurrency), "--json"))
        runs[store] = run
    return runs


def time_text(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def ratio(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.1f}x"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def commit() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return head + (" (with uncommitted changes)" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of round trips (default 3)")
    parser.add_argument("--emulator", help="the iop-emulator binary (default: the release build)")
    args = parser.parse_args()

    started = time.perf_counter()
    load_before = load_average()
    print("criterion: the core benches", file=sys.stderr, flush=True)
    core = criterion()
    print("sign in Python: iop.sign and lazop-sdk's sign", file=sys.stderr, flush=True)
    sign_py, sign_lazop = pybench.bench_sign(100_000, rounds=5)
    print("refresh round trips against the emulator binary", file=sys.stderr, flush=True)
    emulator = find_emulator(args.emulator)
    proc, url = start_emulator(emulator, 2)
    try:
        trips = round_trips(url, args.rounds)
    finally:
        proc.kill()
        proc.wait()
    print("import times", file=sys.stderr, flush=True)
    import_iop = pybench.import_ms("iop", 11)
    import_lazop = pybench.import_ms("lazop_sdk", 11)
    print("refresh_due over 10,000 sellers", file=sys.stderr, flush=True)
    manager = manager_load()
    elapsed = time.perf_counter() - started

    lazop_1, lazop_8 = trips["lazop"][1], trips["lazop"][8]
    lazop_wall = median(lazop_1, "wall_s") / LAZOP_ONE_THREAD * 1e9
    lazop_cpu = median(lazop_1, "cpu_us_per_refresh") * 1e3
    lazop_rate = median(lazop_8, "per_s")
    sign_lazop_ns = sign_lazop * 1e3
    rows: List[Tuple[str, str, str, str]] = [
        ("sign a refresh request: Rust `iop_core::sign` (criterion)",
         time_text(core["sign_refresh_request"]), time_text(sign_lazop_ns) + " (`sign`)",
         ratio(sign_lazop_ns / core["sign_refresh_request"])),
        ("sign a refresh request: Python `iop.sign`", time_text(sign_py * 1e3),
         time_text(sign_lazop_ns) + " (`sign`)", ratio(sign_lazop / sign_py)),
        ("build the signed HTTP request of a refresh: Rust (criterion)",
         time_text(core["build_signed_http_request"]), "–", "–"),
        ("parse a token answer (575 bytes): Rust (criterion)",
         time_text(core["parse_aliexpress_token"]), "–", "–"),
    ]
    names = {"rust": "Rust `Client`", "c": "C libiop", "python": "Python `iop.Client`"}
    for name, label in names.items():
        wall = median(trips[name][1], "wall_s") / ONE_THREAD * 1e9
        rows.append((f"refresh round trip, one caller, wall: {label}", time_text(wall),
                     time_text(lazop_wall) + " (`LazopClient`)", ratio(lazop_wall / wall)))
    for name, label in names.items():
        cpu = median(trips[name][1], "cpu_us_per_refresh") * 1e3
        rows.append((f"client CPU per refresh, one caller: {label}", time_text(cpu),
                     time_text(lazop_cpu), ratio(lazop_cpu / cpu)))
    for name, label in names.items():
        rate = median(trips[name][8], "per_s")
        rows.append((f"refreshes per second, 8 threads: {label}", f"{rate:,.0f} /s",
                     f"{lazop_rate:,.0f} /s", ratio(rate / lazop_rate)))
    rows.append(("`import iop` / `import lazop_sdk`, fresh interpreter", f"{import_iop:.1f} ms",
                 f"{import_lazop:.1f} ms", ratio(import_lazop / import_iop)))
    for store, label in (("memory", "`MemoryStore`, 8 workers"), ("file", "`FileStore`, 32 workers")):
        run = manager[store]
        rows.append((f"`refresh_due` of 10,000 sellers, {label}",
                     f"{run['wall_s']:.2f} s (CPU {run['cpu_s']:.2f} s)", "–", "–"))

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print()
    print(f"{now}, commit {commit()}; {os.cpu_count()} CPUs, load average {load_before} before "
          f"and {load_average()} after; Python {platform.python_version()}, iop {iop.__version__}, "
          f"{LAZOP}; round trips: median of {args.rounds} rounds against {emulator} "
          f"(--no-rotate, --threads 2)")
    print()
    print(f"| figure | iop | peer: {LAZOP} | ratio |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print(f"measured in {elapsed:.0f} s")
    shutil.rmtree(pybench.SCRATCH_HOME, ignore_errors=True)


if __name__ == "__main__":
    main()
