"""Token refreshes against the iop-emulator binary (its own process): ``iop.Client`` beside the
vendor's ``lazop-sdk`` (``LazopClient``), one caller each, as in issue 12.

    python bench/python/bench_lazop.py [--emulator PATH] [-n 2000] [--rounds 5]

Both refresh the same token (the emulator runs with ``--no-rotate``, so one refresh token serves
every call and both ways do the same work), one call after the other on one thread. The ways are
interleaved round by round, so machine load hits both alike. Per way and round: wall time per
refresh, client CPU per refresh (this process's user+system time, every thread) and emulator CPU
per refresh (from /proc/PID/stat). Prints every round, then the medians and the ratios of the
medians (lazop-sdk / iop).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from typing import Callable, Dict, List

# lazop-sdk writes ~/logs when imported: point HOME at a scratch directory before importing it.
os.environ["HOME"] = tempfile.mkdtemp(prefix="iop-bench-home-")

import iop  # noqa: E402
import lazop_sdk  # noqa: E402

from emulator_process import (  # noqa: E402  (the module beside this script)
    APP_KEY,
    APP_SECRET,
    cpu_of,
    find_emulator,
    lazop_refresh,
    refresh_token_of,
    start_emulator,
)


def measure(emulator_pid: int, n: int, call: Callable[[], object]) -> Dict[str, float]:
    wall0, cpu0, emu0 = time.perf_counter(), time.process_time(), cpu_of(emulator_pid)
    for _ in range(n):
        call()
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    emu = cpu_of(emulator_pid) - emu0
    return {"wall_us": wall / n * 1e6, "cpu_us": cpu / n * 1e6, "emu_us": emu / n * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--emulator", help="path of the iop-emulator binary")
    parser.add_argument("-n", type=int, default=2000, help="iop refreshes per round (default 2000)")
    parser.add_argument(
        "--lazop-n", type=int, default=0, help="lazop-sdk refreshes per round (default n / 4)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="emulator --threads (default 2)")
    args = parser.parse_args()
    lazop_n = args.lazop_n or max(args.n // 4, 100)

    path = find_emulator(args.emulator)
    proc, base_url = start_emulator(path, args.threads)
    rounds: Dict[str, List[Dict[str, float]]] = {"iop": [], "lazop": []}
    try:
        refresh = refresh_token_of(base_url)
        client = iop.Client(APP_KEY, APP_SECRET, base_url=base_url)
        vendor = lazop_sdk.LazopClient(base_url + "/rest", APP_KEY, APP_SECRET)

        def ours() -> object:
            return client.refresh_token(refresh)

        def theirs() -> object:
            return lazop_refresh(lazop_sdk, vendor, refresh)

        # Warm-up: the pooled connection, lazop's imports and caches.
        for _ in range(100):
            ours()
        for _ in range(20):
            theirs()
        for r in range(args.rounds):
            for name, n, call in (("iop", args.n, ours), ("lazop", lazop_n, theirs)):
                result = measure(proc.pid, n, call)
                rounds[name].append(result)
                print(
                    f"round {r + 1} {name:5}: wall {result['wall_us']:7.1f} µs, client CPU "
                    f"{result['cpu_us']:7.1f} µs, emulator CPU {result['emu_us']:6.1f} µs per refresh",
                    flush=True,
                )
    finally:
        proc.kill()
        proc.wait()

    def median(name: str, field: str) -> float:
        return statistics.median(r[field] for r in rounds[name])

    print()
    print(
        f"{args.rounds} rounds, iop {args.n} / lazop-sdk {lazop_n} refreshes each, one thread; "
        f"emulator {path} (--threads {args.threads}, --no-rotate), its own process; "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs; lazop-sdk "
        f"{getattr(lazop_sdk, '__version__', '1.0.3')}"
    )
    print()
    print("| per refresh (median of rounds) | iop.Client | lazop-sdk | lazop-sdk / iop |")
    print("|---|---:|---:|---:|")
    for field, label in (
        ("wall_us", "wall"),
        ("cpu_us", "client CPU"),
        ("emu_us", "emulator CPU"),
    ):
        a, b = median("iop", field), median("lazop", field)
        ratio = f"{b / a:.1f}x" if a > 0 else "-"
        print(f"| {label} | {a:.0f} µs | {b:.0f} µs | {ratio} |")


if __name__ == "__main__":
    main()
