"""Reading small trusted-format files (keys, licence tokens) without trusting the path.

Why: ``Path.read_bytes`` on ``/dev/zero`` grows until the kernel kills the process, and on a
FIFO it blocks until a writer comes. Keys and tokens are a few KB, so a reader opens without
blocking, refuses anything but a regular file, and reads at most ``limit`` bytes.
"""

from __future__ import annotations

import os
import stat

__all__ = ["MAX_SMALL_FILE_BYTES", "read_small_file"]

#: The most a key or licence file may hold (the largest real one is a few KB).
MAX_SMALL_FILE_BYTES = 1 << 20

_OPEN = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def read_small_file(path: str | os.PathLike[str], *, limit: int = MAX_SMALL_FILE_BYTES) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Raises
    ------
    OSError
        It cannot be opened, is not a regular file (a FIFO, a device, a directory), or holds
        more than ``limit`` bytes (``strerror`` says which).
    """
    fd = os.open(path, _OPEN)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file", os.fspath(path))
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, min(1 << 16, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise OSError(0, f"larger than {limit:,} bytes", os.fspath(path))
        return b"".join(chunks)
    finally:
        os.close(fd)
