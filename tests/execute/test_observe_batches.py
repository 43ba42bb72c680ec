"""observe's reader: keys an action batches (``Action.batch``) are read by one
``describe_many`` call each; the others one ``describe`` each.  A fake action
implementing the real interface records what it was asked."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from deployctl.core.plan import Step
from deployctl.core.ports import Action, Observation, Read, ResourceState, StepRequest
from deployctl.execute.observe import ObserveError, read_all


class Table(Action):
    """Resources ``table REGION NAME``; a region's tables are read in one batch
    when ``batched``.  ``broken`` regions fail their reads."""

    def __init__(self, *, batched: bool, broken: tuple[str, ...] = ()) -> None:
        self.batched = batched
        self.broken = broken
        self.asked: list[tuple[str, ...]] = []
        self._lock = threading.Lock()

    def observe(self, request: StepRequest) -> Observation:
        return Observation(applied=False)

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        return {}

    def batch(self, step: Step, params: Mapping[str, Any], key: str) -> str | None:
        return f"tables {step.region}" if self.batched else None

    def _read(self, keys: tuple[str, ...]) -> dict[str, ResourceState]:
        with self._lock:
            self.asked.append(keys)
        if any(key.split()[1] in self.broken for key in keys):
            raise RuntimeError("AccessDenied")
        return {key: ResourceState(key, {"rows": 1}, "1 row") for key in keys}

    def describe(self, step: Step, params: Mapping[str, Any], key: str) -> ResourceState:
        return self._read((key,))[key]

    def describe_many(self, reads: Sequence[Read]) -> Mapping[str, ResourceState]:
        return self._read(tuple(r.key for r in reads))


def jobs(action: Action, *keys: str) -> dict[str, tuple[Action, Step, Mapping[str, Any]]]:
    out: dict[str, tuple[Action, Step, Mapping[str, Any]]] = {}
    for key in keys:
        region = key.split()[1]
        out[key] = (action, Step(f"{region}/{key}", "table.set", "", {}, region=region), {})
    return out


KEYS = ("table us-east-1 a", "table us-east-1 b", "table eu-west-1 c")


def test_batched_keys_are_read_once_per_batch() -> None:
    action = Table(batched=True)
    found = read_all(jobs(action, *KEYS))
    assert sorted(found) == sorted(KEYS)
    assert sorted(action.asked) == [
        ("table eu-west-1 c",),
        ("table us-east-1 a", "table us-east-1 b"),
    ]


def test_other_keys_are_read_one_by_one() -> None:
    action = Table(batched=False)
    read_all(jobs(action, *KEYS))
    assert sorted(action.asked) == sorted((key,) for key in KEYS)


def test_a_failed_batch_names_each_of_its_resources_and_the_rest_are_still_read() -> None:
    action = Table(batched=True, broken=("us-east-1",))
    with pytest.raises(ObserveError) as failed:
        read_all(jobs(action, *KEYS))
    assert failed.value.failures == {
        "table us-east-1 a": "RuntimeError: AccessDenied",
        "table us-east-1 b": "RuntimeError: AccessDenied",
    }
    assert ("table eu-west-1 c",) in action.asked


def test_a_batch_that_leaves_out_a_key_is_a_failure_for_that_key() -> None:
    class Forgetful(Table):
        def describe_many(self, reads: Sequence[Read]) -> Mapping[str, ResourceState]:
            return dict(list(super().describe_many(reads).items())[:1])

    with pytest.raises(ObserveError) as failed:
        read_all(jobs(Forgetful(batched=True), "table us-east-1 a", "table us-east-1 b"))
    assert failed.value.failures == {
        "table us-east-1 b": "the batched read returned no state for it"
    }
