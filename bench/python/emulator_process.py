"""The iop-emulator binary in a process of its own, for the benchmarks beside it: finding the
binary, starting it (refresh-token rotation off, so one refresh token serves every call), its CPU
time, a seller's refresh token, and lazop-sdk's refresh call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, Tuple

import iop

APP_KEY = "bench-app-key"
APP_SECRET = "bench-app-secret-0123456789abcdef"
API = "/auth/token/refresh"
ROOT = Path(__file__).resolve().parents[2]


def find_emulator(given: str | None) -> str:
    """The binary given, else the release build in cargo's target directory (CARGO_TARGET_DIR or
    the checkout's target/), else its debug build."""
    candidates = [given] if given else []
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    candidates += [
        str(target / "release" / "iop-emulator"),
        str(target / "debug" / "iop-emulator"),
    ]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    sys.exit("no iop-emulator binary: cargo build -p iop-emulator --release (or pass --emulator)")


def start_emulator(
    path: str, threads: int | None = 2
) -> Tuple["subprocess.Popen[str]", str]:
    """Starts the emulator on a free loopback port (`--threads threads`; `None`: the binary's
    default); returns the process and its base URL."""
    env = dict(os.environ, IOP_EMULATOR_APP_SECRET=APP_SECRET)
    args = [path, "--app-key", APP_KEY, "--no-rotate"]
    if threads is not None:
        args += ["--threads", str(threads)]
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        sys.exit(f"{path} printed {url!r} instead of its URL")
    return proc, url


def cpu_of(pid: int) -> float:
    """Seconds of CPU (user + system) used by process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def refresh_token_of(base_url: str) -> str:
    """Authorizes the bench seller at the emulator and returns its refresh token."""
    request = urllib.request.Request(
        f"{base_url}/_emulator/authorize?seller_id=bench-seller", method="POST", data=b""
    )
    with urllib.request.urlopen(request) as answer:
        code = json.load(answer)["code"]
    token = iop.Client(APP_KEY, APP_SECRET, base_url=base_url).create_token(code)
    assert token.refresh_token
    return token.refresh_token


def lazop_refresh(lazop_sdk: Any, vendor: Any, refresh: str) -> Any:
    """One refresh through lazop-sdk's `LazopClient`, as its users write it."""
    request = lazop_sdk.LazopRequest(API)
    request.add_api_param("refresh_token", refresh)
    response = vendor.execute(request)
    if response.code != "0":
        raise RuntimeError(f"lazop refresh failed: {response.code}")
    return response
