"""Pieces the built-in actions share: their error type and the shapes of the
read-only and check-only actions (neither has an effect to observe)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deployctl.core.ports import Action, Observation, StepRequest
from deployctl.errors import DeployctlError

COLORS = ("blue", "green")


class ActionError(DeployctlError):
    """A built-in action could not do its job; the message says what and why."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(f"{kind}: {message}")


class ReadAction(Action):
    """A discovery step: ``apply`` only reads, so there is never an effect to find."""

    def observe(self, request: StepRequest) -> Observation:
        return Observation(applied=False, detail="read-only step")


class CheckAction(Action):
    """A smoke test: the executor calls ``check``; ``apply`` has nothing to do."""

    gate = True

    def observe(self, request: StepRequest) -> Observation:
        return Observation(applied=False, detail="check step")

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        return {}


HEALTH_TIMEOUT = 300.0  # seconds a receiving side may take to become healthy


def health_timeout(params: Mapping[str, Any]) -> float:
    """The step's ``health_timeout`` (0 is a real value: look once, do not wait)."""
    value = params.get("health_timeout")
    return HEALTH_TIMEOUT if value is None else float(value)


def other(color: str) -> str:
    """The opposite side of a blue/green pair."""
    if color not in COLORS:
        raise ValueError(f"colour must be blue or green, not {color!r}")
    return "green" if color == "blue" else "blue"


def truncate(text: str, limit: int = 2000) -> str:
    """Keep error messages readable: the head and the tail of long output."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n... ({len(text) - limit} characters cut) ...\n{text[-half:]}"
