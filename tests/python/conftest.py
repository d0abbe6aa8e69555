"""Shared fixtures of the iop Python tests."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

import iop
import iop.testing

REPO_ROOT = Path(__file__).resolve().parents[2]

APP_KEY = "py-test-app-key"
APP_SECRET = "py-test-app-secret-0123456789"


def shared_dir() -> Path:
    """The shared spec folder: $IOP_SHARED_DIR, else <repo>/../shared."""
    override = os.environ.get("IOP_SHARED_DIR")
    return Path(override) if override else REPO_ROOT.parent / "shared"


def load_vectors() -> Dict[str, Any]:
    path = shared_dir() / "vectors" / "sign.json"
    with open(path, encoding="utf-8") as f:
        data: Dict[str, Any] = json.load(f)
    return data


@pytest.fixture
def emulator() -> Iterator[iop.testing.Emulator]:
    with iop.testing.Emulator(APP_KEY, APP_SECRET) as emu:
        yield emu


@pytest.fixture
def client(emulator: iop.testing.Emulator) -> iop.Client:
    return emulator.client()
