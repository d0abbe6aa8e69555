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


DATA_DIR = REPO_ROOT / "tests" / "data"


def _read_json(path: Path) -> Dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        data: Dict[str, Any] = json.load(f)
    return data


def load_vectors() -> Dict[str, Any]:
    """The repository's vectors plus those of every file in IOP_EXTRA_VECTORS (FILE[:FILE...])."""
    data = _read_json(DATA_DIR / "vectors" / "sign.json")
    for extra in filter(None, os.environ.get("IOP_EXTRA_VECTORS", "").split(os.pathsep)):
        more = _read_json(Path(extra))
        for key in ("vectors", "must_not_match"):
            data.setdefault(key, []).extend(more.get(key) or [])
    return data


@pytest.fixture
def emulator() -> Iterator[iop.testing.Emulator]:
    with iop.testing.Emulator(APP_KEY, APP_SECRET) as emu:
        yield emu


@pytest.fixture
def client(emulator: iop.testing.Emulator) -> iop.Client:
    return emulator.client()
