"""Temp files for atomic writes, in as few system calls as the job path can afford.

``tempfile.mkstemp`` draws random names and makes the file 0600 (a ``chmod`` follows), and the
callers made sure the folder exists first (a ``mkdir`` per write): three to five calls before a
byte is written, each a round trip on a slow or shared file system. Here the name is this
process's id and a counter (unique among live writers; a leftover of a dead process with the same
id is skipped), the file is created with the user's mode (0666 less the umask, applied by the
kernel), and the folder is made only when the create says it is missing.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

_COUNTER = itertools.count()  # next() is atomic under the GIL: threads get distinct names
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def create_temp(folder: Path, prefix: str, suffix: str = ".tmp",
                mode: int = 0o666) -> tuple[int, str]:
    """(fd, path) of a new, empty file ``folder/PREFIX<pid>-<n>SUFFIX`` open for writing;
    ``folder`` is created when missing. ``mode`` is masked by the umask, as for any new file."""
    pid = os.getpid()
    made = False
    while True:
        path = os.path.join(folder, f"{prefix}{pid}-{next(_COUNTER)}{suffix}")
        try:
            return os.open(path, _FLAGS, mode), path
        except FileExistsError:
            continue  # left by a dead process that had our id
        except FileNotFoundError:
            if made:
                raise
            os.makedirs(folder, exist_ok=True)
            made = True
