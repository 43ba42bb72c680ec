"""Files deployctl creates: 0600, in directories it creates 0700.

Journals and crash logs name private resources (and a crash log may hold
what an error message said), so nothing deployctl writes is readable by
other users, whatever the umask.
"""

from __future__ import annotations

import errno
import os

from deployctl.errors import StateUnavailable


def private_dir(path: str) -> str:
    """Create ``path`` and every missing parent 0700; return it.

    A file where the directory should be, or a parent that cannot be
    written, is one clear :class:`StateUnavailable` line.
    """
    missing = []
    head = os.path.abspath(path)
    while not os.path.isdir(head):
        # Asked again: another process (or thread) may have made it since.
        if os.path.lexists(head) and not os.path.isdir(head):
            raise not_a_directory(path, head)
        missing.append(head)
        parent = os.path.dirname(head)
        if parent == head:
            break
        head = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            if not os.path.isdir(folder):
                raise not_a_directory(path, folder) from None
            continue  # another process made it meanwhile
        except OSError as exc:
            raise unwritable(path, exc) from None
    return path


def not_a_directory(path: str, head: str) -> StateUnavailable:
    return StateUnavailable(
        f"state dir {path}: {head} is a file, not a directory; point --state-dir "
        "at a directory (it is created if missing)"
    )


def private_file(path: str) -> int:
    """Open ``path`` for appending, created 0600 (an older, wider file is
    narrowed to 0600); the caller owns the descriptor."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError as exc:
        raise unwritable(os.path.dirname(path) or ".", exc) from None
    if os.fstat(fd).st_mode & 0o077:
        os.fchmod(fd, 0o600)
    return fd


def unwritable(path: str, exc: OSError) -> StateUnavailable:
    """The one line for a directory deployctl cannot write in."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StateUnavailable(
            f"state dir {path} is read-only ({reason}); deployctl keeps its journal there: "
            "make it writable or pick another --state-dir"
        )
    if exc.errno == errno.ENOSPC:
        return StateUnavailable(
            f"state dir {path}: the disk is full ({reason}); free space on that disk"
        )
    if exc.errno == errno.ENOTDIR:
        return StateUnavailable(
            f"state dir {path}: part of the path is a file, not a directory; "
            "point --state-dir at a directory"
        )
    return StateUnavailable(f"state dir {path} cannot be used ({reason})")
