"""The files a plan makes deployctl read: regular files of bounded size,
inside the plan's repository.

Plans arrive in pull requests, from forks too, and ``deployctl plan`` runs on
them in CI and posts what it read.  So a plan file, a vars file, a
CloudFormation template or a Lambda zip is read only if it is a regular file
(never a FIFO that blocks forever or ``/dev/zero`` that never ends) and no
larger than its cap, checked before reading; and every path a plan names
resolves, symlinks followed, inside the plan's repository: the git work tree
that holds the plan (found by walking up to a ``.git``, without running git),
or the plan's folder when there is none, or a folder given with
``--allow-path``.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable

from deployctl.diagnostics import Diagnostic
from deployctl.errors import UserError

KIB = 1024
MIB = 1024 * KIB
MAX_PLAN_BYTES = 4 * MIB  # a plan or vars file; a 10,000-step plan is about 0.5 MiB
MAX_TEMPLATE_BYTES = 1 * MIB  # CloudFormation's own limit for a template (from S3)
MAX_ZIP_BYTES = 50 * MIB  # Lambda's limit for a zip uploaded directly
MAX_TASK_DEFINITION_BYTES = 64 * KIB  # ECS's limit for a task definition
MAX_SAVED_PLAN_BYTES = 64 * MIB  # plan --out: the compiled plan of a plan file, as JSON

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _size(n: int) -> str:
    return f"{n / MIB:.1f} MiB" if n >= MIB else f"{n / KIB:.0f} KiB" if n >= KIB else f"{n} bytes"


def problem(mode: int, length: int, cap: int, what: str) -> str | None:
    """Why a file with ``os.stat`` ``mode`` and ``length`` cannot be a ``what``."""
    for test, name in _KINDS:
        if test(mode):
            return f"{name}, not a regular file: a {what} must be a regular file"
    if not stat.S_ISREG(mode):
        return f"not a regular file: a {what} must be a regular file"
    if length > cap:
        return f"{_size(length)}, more than the {_size(cap)} a {what} may have"
    return None


def check(path: str, cap: int, what: str) -> str | None:
    """Why ``path`` (symlinks followed) cannot be read as a ``what``, or None
    if it can or does not exist yet (a zip may be built after ``validate``)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return problem(st.st_mode, st.st_size, cap, what)


def read(path: str, cap: int, what: str) -> bytes:
    """The bytes of ``path``, refused before reading unless it is a regular
    file of at most ``cap`` bytes.  The file is opened without blocking (a FIFO
    with no writer would hang) and checked through the open descriptor, so it
    cannot be swapped between the check and the read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise _refused(path, "no such file") from None
    except OSError as exc:
        raise _refused(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        why = problem(st.st_mode, st.st_size, cap, what)
        if why is not None:
            raise _refused(path, why)
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read(cap + 1)
    finally:
        os.close(fd)
    if len(data) > cap:  # it grew while we read
        raise _refused(path, str(problem(st.st_mode, len(data), cap, what)))
    return data


def _refused(path: str, why: str) -> UserError:
    return UserError([Diagnostic(file=path or "''", message=why)])


def repository_root(plan: str) -> str:
    """The git work tree that holds ``plan`` (the nearest folder above it with
    a ``.git``: a directory, or a file in worktrees and submodules), or the
    plan's own folder when there is none.  Symlinks resolved."""
    folder = os.path.realpath(os.path.dirname(os.path.abspath(plan)))
    probe = folder
    while True:
        if os.path.lexists(os.path.join(probe, ".git")):
            return probe
        parent = os.path.dirname(probe)
        if parent == probe:
            return folder
        probe = parent


def inside(path: str, roots: Iterable[str]) -> bool:
    """True if ``path``, symlinks followed, is one of ``roots`` or under one."""
    real = os.path.realpath(path)
    for root in roots:
        base = os.path.realpath(root)
        if real == base or real.startswith(base.rstrip(os.sep) + os.sep):
            return True
    return False


def replace_atomically(path: str | os.PathLike[str], data: bytes, *, durable: bool = False) -> None:
    """Write ``data`` to ``path`` whole or not at all: into a temporary file
    beside it, then renamed over it, so a reader (or a process killed midway)
    sees the old file or the new one, never half.  ``durable``: fsynced
    before the rename (what a kill leaves, a power cut leaves too).  A failed
    write leaves no temporary file behind."""
    # tempfile imports shutil, which `validate` never needs (tests/test_startup.py)
    import tempfile  # noqa: PLC0415

    folder = os.path.dirname(os.path.abspath(path))
    fd, staging = tempfile.mkstemp(dir=folder, prefix=".staging-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(staging, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(staging)
        raise
