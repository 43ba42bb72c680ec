"""docs/performance.md is shared by every benchmark: each owns one ``## `` section."""

from __future__ import annotations

import os
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
INTRO = "# Performance\n\nMeasured numbers for deployctl's hot paths, one section per component.\n"


def write_section(heading: str, text: str, doc: Path = DOC) -> None:
    """Replace (or append) the section under ``heading``, leaving the others alone.

    Written to a staging file and moved into place, so an interrupted
    benchmark never leaves half a document.
    """
    current = doc.read_text(encoding="utf-8") if doc.exists() else INTRO
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.M | re.S)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text + "\n", current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    doc.parent.mkdir(parents=True, exist_ok=True)
    staging = doc.with_name(f".{doc.name}.{os.getpid()}.tmp")
    staging.write_text(updated.rstrip("\n") + "\n", encoding="utf-8")
    os.replace(staging, doc)
