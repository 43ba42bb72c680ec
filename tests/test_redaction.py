"""The one redaction rule (``deployctl.secrets``): a secret is hidden as written
and in every escaped or encoded form an output may give it, and whatever a
command writes to stdout, stderr or its crash log goes through it."""

from __future__ import annotations

import base64
import json
import sys
import urllib.parse
from pathlib import Path

import pytest

from deployctl import secrets
from deployctl.cli import main
from deployctl.secrets import Redactor, token

SECRET = "s3cr3t-'q\"uo\\te-é/+?=&%"  # quotes, a backslash, non-ASCII, URL and base64 specials


def encodings(secret: str) -> dict[str, str]:
    raw = secret.encode()
    return {
        "raw": secret,
        "repr": repr(secret),
        "repr in a longer text": repr(f"the value was {secret}!"),
        "!r in an f-string": f"{secret!r}",
        "ascii": ascii(secret),
        "json": json.dumps(secret),
        "json, not ascii": json.dumps(secret, ensure_ascii=False),
        "json of a repr": json.dumps(repr(secret)),
        "json in json": json.dumps(json.dumps({"v": secret})),
        "url": urllib.parse.quote(secret, safe=""),
        "url, path": urllib.parse.quote(secret),
        "form": urllib.parse.urlencode({"token": secret}),
        "base64": base64.b64encode(raw).decode(),
        "base64, urlsafe": base64.urlsafe_b64encode(raw).decode(),
        "base64, one byte in": base64.b64encode(b"x" + raw).decode(),
        "base64, two bytes in": base64.b64encode(b"xy" + raw + b"tail").decode(),
        "basic auth": "Basic " + base64.b64encode(b"user:" + raw).decode(),
    }


def test_every_escaped_and_encoded_form_is_hidden() -> None:
    redact = Redactor([SECRET])
    for name, text in encodings(SECRET).items():
        shown = redact(f"before {text} after")
        for form in encodings(SECRET).values():
            assert form not in shown, (name, form)
        # base64 keeps at most a stray character or two on each side, never the value
        assert "<redacted:" in shown, name
        assert shown.startswith("before ") and shown.endswith(" after"), name


def test_a_secret_in_any_form_is_replaced_by_the_hash_of_the_value() -> None:
    assert Redactor([SECRET])(f"x{SECRET}y") == f"x{token(SECRET)}y"
    assert Redactor([SECRET])(f"x{json.dumps(SECRET)}y") == f'x"{token(SECRET)}"y'


def test_text_without_secrets_is_untouched_and_short_encodings_are_left_alone() -> None:
    redact = Redactor(["abc"])  # its base64 is 4 characters: too likely by chance
    assert redact("YWJj is not touched, abc is") == f"YWJj is not touched, {token('abc')} is"
    assert Redactor()("nothing to hide") == "nothing to hide"


def test_a_longer_secret_that_holds_a_shorter_one_is_hidden_whole() -> None:
    redact = Redactor(["pass", "password-123"])
    assert redact("password-123 and pass") == f"{token('password-123')} and {token('pass')}"


def test_a_redactor_learns_values_later_and_redacts_data_before_it_is_serialised() -> None:
    redact = Redactor()
    assert redact.data({"a": SECRET}) == {"a": SECRET}
    redact.add(SECRET, "")
    assert redact.secrets == [SECRET]
    assert redact.data({SECRET: [SECRET, 1, (None, SECRET)]}) == {
        token(SECRET): [token(SECRET), 1, [None, token(SECRET)]]
    }


def test_stdout_stderr_and_the_crash_log_of_a_command_are_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def leaky(args: object) -> int:
        secrets.remember(SECRET)
        print(f"out {SECRET!r}")
        print(f"err {json.dumps(SECRET)}", file=sys.stderr)
        raise RuntimeError(f"boom {urllib.parse.quote(SECRET)}")

    from deployctl.commands import schema  # any command will do: its run is swapped

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(schema, "run", leaky)
    before = sys.stdout
    code = main(["schema"])
    out, err = capsys.readouterr()
    assert sys.stdout is before
    assert code == 1
    assert "internal error: RuntimeError: boom <redacted:" in err
    logged = (tmp_path / ".deployctl" / "crash.log").read_text(encoding="utf-8")
    for text in (out, err, logged):
        for form in encodings(SECRET).values():
            assert form not in text
    assert "<redacted:" in out and "<redacted:" in logged
    # The next command starts knowing nothing.
    assert secrets.redact(SECRET) != SECRET
    monkeypatch.setattr(schema, "run", lambda args: print(SECRET) or 0)
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == SECRET + "\n"
