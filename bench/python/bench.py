"""Measures the iop Python package beside the vendor's lazop-sdk, in one run, in one venv.

    python bench/python/bench.py [--quick] [--sign-only]

1. Signing: iop.sign vs lazop_sdk.base.sign on the same inputs (a token refresh's parameters).
2. Refresh round trips per second against one in-process iop.testing.Emulator (refresh-token
   rotation off, so one refresh token serves every call): iop.Client vs LazopClient, 1 thread and
   8 threads.
3. Import time: `import iop` vs `import lazop_sdk`, each in fresh interpreters (lazop gets a
   temporary HOME because it creates ~/logs at import).

Prints a Markdown table. lazop's own error log goes to the temporary HOME as well.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from typing import Callable, Dict, List, Tuple

# lazop writes ~/logs when imported: point HOME at a scratch directory before importing it.
SCRATCH_HOME = tempfile.mkdtemp(prefix="iop-bench-home-")
os.environ["HOME"] = SCRATCH_HOME

import iop  # noqa: E402
import iop.testing  # noqa: E402
import lazop_sdk  # noqa: E402
from lazop_sdk.base import sign as lazop_sign  # noqa: E402

from emulator_process import lazop_refresh  # noqa: E402  (the module beside this script)

# The inputs of sign_refresh_request in bench/benches/core.rs, so the three sign figures of
# `make bench` (Rust, Python, lazop-sdk) sign the same bytes.
SECRET = "helloworld"
API = "/auth/token/refresh"
PARAMS: Dict[str, str] = {
    "app_key": "123456",
    "partner_id": "iop-rs",
    "refresh_token": "50001600212wcwiOabwyjtEH11acc19aBOvQr9ZYkYDlr987D8BB88LIB8bj",
    "sign_method": "sha256",
    "timestamp": "1517820392000",
}


def per_call_us_pair(a: Callable[[], object], b: Callable[[], object], number: int, rounds: int = 9) -> Tuple[float, float]:
    """Best of `rounds` runs of `number` calls each, `a` and `b` interleaved round by round (so
    a busy machine slows both alike), in microseconds per call."""
    best_a = best_b = float("inf")
    for _ in range(rounds):
        best_a = min(best_a, timeit.timeit(a, number=number))
        best_b = min(best_b, timeit.timeit(b, number=number))
    return best_a / number * 1e6, best_b / number * 1e6


def bench_sign(number: int, rounds: int = 9) -> Tuple[float, float]:
    """`iop.sign` and lazop-sdk's `sign` on a refresh call's pairs: µs per call, best of `rounds`."""
    assert iop.sign(SECRET, PARAMS, api=API) == lazop_sign(SECRET, API, PARAMS)
    return per_call_us_pair(
        lambda: iop.sign(SECRET, PARAMS, api=API),
        lambda: lazop_sign(SECRET, API, PARAMS),
        number,
        rounds,
    )


def run_threads(threads: int, per_thread: int, make_call: Callable[[], Callable[[], object]]) -> float:
    """Round trips per second of `threads` threads each making `per_thread` calls."""
    calls = [make_call() for _ in range(threads)]
    for call in calls:  # warm up: connections, caches
        call()
    barrier = threading.Barrier(threads + 1)
    errors: List[BaseException] = []

    def work(call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            for _ in range(per_thread):
                call()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    pool = [threading.Thread(target=work, args=(c,)) for c in calls]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return threads * per_thread / elapsed


def bench_refresh(per_thread_1: int, per_thread_8: int) -> Dict[str, float]:
    results: Dict[str, float] = {}
    with iop.testing.Emulator(rotate_refresh_tokens=False, threads=8) as emu:
        seed = emu.client().create_token(emu.authorize(seller_id="bench"))
        refresh = seed.refresh_token
        assert refresh
        shared = iop.Client(emu.app_key, emu.app_secret, base_url=emu.base_url)

        def ours() -> Callable[[], object]:
            return lambda: shared.refresh_token(refresh)

        vendor = lazop_sdk.LazopClient(emu.base_url + "/rest", emu.app_key, emu.app_secret)

        def theirs() -> Callable[[], object]:
            return lambda: lazop_refresh(lazop_sdk, vendor, refresh)

        # Two interleaved rounds each, best kept: the machine may be busy with other work.
        for _ in range(2):
            for name, threads, count, make in (
                ("iop_1", 1, per_thread_1, ours),
                ("lazop_1", 1, max(per_thread_1 // 5, 50), theirs),
                ("iop_8", 8, per_thread_8, ours),
                ("lazop_8", 8, max(per_thread_8 // 5, 25), theirs),
            ):
                results[name] = max(results.get(name, 0.0), run_threads(threads, count, make))
    return results


def import_ms(module: str, runs: int) -> float:
    """Median wall time of `python -c "import <module>"` minus a bare interpreter start."""
    env = dict(os.environ, HOME=SCRATCH_HOME, PYTHONDONTWRITEBYTECODE="1")

    def once(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
        return time.perf_counter() - start

    bare = statistics.median(once("pass") for _ in range(runs))
    loaded = statistics.median(once(f"import {module}") for _ in range(runs))
    return (loaded - bare) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    parser.add_argument("--sign-only", action="store_true", help="only the sign comparison")
    args = parser.parse_args()
    scale = 10 if args.quick else 1

    sign_ours, sign_theirs = bench_sign(200_000 // scale)
    if args.sign_only:
        print(f"Python {platform.python_version()}; iop {iop.__version__} ({iop.__file__}), lazop-sdk 1.0.3")
        print(f"sign one refresh request (µs/call, best of 9): iop {sign_ours:.2f}, lazop-sdk "
              f"{sign_theirs:.2f}: {sign_theirs / sign_ours:.1f}x faster")
        return
    refresh = bench_refresh(4000 // scale, 1500 // scale)
    imp_iop = import_ms("iop", 21 // (3 if args.quick else 1))
    imp_lazop = import_ms("lazop_sdk", 21 // (3 if args.quick else 1))

    print(f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; "
          f"iop {iop.__version__}, lazop-sdk 1.0.3\n")
    print("| measure | iop | lazop-sdk | ratio |")
    print("|---|---|---|---|")
    print(f"| sign one refresh request (µs/call, best of 9) | {sign_ours:.2f} | {sign_theirs:.2f} | "
          f"{sign_theirs / sign_ours:.1f}x faster |")
    print(f"| refresh round trips/s, 1 thread | {refresh['iop_1']:.0f} | {refresh['lazop_1']:.0f} | "
          f"{refresh['iop_1'] / refresh['lazop_1']:.1f}x |")
    print(f"| refresh round trips/s, 8 threads | {refresh['iop_8']:.0f} | {refresh['lazop_8']:.0f} | "
          f"{refresh['iop_8'] / refresh['lazop_8']:.1f}x |")
    print(f"| import time (ms, median, fresh interpreter) | {imp_iop:.1f} | {imp_lazop:.1f} | "
          f"{imp_lazop / imp_iop:.1f}x less |")


if __name__ == "__main__":
    main()
