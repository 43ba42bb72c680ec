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

A matrix splits its points into a few groups (:func:`grouped`), one paused
run each, and xdist keeps each group's tests on one worker
(``--dist loadgroup``); :class:`CutRuns` keeps each worker's runs.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from deployctl.testing.cli import run_paused
from deployctl.testing.moto import MotoServer
from deployctl.testing.motostate import Backends, restore, snapshot

GROUPS = 3


def grouped(matrix: str, points: Sequence[Any], groups: int = GROUPS) -> list[Any]:
    """``points`` as pytest params, each marked with its group's
    ``xdist_group`` (``matrix-0``, ``matrix-1``...), round robin, so each
    group's paused run stops along the whole run."""
    return [
        pytest.param(
            *(point if isinstance(point, tuple) else (point,)),
            marks=pytest.mark.xdist_group(f"{matrix}-{n % groups}"),
        )
        for n, point in enumerate(points)
    ]


def group_of(points: Sequence[Any], point: Any, groups: int = GROUPS) -> list[Any]:
    """The points in ``point``'s group (as :func:`grouped` made them)."""
    n = points.index(point)
    return [p for k, p in enumerate(points) if k % groups == n % groups]


@dataclass
class Cut:
    """What a kill at ``point`` would have left: a copy of the run's folder
    (``None`` if it did not exist yet) and of moto's state."""

    point: str
    files: Path | None
    world: Backends | None


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
                world = snapshot()
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
        return cut


class CutRuns:
    """This process's paused runs, by key (a matrix and a group): made on
    the first test that needs one."""

    def __init__(self, tmp: Callable[[str], Path]) -> None:
        self._tmp = tmp
        self._runs: dict[Any, Any] = {}

    def get(self, key: Any, make: Callable[[Path], Any]) -> Any:
        """The value ``make(folder)`` returned for ``key``, made once: ``folder``
        is an empty directory of its own."""
        if key not in self._runs:
            self._runs[key] = make(self._tmp("cuts"))
        return self._runs[key]
