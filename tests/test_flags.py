"""Flag evaluation: allowlist, then enabled, then a sticky bucket."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deployctl.cli import main
from deployctl.flags import bucket, explain, is_enabled
from deployctl.manifest.model import Flag

FLAGS_FILE = str(Path(__file__).resolve().parents[1] / "plans" / "fraud-or-not-flags.yaml")
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=30)


@settings(max_examples=300, deadline=None)
@given(flag=names, user=names, low=st.integers(0, 100), high=st.integers(0, 100))
def test_raising_the_percentage_only_adds_users(flag: str, user: str, low: int, high: int) -> None:
    low, high = sorted((low, high))
    if is_enabled({"enabled": True, "percentage": low}, user, name=flag):
        assert is_enabled({"enabled": True, "percentage": high}, user, name=flag)


@settings(max_examples=200, deadline=None)
@given(flag=names, user=names)
def test_bucket_is_stable_and_in_range(flag: str, user: str) -> None:
    assert 0 <= bucket(flag, user) < 100
    assert bucket(flag, user) == bucket(flag, user)


@settings(max_examples=200, deadline=None)
@given(user=names, percentage=st.integers(0, 100))
def test_allowlist_wins_even_when_disabled(user: str, percentage: int) -> None:
    flag = Flag("f", enabled=False, percentage=percentage, allowlist=(user,))
    assert explain(flag, user) == (True, "in the allowlist")
    assert not is_enabled(Flag("f", enabled=False, percentage=100), user)


def test_percentage_splits_users_roughly_as_asked() -> None:
    on = sum(
        is_enabled({"enabled": True, "percentage": 30}, f"user-{n}", name="split")
        for n in range(20_000)
    )
    assert 0.28 < on / 20_000 < 0.32
    assert not any(
        is_enabled({"enabled": True, "percentage": 0}, f"u{n}", name="x") for n in range(1000)
    )
    assert all(
        is_enabled({"enabled": True, "percentage": 100}, f"u{n}", name="x") for n in range(1000)
    )


def test_buckets_differ_between_flags() -> None:
    users = [f"user-{n}" for n in range(200)]
    assert [bucket("a", u) for u in users] != [bucket("b", u) for u in users]


def test_bucket_by_an_attribute_flips_a_whole_account_together() -> None:
    flag = {"enabled": True, "percentage": 50}
    context = {"bucket_by": "account", "attributes": {"account": "acme"}}
    answers = {is_enabled(flag, f"user-{n}", context, name="f") for n in range(50)}
    assert len(answers) == 1
    assert explain(flag, "u", {"bucket_by": "account", "attributes": {}}, name="f") == (
        False,
        "no 'account' attribute to bucket by",
    )


@pytest.mark.parametrize(
    ("user", "expected"),
    [("user1", "on (in the allowlist)"), ("user2", "on (in the allowlist)")],
)
def test_flags_eval_command_answers_like_the_app(
    user: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["flags", "eval", FLAGS_FILE, "new-feature", user]) == 0
    assert capsys.readouterr().out.strip() == f"new-feature for {user}: {expected}"


def test_flags_eval_agrees_with_is_enabled(capsys: pytest.CaptureFixture[str]) -> None:
    flag = {"enabled": True, "percentage": 50, "allowlist": ["user1", "user2"]}
    for n in range(20):
        user = f"customer-{n}"
        main(["flags", "eval", FLAGS_FILE, "new-feature", user])
        said = capsys.readouterr().out
        assert (": on (" in said) == is_enabled(flag, user, name="new-feature")


def test_flags_eval_names_the_known_flags_when_one_is_missing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["flags", "eval", FLAGS_FILE, "nope", "u"]) == 1
    assert "no flag 'nope' (flags: ml-scoring-v2, new-feature)" in capsys.readouterr().err
