"""1,000 token refreshes against the iop-emulator binary (its own process), three ways:

1. ``iop.aio`` with 64 concurrent tasks (``iop.aio.configure(max_workers=64)``);
2. the sync ``iop.Client`` with 8 threads;
3. the same refresh as a user would write it on ``httpx.AsyncClient`` with hmac signing, 64
   concurrent tasks (and 8, its better setting here);
4. one caller each, ``iop.Client`` beside the vendor's ``lazop-sdk`` (``LazopClient``): wall and
   client CPU per refresh with the emulator in its own process, where the client's own cost shows.

    python bench/python/bench_aio.py [--emulator PATH] [-n 1000] [--rounds 3]

Reports throughput, client CPU per refresh (this process's CPU time, every thread) and the
emulator's CPU per refresh (from /proc/PID/stat). The emulator runs with refresh-token rotation
off (``--no-rotate``), so one refresh token serves every call and each way does the same work.
Optionally under uvloop (``--uvloop``).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import platform
import threading
import time
from typing import Any, Awaitable, Callable, Dict, List, Tuple

import tempfile

# lazop-sdk writes ~/logs when imported: point HOME at a scratch directory before importing it.
os.environ["HOME"] = tempfile.mkdtemp(prefix="iop-bench-home-")

import httpx  # noqa: E402

import iop  # noqa: E402
import iop.aio  # noqa: E402
import lazop_sdk  # noqa: E402

from emulator_process import (  # noqa: E402  (the module beside this script)
    API,
    APP_KEY,
    APP_SECRET,
    cpu_of,
    find_emulator,
    lazop_refresh,
    refresh_token_of,
    start_emulator,
)


# The httpx version: what a user writes from the protocol description (HMAC-SHA256 over the API
# path and the sorted parameters, uppercase hex).
def httpx_sign(secret: str, api: str, params: Dict[str, str]) -> str:
    message = api + "".join(k + params[k] for k in sorted(params))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest().upper()


async def httpx_refresh(http: httpx.AsyncClient, base_url: str, refresh_token: str) -> Dict[str, Any]:
    params = {
        "app_key": APP_KEY,
        "timestamp": str(int(time.time() * 1000)),
        "sign_method": "sha256",
        "refresh_token": refresh_token,
    }
    params["sign"] = httpx_sign(APP_SECRET, API, params)
    response = await http.post(f"{base_url}/rest{API}", data=params)
    response.raise_for_status()
    body: Dict[str, Any] = response.json()
    if body.get("code") != "0":
        raise RuntimeError(f"refresh failed: {body.get('code')}")
    return body


async def run_tasks(n: int, concurrency: int, one: Callable[[], Awaitable[Any]]) -> None:
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def run_threads(n: int, threads: int, one: Callable[[], Any]) -> None:
    lock = threading.Lock()
    remaining = [n]

    def worker() -> None:
        while True:
            with lock:
                if remaining[0] <= 0:
                    return
                remaining[0] -= 1
            one()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def measure(name: str, emulator_pid: int, n: int, body: Callable[[], None]) -> Dict[str, Any]:
    wall0, cpu0, emu0 = time.perf_counter(), time.process_time(), cpu_of(emulator_pid)
    body()
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    emu = cpu_of(emulator_pid) - emu0
    return {
        "name": name,
        "per_s": n / wall,
        "cpu_us": cpu / n * 1e6,
        "emu_us": emu / n * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--emulator", help="path of the iop-emulator binary")
    parser.add_argument("-n", type=int, default=1000, help="refreshes per way (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best of each is kept")
    parser.add_argument("--uvloop", action="store_true", help="run the async ways on uvloop")
    args = parser.parse_args()

    new_loop: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    if args.uvloop:
        import uvloop

        new_loop = uvloop.new_event_loop

    def on_loop(coro: Callable[[], Awaitable[None]]) -> None:
        loop = new_loop()
        try:
            loop.run_until_complete(coro())
        finally:
            loop.close()

    path = find_emulator(args.emulator)
    proc, base_url = start_emulator(path)
    try:
        refresh = refresh_token_of(base_url)
        iop.aio.configure(max_workers=64)
        aio_client = iop.aio.Client(APP_KEY, APP_SECRET, base_url=base_url)
        sync_client = iop.Client(APP_KEY, APP_SECRET, base_url=base_url)

        def aio_way() -> None:
            on_loop(lambda: run_tasks(args.n, 64, lambda: aio_client.refresh_token(refresh)))

        def sync_way() -> None:
            run_threads(args.n, 8, lambda: sync_client.refresh_token(refresh))

        vendor = lazop_sdk.LazopClient(base_url + "/rest", APP_KEY, APP_SECRET)

        def lazop_once() -> None:
            lazop_refresh(lazop_sdk, vendor, refresh)

        def one_thread(call: Callable[[], Any]) -> Callable[[], None]:
            def way() -> None:
                for _ in range(args.n):
                    call()

            return way

        def httpx_way(tasks: int) -> Callable[[], None]:
            def way() -> None:
                async def go() -> None:
                    limits = httpx.Limits(max_connections=tasks, max_keepalive_connections=tasks)
                    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
                        await run_tasks(args.n, tasks, lambda: httpx_refresh(http, base_url, refresh))

                on_loop(go)

            return way

        ways: List[Tuple[str, Callable[[], None]]] = [
            ("iop.aio, 64 tasks", aio_way),
            ("iop.Client (sync), 8 threads", sync_way),
            ("httpx.AsyncClient + hmac, 64 tasks", httpx_way(64)),
            ("httpx.AsyncClient + hmac, 8 tasks", httpx_way(8)),
            # Issue 12's comparison: one caller each, the emulator in its own process.
            ("iop.Client (sync), 1 thread", one_thread(lambda: sync_client.refresh_token(refresh))),
            ("lazop-sdk LazopClient, 1 thread", one_thread(lazop_once)),
        ]
        # Warm-up: worker threads and connections.
        on_loop(lambda: run_tasks(50, 16, lambda: aio_client.refresh_token(refresh)))
        best: Dict[str, Dict[str, Any]] = {}
        for _ in range(args.rounds):
            for name, way in ways:
                result = measure(name, proc.pid, args.n, way)
                if name not in best or result["per_s"] > best[name]["per_s"]:
                    best[name] = result
    finally:
        proc.kill()
        proc.wait()

    print(
        f"{args.n} refreshes per way, best of {args.rounds} rounds; emulator {path} "
        f"(--threads 2, --no-rotate); Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, loop {'uvloop' if args.uvloop else 'asyncio'}"
    )
    print()
    print("| client | refreshes/s | client CPU per refresh | emulator CPU per refresh |")
    print("|---|---:|---:|---:|")
    for name, _ in ways:
        r = best[name]
        print(f"| {name} | {r['per_s']:.0f} | {r['cpu_us']:.0f} µs | {r['emu_us']:.0f} µs |")
    a = best[ways[0][0]]
    h = max((best[name] for name, _ in ways[2:4]), key=lambda r: r["per_s"])
    print()
    print(
        f"iop.aio vs the faster httpx ({h['name']}): {a['per_s'] / h['per_s']:.2f}x the "
        f"throughput, {a['cpu_us'] / h['cpu_us']:.3f}x the client CPU per refresh"
    )
    ours, theirs = best["iop.Client (sync), 1 thread"], best["lazop-sdk LazopClient, 1 thread"]
    print(
        f"iop.Client vs lazop-sdk, 1 thread each: wall per refresh {1e6 / ours['per_s']:.0f} vs "
        f"{1e6 / theirs['per_s']:.0f} µs ({ours['per_s'] / theirs['per_s']:.1f}x), client CPU per "
        f"refresh {ours['cpu_us']:.0f} vs {theirs['cpu_us']:.0f} µs "
        f"({theirs['cpu_us'] / ours['cpu_us']:.1f}x less)"
    )


if __name__ == "__main__":
    main()
