"""The wheel carries the schema, so `deployctl schema` works when installed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_the_schema_and_the_console_script(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
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
