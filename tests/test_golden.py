"""Every case folder compiles to exactly its expected JSON (see
deployctl/testing/golden.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployctl.testing.golden import case_names, dump, expected, run_case

CASES = Path(__file__).parent / "cases"


def test_there_are_cases_for_every_target_and_kind() -> None:
    names = case_names(CASES)
    for prefix in (
        "lambda-",
        "alb-",
        "route53-",
        "cloudfront-",
        "cloudformation-",
        "ecs-",
        "regions",
        "feature-flags",
        "migration",
        "pipeline",
    ):
        assert any(n.startswith(prefix) for n in names), prefix


@pytest.mark.parametrize("name", case_names(CASES))
def test_case_compiles_to_expected(name: str) -> None:
    folder = CASES / name
    got = run_case(folder)
    assert dump(got) == dump(expected(folder)), (
        f"regenerate with: python tests/regen_cases.py ({name})"
    )
