"""Peak memory of ``deployctl validate`` on hostile plans.

Each memory bomb of ``tests/hostile/`` (a case whose ``expected.json`` says
``"bomb": true``) is validated in a child process of its own, as is one
ordinary plan for comparison; the child reports its peak RSS
(``VmHWM`` in ``/proc/self/status``) and the wall time (printed only: a loaded machine makes it noise).  The contract is that every bomb is
refused with one located error and no bomb costs more than 200 MB.

The table is printed and written to the "## Hostile input: memory" section
of ``docs/performance.md``; other sections of that file are left as they are.

    python bench/hostile_memory.py
    python bench/hostile_memory.py --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perfdoc import write_section  # noqa: E402

CASES = ROOT / "tests" / "hostile"
SECTION = "## Hostile input: memory"
LIMIT_MB = 200
# VmHWM: the child's own peak RSS (ru_maxrss would count the parent it was forked from).
CHILD = """\
import sys
from deployctl.cli import main
code = main(sys.argv[1:])
with open("/proc/self/status") as fh:
    peak = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
print(f"maxrss-kb {peak}", file=sys.stderr)
sys.exit(code)
"""
Row = tuple[str, str, int, float, float, str]  # case, expression, exit, MB, seconds, error


def bombs() -> list[str]:
    return sorted(
        p.name
        for p in CASES.iterdir()
        if (p / "expected.json").is_file()
        and json.loads((p / "expected.json").read_text("utf-8")).get("bomb")
    )


def measure(name: str, plan: Path, work: Path) -> Row:
    folder = work / name
    shutil.copytree(plan.parent, folder)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, "validate", "plan.yaml"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    seconds = time.perf_counter() - started
    lines = done.stderr.splitlines()
    match = re.fullmatch(r"maxrss-kb (\d+)", lines[-1]) if lines else None
    if match is None:
        raise SystemExit(f"{name}: the child did not finish: {done.stderr[-2000:]}")
    error = lines[0].split("template error: ", 1)[-1] if len(lines) > 1 else "(accepted)"
    text = plan.read_text("utf-8")
    expression = re.search(r'function: "(.*?)", alias', text)
    shown = json.loads(f'"{expression.group(1)}"') if expression else "(an ordinary plan)"
    return name, shown, done.returncode, int(match[1]) / 1024, seconds, error


def section(rows: list[Row]) -> str:
    worst = max(rows, key=lambda r: r[3])
    lines = [
        SECTION,
        "",
        "`python bench/hostile_memory.py` validates each memory bomb of `tests/hostile/`",
        "(a template built to exhaust memory) in a child process of its own and reads",
        "the child's peak RSS (`VmHWM`: the whole process, Python and every import",
        "included). The contract: every bomb refused with one located error, each under",
        f"{LIMIT_MB} MB; `tests/test_hostile.py` checks the same, all bombs in one process.",
        "",
        f"Machine: {os.cpu_count()} CPU(s), Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}.",
        "",
        "| case | template | exit | peak RSS | refused with |",
        "|---|---|---:|---:|---|",
    ]
    for name, shown, code, mb, _, error in rows:
        short = shown if len(shown) <= 70 else shown[:67] + "..."
        lines.append(
            f"| {name} | `{short.replace('|', '&#124;')}` | {code} | {mb:.0f} MB "
            f"| {error.replace('|', '&#124;')} |"
        )
    lines += [
        "",
        f"Largest: {worst[0]}, {worst[3]:.0f} MB; an ordinary plan costs about the same,",
        "so a bomb costs no more than the interpreter and deployctl's imports.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = [
            measure(
                "(baseline)", ROOT / "tests" / "hostile" / "zip-file-inside" / "plan.yaml", work
            )
        ]
        rows += [measure(name, CASES / name / "plan.yaml", work) for name in bombs()]
    text = section(rows)
    print(text)
    for name, _, _, _, seconds, _ in rows:
        print(f"{name}: {seconds:.2f} s wall")
    if not args.no_write:
        write_section(SECTION, text)
    over = [r for r in rows if r[3] >= LIMIT_MB or (r[0] != "(baseline)" and r[2] != 1)]
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
