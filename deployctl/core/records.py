"""A run's journal records and the run itself, as every layer sees them
(the state layer stores them: :mod:`deployctl.state.api`).  See docs/architecture.md."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Record:
    """One durable journal entry.  ``seq`` orders every record of a run."""

    seq: int
    run_id: str
    type: str
    step_id: str | None
    attempt: int
    token: str | None
    at: float  # wall-clock seconds since the epoch
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    project: str
    environment: str
    digest: str
    source: str
    status: str
    created: float
    updated: float
    user: str

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "project": self.project,
            "environment": self.environment,
            "plan_digest": self.digest,
            "source": self.source,
            "status": self.status,
            "created": self.created,
            "updated": self.updated,
            "user": self.user,
        }
