"""Every Python example of the README passes `mypy --strict`: the blocks are read from README.md
itself (not a copy), each checked as a module of its own against the installed package."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import List

from conftest import REPO_ROOT


def readme_python_blocks() -> List[str]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def test_the_readme_has_python_examples() -> None:
    blocks = readme_python_blocks()
    assert len(blocks) >= 8, f"found {len(blocks)} ```python blocks"
    joined = "\n".join(blocks)
    # The examples show what users reach for first.
    for needle in ("TokenManager(", ".call(", "proxy=", "ca_file=", "iop.aio", "Emulator", "LazopClient"):
        assert needle in joined, needle


def test_every_readme_python_example_passes_mypy_strict(tmp_path: Path) -> None:
    files = []
    for number, block in enumerate(readme_python_blocks(), start=1):
        path = tmp_path / f"readme_example_{number}.py"
        path.write_text(block, encoding="utf-8")
        files.append(str(path))
    out = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir=/dev/null",
            *files,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
