"""``command.run``: a local program as a step (a migration's validate or
backfill script).  Always an argv list, never a shell string, so nothing in
a plan is ever interpreted by a shell.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from typing import Any

from deployctl.actions.common import ActionError, truncate
from deployctl.core.kinds import StepKind
from deployctl.core.params import CommandRunParams
from deployctl.core.ports import Action, Observation, Registry, StepRequest

POLL = 0.25  # seconds between looks at the cancel flag while the program runs


class RunCommand(Action):
    """Run ``argv`` with ``timeout`` in ``cwd``; a non-zero exit, a timeout, or an
    interrupt fails the step with the program's output (head and tail) in the
    message.  A resumed step runs the program again: scripts must be safe to re-run.

    The planner sets ``cwd`` to the plan file's folder (as given on the command
    line), so ``[python, scripts/check.py]`` next to the plan runs wherever
    deployctl was started.  The program inherits deployctl's environment, plus
    ``env`` (a mapping) when the plan gives one.
    """

    def observe(self, request: StepRequest) -> Observation:
        return Observation(applied=False, detail="a program run leaves nothing to observe")

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        kind = request.step.kind
        given = request.params.get("argv")
        if not isinstance(given, list | tuple) or not given:
            raise ActionError(kind, "argv must be a non-empty list (a shell string is refused)")
        p = CommandRunParams.from_params(request.params)
        argv = [str(a) for a in p.argv]
        timeout = float(p.timeout or 3600.0)
        cwd = p.cwd or None
        extra = p.env or {}
        env = {**os.environ, **{str(k): str(v) for k, v in extra.items()}} if extra else None
        try:
            proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                env=env,
            )
        except OSError as exc:
            raise ActionError(kind, f"cannot run {argv[0]!r}: {exc}") from exc
        start = request.clock.now()
        with proc:
            while True:
                # communicate() with a short timeout doubles as the cancel poll.
                try:
                    left = timeout - (request.clock.now() - start)
                    out, _ = proc.communicate(timeout=max(0.01, min(POLL, left)))
                    break
                except subprocess.TimeoutExpired:
                    why = (
                        "was interrupted"
                        if request.cancel.is_set()
                        else f"timed out after {timeout:g}s"
                        if request.clock.now() - start >= timeout
                        else None
                    )
                    if why:
                        proc.kill()
                        out, _ = proc.communicate()
                        text = truncate(request.redact(out.decode("utf-8", "replace")))
                        raise ActionError(kind, f"{argv[0]} {why}; output:\n{text}") from None
        text = request.redact(out.decode("utf-8", "replace"))
        if proc.returncode != 0:
            raise ActionError(
                kind, f"{' '.join(argv)} exited with {proc.returncode}; output:\n{truncate(text)}"
            )
        return {"exit_code": 0}


def register(registry: Registry, clients: object = None) -> None:
    """``clients`` is unused (no AWS here); accepted so every module registers alike."""
    registry.register(StepKind.COMMAND_RUN, RunCommand())
