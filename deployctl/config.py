"""Option defaults from the environment and a config file.

Precedence, highest first: the command line, ``DEPLOYCTL_*`` environment
variables, the config file, deployctl's built-in defaults.  The config file
is ``deployctl.toml`` in the current directory (top-level keys) or, if there
is none, the ``[tool.deployctl]`` table of ``pyproject.toml`` there:

    [tool.deployctl]
    state-dir = "dynamodb://deployctl-state"
    region = "us-east-1"

so ``status``, ``approve`` and ``resume`` stop repeating ``--state-dir``.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from typing import Any

from deployctl.core.frozen import Frozen, frozen
from deployctl.diagnostics import Diagnostic
from deployctl.errors import UserError

CONFIG_FILE = "deployctl.toml"
PYPROJECT = "pyproject.toml"


@frozen
class Setting(Frozen):
    """One option that the environment or the config file may default."""

    dest: str  # the argparse destination it defaults
    key: str  # in the config file (the option's name without dashes)
    env: str
    kind: type = str
    choices: tuple[str, ...] = ()


SETTINGS = (
    Setting("state_dir", "state-dir", "DEPLOYCTL_STATE_DIR"),
    Setting("region", "region", "DEPLOYCTL_REGION"),
    Setting("profile", "profile", "DEPLOYCTL_PROFILE"),
    Setting("endpoint_url", "endpoint-url", "DEPLOYCTL_ENDPOINT_URL"),
    Setting(
        "log_format",
        "log-format",
        "DEPLOYCTL_LOG_FORMAT",
        choices=("auto", "live", "plain", "github"),
    ),
    Setting("heartbeat", "heartbeat", "DEPLOYCTL_HEARTBEAT"),
    Setting("parallelism", "parallelism", "DEPLOYCTL_PARALLELISM", int),
)
_BY_KEY = {s.key: s for s in SETTINGS}
_KINDS = {str: "a string", int: "a whole number"}


def _read(directory: str) -> tuple[str | None, Mapping[str, Any]]:
    """The config file found in ``directory`` and its deployctl table."""
    own = os.path.join(directory, CONFIG_FILE)
    pyproject = os.path.join(directory, PYPROJECT)
    for path, table in ((own, None), (pyproject, ("tool", "deployctl"))):
        if not os.path.isfile(path):
            continue
        import tomllib  # noqa: PLC0415 - most directories hold no config file

        try:
            with open(path, "rb") as fh:
                data: Any = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise UserError([Diagnostic(file=path, message=f"not valid TOML: {exc}")]) from None
        except OSError as exc:
            raise UserError([Diagnostic(file=path, message=str(exc.strerror))]) from None
        for key in table or ():
            data = data.get(key) if isinstance(data, dict) else None
        if table is not None and data is None:
            continue  # a pyproject.toml without [tool.deployctl]
        if not isinstance(data, dict):
            raise UserError([Diagnostic(file=path, message="[tool.deployctl] must be a table")])
        return path, data
    return None, {}


def from_file(directory: str = ".") -> dict[str, Any]:
    """Defaults from the config file in ``directory``, by argparse destination."""
    path, table = _read(directory)
    out: dict[str, Any] = {}
    where = "[tool.deployctl] " if path and path.endswith(PYPROJECT) else ""
    for key, value in table.items():
        setting = _BY_KEY.get(key)
        if setting is None:
            near = difflib.get_close_matches(key, list(_BY_KEY), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            known = ", ".join(sorted(_BY_KEY))
            raise UserError(
                [Diagnostic(file=path, message=f"{where}unknown key {key!r}{hint}; known: {known}")]
            )
        if not isinstance(value, setting.kind) or isinstance(value, bool):
            raise UserError(
                [
                    Diagnostic(
                        file=path,
                        message=f"{where}{key} must be {_KINDS[setting.kind]}, not {value!r}",
                    )
                ]
            )
        if setting.choices and value not in setting.choices:
            raise UserError(
                [Diagnostic(file=path, message=f"{where}{key}: {_not_one_of(setting, value)}")]
            )
        out[setting.dest] = value
    return out


def _not_one_of(setting: Setting, value: object) -> str:
    return f"{value!r} is not one of {', '.join(setting.choices)}"


def from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """Defaults from ``DEPLOYCTL_*`` variables (empty ones are ignored)."""
    out: dict[str, Any] = {}
    for setting in SETTINGS:
        value = environ.get(setting.env)
        if not value:
            continue
        if setting.kind is int:
            try:
                out[setting.dest] = int(value)
            except ValueError:
                raise UserError(f"{setting.env}={value!r}: expected a whole number") from None
        else:
            if setting.choices and value not in setting.choices:
                raise UserError(f"{setting.env}: {_not_one_of(setting, value)}")
            out[setting.dest] = value
    return out


def defaults(directory: str = ".", environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Environment over config file: what the command line starts from."""
    return {**from_file(directory), **from_env(os.environ if environ is None else environ)}
