"""Rewrite every tests/cases/*/expected.json from the current compiler.

Run it after an intended change to the planner, then read the diff: it is
the review of what the change does to real plans.
"""

from __future__ import annotations

from pathlib import Path

from deployctl.testing.golden import case_names, dump, run_case

CASES = Path(__file__).parent / "cases"


def main() -> int:
    for name in case_names(CASES):
        folder = CASES / name
        (folder / "expected.json").write_text(dump(run_case(folder)), encoding="utf-8")
        print(f"wrote {folder / 'expected.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
