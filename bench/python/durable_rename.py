"""The disk's rate of durable replaces, without iop: what bounds a FileStore's saves.

    python3 bench/python/durable_rename.py SAVES_PER_THREAD THREADS [DIR]

Each save: create a new file, write 700 bytes, fdatasync, close, rename it over the thread's
file, fsync the directory (the pattern FileStore used before its two slots). Prints saves/s and
the median time of the two syncs. DIR defaults to a new directory under /tmp (removed
afterwards).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from typing import List, Tuple


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    per_thread, threads = int(sys.argv[1]), int(sys.argv[2])
    given = sys.argv[3] if len(sys.argv) > 3 else None
    directory = given or tempfile.mkdtemp(prefix="iop-durable-rename-")
    dir_fd = os.open(directory, os.O_RDONLY)
    times: List[Tuple[float, float]] = []

    def worker(t: int) -> None:
        for i in range(per_thread):
            start = time.perf_counter()
            name = os.path.join(directory, f"tmp-{t}-{i}")
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, b"x" * 700)
            os.fdatasync(fd)
            os.close(fd)
            synced = time.perf_counter()
            os.rename(name, os.path.join(directory, f"file-{t}"))
            os.fsync(dir_fd)
            times.append((synced - start, time.perf_counter() - synced))

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    wall = time.perf_counter() - started
    os.close(dir_fd)
    if given is None:
        shutil.rmtree(directory)
    data = statistics.median(a for a, _ in times) * 1e3
    rename = statistics.median(b for _, b in times) * 1e3
    print(
        f"threads {threads}: {per_thread * threads / wall:.0f} saves/s; median data sync "
        f"{data:.2f} ms, median rename + directory sync {rename:.2f} ms"
    )


if __name__ == "__main__":
    main()
