"""``command.run``: argv only, exit codes, timeouts, captured output."""

from __future__ import annotations

import sys
import threading

import pytest

from deployctl.actions.command import register
from deployctl.actions.common import ActionError
from deployctl.core.clock import RealClock
from deployctl.core.ports import Registry
from deployctl.testing.aws import request


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    register(reg)
    return reg


def run(registry: Registry, argv: object, **params: object) -> object:
    # RealClock: the timeout is measured while a real process runs.
    return registry.get("command.run").apply(
        request("command.run", {"argv": argv, "timeout": 30.0, **params}, RealClock())
    )


def test_a_zero_exit_succeeds(registry: Registry) -> None:
    assert run(registry, [sys.executable, "-c", "print('fine')"]) == {"exit_code": 0}


def test_a_non_zero_exit_fails_with_the_output(registry: Registry) -> None:
    code = "import sys; print('half done'); sys.exit(3)"
    with pytest.raises(ActionError, match=r"exited with 3(.|\n)*half done"):
        run(registry, [sys.executable, "-c", code])


def test_long_output_is_truncated_in_the_message(registry: Registry) -> None:
    code = "import sys; print('x' * 100000); sys.exit(1)"
    with pytest.raises(ActionError) as err:
        run(registry, [sys.executable, "-c", code])
    assert len(str(err.value)) < 3000
    assert "characters cut" in str(err.value)


def test_a_shell_string_is_refused(registry: Registry) -> None:
    with pytest.raises(ActionError, match="shell string is refused"):
        run(registry, "echo hi; rm -rf /")


def test_a_missing_program_is_a_clear_error(registry: Registry) -> None:
    with pytest.raises(ActionError, match="cannot run"):
        run(registry, ["/no/such/program"])


def test_the_timeout_kills_the_program(registry: Registry) -> None:
    # A program that would never end by itself.
    code = "import threading; print('started', flush=True); threading.Event().wait()"
    with pytest.raises(ActionError, match=r"timed out after 0.5s(.|\n)*started"):
        run(registry, [sys.executable, "-c", code], timeout=0.5)


def test_an_interrupt_kills_the_program(registry: Registry) -> None:
    code = "import threading; threading.Event().wait()"
    req = request(
        "command.run", {"argv": [sys.executable, "-c", code], "timeout": 60.0}, RealClock()
    )
    threading.Timer(0.2, req.cancel.set).start()
    with pytest.raises(ActionError, match="was interrupted"):
        registry.get("command.run").apply(req)


def test_nothing_to_observe(registry: Registry) -> None:
    assert not registry.get("command.run").observe(request("command.run", {"argv": ["x"]})).applied
