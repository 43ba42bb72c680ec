"""What each example plan needs in AWS, built with boto3 (in-process moto or
the moto server), how to run it, and how to read its result back.

One module per example: :mod:`.fraud` (plans/fraud-or-not.yaml, a Lambda
alias), :mod:`.media` (plans/media-register.yaml, an ALB listener),
:mod:`.people` (plans/people-cards.yaml, three regions, a migration, flags)
and :mod:`.rds` (the database people-cards snapshots).
"""

from __future__ import annotations

from pathlib import Path

# The repository checkout the example plans are read from.
ROOT = Path(__file__).resolve().parents[3]
