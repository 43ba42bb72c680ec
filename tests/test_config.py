"""Option defaults: the command line over DEPLOYCTL_* over the config file over built-ins."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployctl import config
from deployctl.cli import build_parser, main
from deployctl.errors import UserError


def parse(tmp_path: Path, env: dict[str, str], *argv: str):  # type: ignore[no-untyped-def]
    return build_parser(defaults=config.defaults(str(tmp_path), env)).parse_args(list(argv))


def test_built_in_defaults_without_a_file_or_environment(tmp_path: Path) -> None:
    args = parse(tmp_path, {}, "status")
    assert (args.state_dir, args.region, args.profile) == (".deployctl", None, None)


def test_pyproject_table_then_environment_then_command_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.deployctl]\nstate-dir = "dynamodb://from-file"\n'
        'region = "eu-west-1"\nparallelism = 4\nlog-format = "plain"\n'
    )
    args = parse(tmp_path, {}, "apply", "p.yaml")
    assert args.state_dir == "dynamodb://from-file" and args.region == "eu-west-1"
    assert args.parallelism == 4 and args.log_format == "plain"
    env = {"DEPLOYCTL_REGION": "ap-southeast-1", "DEPLOYCTL_PARALLELISM": "7"}
    args = parse(tmp_path, env, "apply", "p.yaml")
    assert args.state_dir == "dynamodb://from-file"  # the file still fills what env leaves
    assert args.region == "ap-southeast-1" and args.parallelism == 7
    args = parse(tmp_path, env, "apply", "p.yaml", "--region", "us-west-2", "--parallelism", "2")
    assert args.region == "us-west-2" and args.parallelism == 2
    # a command without the option is untouched by it
    assert not hasattr(parse(tmp_path, env, "status"), "parallelism")


def test_deployctl_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.deployctl]\nregion = "eu-west-1"\n')
    (tmp_path / "deployctl.toml").write_text('region = "us-east-2"\n')
    assert parse(tmp_path, {}, "status").region == "us-east-2"


def test_a_pyproject_without_the_table_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert parse(tmp_path, {}, "status").state_dir == ".deployctl"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[tool.deployctl]\nstate_dir = "x"\n',
            "unknown key 'state_dir' (did you mean 'state-dir'?)",
        ),
        ('[tool.deployctl]\nparallelism = "4"\n', "parallelism must be a whole number, not '4'"),
        ("[tool.deployctl\n", "not valid TOML"),
        (
            '[tool.deployctl]\nlog-format = "fancy"\n',
            "log-format: 'fancy' is not one of auto, live",
        ),
    ],
)
def test_config_mistakes_are_one_line_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(UserError) as raised:
        config.defaults(str(tmp_path), {})
    assert message in str(raised.value) and str(raised.value).startswith(
        str(tmp_path / "pyproject.toml")
    )


def test_the_environment_reaches_a_real_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEPLOYCTL_STATE_DIR", str(tmp_path / "elsewhere"))
    assert main(["runs"]) == 0
    assert f"no runs in {tmp_path / 'elsewhere'}" in capsys.readouterr().out


def test_a_bad_log_format_in_the_environment_is_one_line() -> None:
    with pytest.raises(UserError, match="DEPLOYCTL_LOG_FORMAT: 'fancy' is not one of"):
        config.defaults(".", {"DEPLOYCTL_LOG_FORMAT": "fancy"})
