"""A crash matrix's cuts from one run: the run is stopped (SIGSTOP) at each
point instead of killed there, the world and the state are copied while it
is stopped, and it goes on.  Each point's test puts that copy back and runs
only the second apply, where a kill-then-apply test would run the first one
up to the point again: the same cut for about half the cost.

Why the copy is the kill's world: SIGSTOP halts every thread of the process
at once, as SIGKILL does; what the process wrote to its files is in them
either way (a kill loses no page cache); a request it had already sent
is served, and :meth:`MotoServer.quiet` waits until moto is done with it
before copying (a request it had not sent never is, as after a kill).  The
run's own lock row is in the copy with its pid, which has exited by the
time a test restores it, so the second apply takes the lock over from a
dead holder, as after a kill (or from an expired lease, once two minutes
have passed).

Two points often leave the same world: a point right after a read-only
call leaves what the point before it left (the process's memory dies either
way), and so does the first of two records one commit made durable.  The
second apply sees only what the kill left, so from the same world it is the
same run: after :meth:`Cuts.restore`, :meth:`Cuts.apply_again` runs it
once per distinct world (the folder's bytes and moto's state, digested) and
hands each later point of that world the first one's outcome.  In
people-cards' matrix, 94 points leave 62 worlds.

A matrix's points are one xdist group (:func:`grouped`), kept on one
worker (``--dist loadgroup``) with one paused run; :class:`CutRuns` keeps
each worker's runs, and fails if two workers make the same one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from deployctl.testing.cli import run_paused
from deployctl.testing.moto import MotoServer
from deployctl.testing.motostate import Backends, fingerprint, restore, snapshot

T = TypeVar("T")


def grouped(matrix: str, points: Sequence[Any]) -> list[Any]:
    """``points`` as pytest params, all marked ``xdist_group(matrix)``: one
    worker runs the matrix, from one paused run, and its points that leave
    the same world share an apply (:meth:`Cuts.apply_again`).  (Split in
    three groups of consecutive points, the suite took 254 s against 242.)"""
    return [
        pytest.param(
            *(point if isinstance(point, tuple) else (point,)),
            marks=pytest.mark.xdist_group(matrix),
        )
        for point in points
    ]


@dataclass
class Cut:
    """What a kill at ``point`` would have left: a copy of the run's folder
    (``None`` if it did not exist yet) and of moto's state."""

    point: str
    files: Path | None
    world: Backends | None

    def fingerprint(self) -> str | None:
        """A digest of the folder's files (names and bytes) and of moto's
        state: two cuts with one digest left the same world byte for byte.
        None if moto's state cannot be digested."""
        digest = hashlib.sha256()
        if self.files is not None:
            for root, dirs, names in os.walk(self.files):
                dirs.sort()
                for name in sorted(names):
                    path = os.path.join(root, name)
                    data = Path(path).read_bytes()
                    digest.update(os.path.relpath(path, self.files).encode() + b"\0")
                    digest.update(len(data).to_bytes(8, "big") + data)
        if self.world is not None:
            world = fingerprint(self.world)
            if world is None:
                return None
            digest.update(world.encode())
        return digest.hexdigest()


@dataclass
class Cuts:
    """One paused run of ``argv`` and its cuts.  ``folder`` is what the run
    writes locally (its state directory, or the fake world's folder);
    ``server`` the moto server it calls, if any."""

    folder: Path
    keep: Path
    server: MotoServer | None = None
    cuts: dict[str, Cut] = field(default_factory=dict)
    done: subprocess.CompletedProcess[str] | None = None
    # A cut's fingerprint -> what apply_again returned for it.
    _again: dict[str, Any] = field(default_factory=dict)
    # The last copy of moto's state, and the server's request count then.
    _world: tuple[int, Backends] | None = None
    _restored: str | None = None  # the point restore() put back, until applied

    def run(
        self, *argv: str, points: Iterable[str], **options: Any
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` (options as :func:`~deployctl.testing.cli.run_paused`),
        keeping a :class:`Cut` at each of ``points``."""
        self.done = run_paused(*argv, points=list(points), on_pause=self._keep, **options)
        return self.done

    def _keep(self, point: str) -> None:
        files = None
        if self.folder.exists():
            files = self.keep / point.replace(":", "-")
            shutil.copytree(self.folder, files, symlinks=True)
        world = None
        if self.server is not None:
            with self.server.quiet():
                # No request answered since the last cut (two records in a
                # row): moto's state is that cut's, already copied.  (While
                # the run is stopped or going, this process asks moto nothing.)
                served = self.server.served()
                if self._world is not None and self._world[0] == served:
                    world = self._world[1]
                else:
                    world = snapshot()
                    self._world = (served, world)
        self.cuts[point] = Cut(point, files, world)

    def restore(self, point: str) -> Cut:
        """Put the world and the folder back as they were at ``point``."""
        cut = self.cuts.get(point)
        if cut is None:
            raise AssertionError(
                f"the paused run never reached {point} (it stopped at {sorted(self.cuts)}; "
                f"it ended: {self.done and (self.done.returncode, self.done.stderr[-2000:])}): "
                "has the run changed?"
            )
        shutil.rmtree(self.folder, ignore_errors=True)
        if cut.files is not None:
            shutil.copytree(cut.files, self.folder, symlinks=True)
        if cut.world is not None:
            restore(cut.world)
        self._restored = point
        return cut

    def apply_again(self, point: str, again: Callable[[], T]) -> T:
        """``again()`` (the second apply and what the test reads of the world
        it ends in), called once :meth:`restore` has put ``point`` back.  If
        an earlier point of this run left the same world
        (:meth:`Cut.fingerprint`: a read-only call, or two records of one
        commit, fall between them), what ``again()`` returned there: the
        second apply sees only what a kill left, so from the same world it is
        the same run."""
        if self._restored != point:
            raise AssertionError(f"apply_again({point!r}) before restore({point!r})")
        self._restored = None
        key = self.cuts[point].fingerprint()
        if key is not None and key in self._again:
            return self._again[key]  # type: ignore[no-any-return]
        result = again()
        if key is not None:
            self._again[key] = result
        return result


class CutRuns:
    """This process's paused runs, by key (a matrix, and a variant of it):
    made on the first test that needs one.

    ``claims``: a folder every test process of the session shares (xdist's
    workers), where each paused run is claimed by its key.  A group whose
    tests xdist spread over two workers would be run twice, silently
    costing a paused run per worker (as on pytest 9.2, whose node ids drop
    the group: pytest-xdist #1386): that fails the second claim instead."""

    def __init__(self, tmp: Callable[[str], Path], claims: Path | None = None) -> None:
        self._tmp = tmp
        self._claims = claims
        self._runs: dict[Any, Any] = {}

    def get(self, key: Any, make: Callable[[Path], Any]) -> Any:
        """The value ``make(folder)`` returned for ``key``, made once: ``folder``
        is an empty directory of its own."""
        if key not in self._runs:
            self._claim(key)
            self._runs[key] = make(self._tmp("cuts"))
        return self._runs[key]

    def _claim(self, key: Any) -> None:
        if self._claims is None:
            return
        name = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
        try:
            (self._claims / f"cut-run-{name}").open("x").close()
        except FileExistsError:
            raise AssertionError(
                f"the paused run {key!r} was made by another test process too: "
                "xdist did not keep its group on one worker (is --dist loadgroup "
                "in effect, and pytest below 9.2? see pyproject.toml)"
            ) from None
