"""What a feature-flag store implements for ``flag.set`` (actions/flagstore.py):
read a flag, write it (``None`` deletes it), tell whether this step's write
is the latest one and what came before it, and read many flags at once for
the plan diff.  One module per store: ``ssm.py``, ``appconfig.py``."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Protocol

from deployctl.core.params import FlagSetParams
from deployctl.core.ports import Read, ResourceState, StepRequest


class ClientFactory(Protocol):
    def client(self, service: str, region: str | None) -> Any: ...


def canonical(value: Any) -> str:
    """A flag's value as one string: two values are the same flag value when these are equal."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def flag_state(key: str, value: Any) -> ResourceState:
    return ResourceState(key, value, "(absent)" if value is None else canonical(value))


class FlagBackend(ABC):
    """One kind of flag store (``store.kind`` in the step's params).

    Every write carries ``request.token`` in its description, so after a crash
    between the write and the journal's done record :meth:`written_by` can tell
    our write from someone else's and still find the value that came before it.
    """

    def __init__(self, clients: ClientFactory) -> None:
        self.clients = clients

    @abstractmethod
    def read(self, request: StepRequest, p: FlagSetParams) -> Any:
        """The flag's value now; ``None`` when it does not exist."""

    @abstractmethod
    def write(self, request: StepRequest, p: FlagSetParams, value: Any) -> None:
        """Set the flag to ``value``; ``None`` removes it."""

    @abstractmethod
    def written_by(self, request: StepRequest, p: FlagSetParams) -> tuple[bool, Any]:
        """(is the latest write this step's?, the value before that write)."""

    @abstractmethod
    def key(self, region: str | None, p: FlagSetParams) -> str:
        """The flag as a resource of the plan diff."""

    @abstractmethod
    def batch(self, region: str | None, key: str) -> str:
        """Keys with the same batch are read together by :meth:`describe`."""

    @abstractmethod
    def describe(self, reads: Sequence[Read]) -> dict[str, ResourceState]:
        """The flags of one batch, by key."""
