"""The migration's validate phase: are the v2 cards complete?

A real check queries both schemas; this one compares the row counts a
count job wrote to the JSON file named by PEOPLE_CARDS_COUNTS
({"v1": 1200, "v2": 1200}), so it runs anywhere without a database or a
network.  Without that file there is nothing to compare and it passes.
--strict: every v1 row must be in v2 (otherwise 99% will do).
Exit 0: valid; exit 1: the migration must roll back.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="require every v1 row in v2")
    args = parser.parse_args(argv)
    path = os.environ.get("PEOPLE_CARDS_COUNTS")
    if not path:
        print("validate: PEOPLE_CARDS_COUNTS is not set; no row counts to compare")
        return 0
    with open(path, encoding="utf-8") as fh:
        counts = json.load(fh)
    v1, v2 = int(counts["v1"]), int(counts["v2"])
    wanted = v1 if args.strict else int(v1 * 0.99)
    if v2 < wanted:
        print(f"validate: v2 has {v2} cards, v1 has {v1}: {v1 - v2} missing", file=sys.stderr)
        return 1
    print(f"validate: v2 has {v2} cards for {v1} in v1: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
