"""Small state builders the translators share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def which_states(items_path: str, state_path: str, found: Mapping[str, str]) -> dict[str, Any]:
    """A ``Map`` state over the list at ``items_path`` that reads each item's
    state (``state_path``, from the item) and answers, for each ``found``
    key, whether that state value is among them (``{key: bool}``).

    A Map, because moto 5.2.5 fails a ``[*]`` path that matches nothing (an
    empty list) and gives a ``[*]`` path that ends in one string as that
    string, not a one-element list, as AWS does.  The caller adds
    ``ResultPath`` and ``Next``."""
    return {
        "Type": "Map",
        "ItemsPath": items_path,
        "ItemSelector": {"s.$": f"$$.Map.Item.Value.{state_path}"},
        "ItemProcessor": {
            "StartAt": "state",
            "States": {"state": {"Type": "Pass", "OutputPath": "$.s", "End": True}},
        },
        "ResultSelector": {
            f"{key}.$": f"States.ArrayContains($, '{value}')" for key, value in found.items()
        },
    }


def to_rollback(error: str, cause: str) -> dict[str, Any]:
    """A ``Pass`` state that records why the run failed (``$.error``: the
    ``Error`` and ``Cause`` a failed execution reports) and goes to the
    machine's ``Rollback``."""
    return {
        "Type": "Pass",
        "Result": {"Error": error, "Cause": cause},
        "ResultPath": "$.error",
        "Next": "Rollback",
    }
