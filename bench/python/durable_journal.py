"""The disk's rate of durable journal appends with group commit, without iop: what a FileStore
that wrote a journal instead of one durable file replace per save could reach.

    python3 bench/python/durable_journal.py APPENDS_PER_THREAD THREADS [DIR]

Each append writes a 900-byte record to one journal file (O_APPEND) and returns once an
`fdatasync` that started after the write has finished; one thread syncs for every append made
before its sync began (group commit). Compare with `durable_rename.py` (a file replace with its
own `fdatasync` and a directory `fsync` per save). DIR defaults to a new directory under /tmp
(removed afterwards).

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


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    per_thread, threads = int(sys.argv[1]), int(sys.argv[2])
    given = sys.argv[3] if len(sys.argv) > 3 else None
    directory = given or tempfile.mkdtemp(prefix="iop-durable-journal-")
    fd = os.open(os.path.join(directory, "journal"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    record = b"x" * 899 + b"\n"
    cond = threading.Condition()
    written = synced = syncs = 0
    syncing = False

    def append() -> None:
        nonlocal written, synced, syncs, syncing
        with cond:
            os.write(fd, record)
            written += 1
            ticket = written
            while synced < ticket:
                if syncing:
                    cond.wait()
                    continue
                syncing = True
                upto = written
                cond.release()
                try:
                    os.fdatasync(fd)
                finally:
                    cond.acquire()
                syncing = False
                synced = max(synced, upto)
                syncs += 1
                cond.notify_all()

    def worker() -> None:
        for _ in range(per_thread):
            append()

    started, cpu = time.perf_counter(), os.times()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    used = os.times()
    os.close(fd)
    if not given:
        shutil.rmtree(directory)
    total = per_thread * threads
    print(
        f"{threads} threads: {total / elapsed:,.0f} durable appends/s "
        f"({syncs} fdatasyncs, {total / max(syncs, 1):.1f} appends per sync), CPU user "
        f"{used.user - cpu.user:.2f} s, system {used.system - cpu.system:.2f} s"
    )


if __name__ == "__main__":
    main()
