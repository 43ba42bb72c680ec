"""Every case folder compiles to exactly its expected JSON (see tests/golden.py)."""

from __future__ import annotations

import pytest
from golden import CASES, case_names, dump, expected, run_case


def test_there_are_cases_for_every_target_and_kind() -> None:
    names = case_names()
    for prefix in (
        "lambda-",
        "alb-",
        "route53-",
        "cloudfront-",
        "cloudformation-",
        "regions",
        "feature-flags",
        "migration",
        "pipeline",
    ):
        assert any(n.startswith(prefix) for n in names), prefix


@pytest.mark.parametrize("name", case_names())
def test_case_compiles_to_expected(name: str) -> None:
    folder = CASES / name
    got = run_case(folder)
    assert dump(got) == dump(expected(folder)), (
        f"regenerate with: python tests/regen_cases.py ({name})"
    )
