"""The migration's cleanup phase: drop the v1 cards schema (a one-way door).

This stand-in changes no database: it says what it drops and, when
PEOPLE_CARDS_CLEANUP_LOG names a file, appends one line there, so a test can
see that the door was passed, and only once.  Safe to re-run.
"""

from __future__ import annotations

import os
import sys

STATEMENTS = ("DROP VIEW IF EXISTS cards_v1_compat", "DROP TABLE IF EXISTS cards_v1")


def main() -> int:
    for statement in STATEMENTS:
        print(f"cleanup: {statement}")
    log = os.environ.get("PEOPLE_CARDS_CLEANUP_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write("dropped cards_v1\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
