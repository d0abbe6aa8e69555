"""The disk's rate of durable in-place slot writes, without iop: what bounds a FileStore's saves.

    python3 bench/python/durable_slots.py FILES THREADS [ROUNDS] [DIR]

Creates FILES files of two 4 KiB slots (written and synced once, not timed), then in each round
every file gets one save the way FileStore makes it: open, read both slots, write one 4 KiB slot
in place, `fdatasync`, close. THREADS threads share the files. Prints saves/s and this process's
CPU time per round. Compare with `durable_rename.py` (a new file, its `fdatasync`, a rename and a
directory `fsync` per save).
DIR defaults to a new directory under /tmp (removed afterwards).

From 32 Python threads these rates are bound by the interpreter's thread switching (2-3x below
the disk's): `bench/c/durable.c` measures the disk itself.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time

SLOT = 4096


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    files, threads = int(sys.argv[1]), int(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    given = sys.argv[4] if len(sys.argv) > 4 else None
    directory = given or tempfile.mkdtemp(prefix="iop-durable-slots-")
    paths = [os.path.join(directory, f"file-{i}") for i in range(files)]
    for path in paths:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"\0" * (2 * SLOT))
        os.fdatasync(fd)
        os.close(fd)
    dir_fd = os.open(directory, os.O_RDONLY)
    os.fsync(dir_fd)
    os.close(dir_fd)
    slot = (b"x" * 900).ljust(SLOT, b"\0")

    def worker(first: int, which: int) -> None:
        for i in range(first, files, threads):
            fd = os.open(paths[i], os.O_RDWR)
            os.pread(fd, 2 * SLOT, 0)
            os.pwrite(fd, slot, which * SLOT)
            os.fdatasync(fd)
            os.close(fd)

    try:
        for round_number in range(rounds):
            started, cpu = time.perf_counter(), os.times()
            pool = [
                threading.Thread(target=worker, args=(t, round_number % 2)) for t in range(threads)
            ]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
            wall = time.perf_counter() - started
            used = os.times()
            print(
                f"round {round_number + 1}: {files} files, {threads} threads: "
                f"{files / wall:,.0f} saves/s, CPU user {used.user - cpu.user:.2f} s, "
                f"system {used.system - cpu.system:.2f} s"
            )
    finally:
        if given is None:
            shutil.rmtree(directory)


if __name__ == "__main__":
    main()
