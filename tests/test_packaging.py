"""The wheel carries the schema, so `deployctl schema` works when installed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_the_schema_and_the_console_script(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("deployctl-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("deployctl/schemas/deployctl-v1.schema.json")
        entry_points = next(n for n in archive.namelist() if n.endswith("entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    assert shipped == (ROOT / "schemas" / "deployctl-v1.schema.json").read_bytes()
    assert "deployctl = deployctl.cli:main" in scripts


def test_wheel_is_typed_and_licensed(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("deployctl-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "deployctl/py.typed" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert "Requires-Dist: rich" in metadata
    assert "Provides-Extra: report" in metadata and "Provides-Extra: completion" in metadata


def test_the_action_is_composite_and_its_scripts_parse(tmp_path: Path) -> None:
    import re

    import yaml

    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert action["inputs"]["plan"]["required"] is True
    steps = action["runs"]["steps"]
    uses = [s["uses"] for s in steps if "uses" in s]
    assert all(re.fullmatch(r"actions/[a-z-]+@v\d+", u) for u in uses), uses
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["name"] == "${{ steps.mode.outputs.artifact }}"
    decide = next(s for s in steps if s.get("id") == "mode")
    assert "deployctl-plan-$slug-$HEAD_SHA" in decide["run"]  # the plan of this commit only
    for step in steps:
        if "run" not in step:
            continue
        script = re.sub(r"\$\{\{[^}]*\}\}", "x", step["run"])
        path = tmp_path / "step.sh"
        path.write_text(script)
        got = subprocess.run(["bash", "-n", str(path)], check=False, capture_output=True, text=True)
        assert got.returncode == 0, (step.get("name"), got.stderr)
