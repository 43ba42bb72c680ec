"""The AWS action tests run on in-process moto (the ``aws``, ``clients`` and
``calls`` fixtures of deployctl.testing.pytest_plugin) and a virtual clock."""

from __future__ import annotations

import time

import pytest


@pytest.fixture(autouse=True)
def _no_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Waits go through the injected clock; a botocore waiter or retry that
    really sleeps would make these tests slow and flaky, so it fails them."""

    real = time.sleep

    def refuse(seconds: float) -> None:
        # subprocess polls a child with sleeps of a few milliseconds: allowed.
        if seconds >= 0.1:
            raise AssertionError(f"a real {seconds} s sleep in an action test: use the clock")
        real(seconds)

    monkeypatch.setattr(time, "sleep", refuse)
