"""Opening a data file that may not be a file: a FIFO, a device or a socket named ``x.npy``.

:func:`open_regular` opens without blocking and checks the open descriptor, so a FIFO that
nobody writes never hangs a reader, and nothing can swap the file between check and read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO

from vaekit.errors import DataError, DataNotFoundError

_SPECIAL = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def open_regular(path: str | os.PathLike[str]) -> IO[bytes]:
    """``path`` opened for binary reading, or a :class:`DataError` unless it is a regular file.

    A missing file (or a broken symbolic link) is a :class:`DataNotFoundError`.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        why = "a broken symbolic link" if path.is_symlink() else "no such file"
        raise DataNotFoundError(f"{path}: {why}") from None
    except OSError as err:
        raise DataError(f"{path}: cannot be opened ({err.strerror or err})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = next((name for test, name in _SPECIAL if test(mode)), "not a file")
        raise DataError(f"{path}: not a regular file ({kind}); only files are read")
    return os.fdopen(fd, "rb")
