"""CodeDeploy-style strategy shorthands, parsed rather than tabled.

``Canary10Percent5Minutes``, ``Linear10PercentEvery1Minute``, ``AllAtOnce``,
optionally prefixed like CodeDeploy's own names (``LambdaCanary10Percent5Minutes``,
``CodeDeployDefault.ECSLinear10PercentEvery3Minutes``).
"""

from __future__ import annotations

import re

from deployctl.core.frozen import Frozen, frozen
from deployctl.manifest.durations import MAX_SECONDS

_PREFIX = r"(?:CodeDeployDefault\.)?(?:Lambda|ECS)?"
_CANARY = re.compile(_PREFIX + r"Canary(\d+)Percent(\d+)Minutes?$")
_LINEAR = re.compile(_PREFIX + r"Linear(\d+)PercentEvery(\d+)Minutes?$")
_ALL = re.compile(_PREFIX + r"AllAtOnce$")


@frozen
class Preset(Frozen):
    """A parsed strategy shorthand: its type, and the percent and minutes it names."""

    type: str  # canary | linear | all-at-once
    percent: int = 100
    minutes: int = 0

    def problem(self, name: str) -> str | None:
        """Why the preset called ``name`` cannot be run, or None."""
        if self.type == "all-at-once":
            return None
        if not 0 < self.percent < 100:
            return f"preset {name!r}: the percentage must be between 1 and 99, not {self.percent}"
        if self.minutes * 60 > MAX_SECONDS:
            return f"preset {name!r}: {self.minutes} minutes is longer than a year"
        return None


def parse_preset(name: str) -> Preset | None:
    if match := _CANARY.match(name):
        return Preset("canary", int(match.group(1)), int(match.group(2)))
    if match := _LINEAR.match(name):
        return Preset("linear", int(match.group(1)), int(match.group(2)))
    if _ALL.match(name):
        return Preset("all-at-once")
    return None
