"""Names and ids as AWS will check them, checked by ``validate`` instead.

Each field that names an AWS resource gets the service's own pattern and
length (from its API reference), so a name AWS would refuse at run time, after
a version is published or traffic has moved, is an error at its
``file:line:col`` before anything runs.  A non-ASCII character in a name is
named for what it is: an invisible character (a zero-width space) or a
look-alike (a Cyrillic letter a) cannot be told apart from the name meant, and AWS
names are ASCII only.

Values are checked once rendered.  A runtime reference is replaced by the
longest value it can take (``${region}`` by a long region name); a value
that uses ``${steps...}`` or ``${ssm:...}`` is known only at run time and is
not checked here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from deployctl.diagnostics import Diagnostic, Marks, Path
from deployctl.manifest.refs import RUNTIME_REF
from deployctl.manifest.secrets import ssm_name_problem

NAME_MAX = 63  # project and environment: DynamoDB keys, alarm names, SSM paths are built from them
_PARTITION = r"arn:aws(?:-[a-z]+)*"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}"
_ELB = rf"{_PARTITION}:elasticloadbalancing:{_REGION}:\d{{12}}"
# The longest value each runtime reference can take, for length checks.
_LONGEST = {
    "region": "ap-southeast-1",
    "idle_color": "green",
    "live_color": "green",
    "new_version": "9999999999",
    "stable_version": "9999999999",
    "run_id": "20240120-000000-abcdef",
    "snapshot_id": "deployctl-" + "x" * 53,
}
_LOOK_ALIKES = dict(
    zip(
        "аеорсухіјѕԁАВЕКМНОРСТХІЈЅοαντρΑΒΕΗΙΚΜΝΟΡΤΧΥΖ",
        "aeopcyxijsdABEKMHOPCTXIJSoavtpABEHIKMNOPTXYZ",
        strict=True,
    )
)


@dataclass(frozen=True)
class Rule:
    what: str  # "a Lambda function name"
    pattern: str
    hint: str  # what the pattern allows, in words
    longest: int = 0  # characters; 0: the pattern decides

    def problem(self, value: str) -> str | None:
        odd = _first_non_ascii(value)
        if odd is not None:
            return f"{value!a}: {self.what} holds {odd}; AWS names are ASCII only"
        if self.longest and len(value) > self.longest:
            return f"{self.what} has at most {self.longest} characters, this one has {len(value)}"
        if not re.fullmatch(self.pattern, value):
            return f"{value!r} is not {self.what}: {self.hint}"
        return None


def _first_non_ascii(value: str) -> str | None:
    for column, char in enumerate(value, start=1):
        if char.isascii() and char.isprintable():
            continue
        name = unicodedata.name(char, "a control character")
        code = f"U+{ord(char):04X} {name}"
        if char in _LOOK_ALIKES:
            return f"{code} at column {column}, which looks like {_LOOK_ALIKES[char]!r}"
        if unicodedata.category(char) in ("Cf", "Zs", "Zl", "Zp", "Cc", "Mn") or not char.strip():
            return f"{code} at column {column}, an invisible character"
        return f"{code} at column {column}"
    return None


LAMBDA_FUNCTION = Rule(
    "a Lambda function name",
    rf"(?:{_PARTITION}:lambda:{_REGION}:\d{{12}}:function:|\d{{12}}:function:)?"
    r"[A-Za-z0-9_-]{1,64}(?::(?:\$LATEST|[A-Za-z0-9_-]{1,128}))?",
    "1 to 64 letters, digits, '-' and '_' (or the function's ARN)",
    longest=170,
)
LAMBDA_ALIAS = Rule(
    "a Lambda alias name",
    r"(?!\d+$)[A-Za-z0-9_-]{1,128}",
    "1 to 128 letters, digits, '-' and '_', not only digits",
)
LAMBDA_QUALIFIER = Rule(
    "a Lambda version or alias", r"\$LATEST|[A-Za-z0-9_-]{1,128}", "a version number or an alias"
)
STACK = Rule(
    "a CloudFormation stack name",
    r"[A-Za-z][A-Za-z0-9-]{0,127}",
    "a letter, then up to 127 letters, digits and '-'",
    longest=128,
)
LISTENER = Rule(
    "a listener ARN",
    rf"{_ELB}:listener/(?:app|net|gwy)/[A-Za-z0-9-]{{1,32}}/[0-9a-f]+/[0-9a-f]+",
    "arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/app/NAME/ID/ID",
)
LISTENER_RULE = Rule(
    "a listener rule ARN",
    rf"{_ELB}:listener-rule/(?:app|net)/[A-Za-z0-9-]{{1,32}}/[0-9a-f]+/[0-9a-f]+/[0-9a-f]+",
    "arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener-rule/app/NAME/ID/ID/ID",
)
TARGET_GROUP = Rule(
    "a target group ARN",
    rf"{_ELB}:targetgroup/[A-Za-z0-9-]{{1,32}}/[0-9a-f]+",
    "arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID",
)
HOSTED_ZONE = Rule(
    "a hosted zone id",
    r"(?:/hostedzone/)?[A-Z0-9]{1,32}",
    "upper-case letters and digits, as Route 53 gives it (Z0123456789ABC)",
)
RECORD_NAME = Rule(
    "a DNS record name",
    r"[A-Za-z0-9_*.\\-]{1,255}",
    "letters, digits, '-', '_', '.' and '*' (punycode for other letters), at most 255",
)
SET_IDENTIFIER = Rule("a set identifier", r"[ -~]{1,128}", "1 to 128 characters")
DISTRIBUTION = Rule(
    "a CloudFront distribution id", r"[A-Z0-9]{1,64}", "upper-case letters and digits"
)
REGION = Rule("an AWS region", _REGION, "like us-east-1 or eu-west-2")
ROLE = Rule(
    "an IAM role ARN",
    rf"{_PARTITION}:iam::\d{{12}}:role/[A-Za-z0-9+=,.@_/-]{{1,512}}",
    "arn:aws:iam::ACCOUNT:role/NAME",
)
DB = Rule(
    "an RDS identifier",
    r"[A-Za-z](?:[A-Za-z0-9]|-(?!-))*(?<!-)",
    "a letter, then letters, digits and single '-', not ending with '-'",
    longest=63,
)
PROJECT = Rule(
    "a project or environment name",
    r"[a-z0-9][a-z0-9-]*",
    "lowercase letters, digits and dashes",
    longest=NAME_MAX,
)


class _SsmPath(Rule):
    def problem(self, value: str) -> str | None:
        odd = _first_non_ascii(value)
        if odd is not None:
            return f"{value!a}: an SSM parameter path holds {odd}; AWS names are ASCII only"
        why = ssm_name_problem(value.rstrip("/") or value)
        if why is not None:
            return f"not an SSM parameter path: {why}"
        first = value.strip("/").split("/", 1)[0].lower()
        if first.startswith(("aws", "ssm")):
            return f"{value!r}: SSM reserves names that start with 'aws' or 'ssm'"
        if value.strip("/").count("/") + 2 > 15:  # the flag's own name is one more level
            return f"{value!r}: SSM allows at most 15 levels, the flags under it would have more"
        return None


SSM_PATH = _SsmPath("an SSM parameter path", "", "")

# (document path, rule); "*" is every item of a list or every value of a mapping.
_FIELDS: tuple[tuple[Path, Rule], ...] = (
    (("metadata", "project"), PROJECT),
    (("metadata", "environment"), PROJECT),
    (("aws", "region"), REGION),
    (("aws", "assume_role"), ROLE),
    (("target", "lambda", "function"), LAMBDA_FUNCTION),
    (("target", "lambda", "alias"), LAMBDA_ALIAS),
    (("deploy", "lambda", "function"), LAMBDA_FUNCTION),
    (("target", "alb", "listener_arn"), LISTENER),
    (("target", "alb", "rule_arn"), LISTENER_RULE),
    (("target", "alb", "blue_target_group"), TARGET_GROUP),
    (("target", "alb", "green_target_group"), TARGET_GROUP),
    (("target", "route53", "hosted_zone_id"), HOSTED_ZONE),
    (("target", "route53", "record_name"), RECORD_NAME),
    (("target", "route53", "blue", "set_identifier"), SET_IDENTIFIER),
    (("target", "route53", "green", "set_identifier"), SET_IDENTIFIER),
    (("target", "cloudfront", "distribution_id"), DISTRIBUTION),
    (("target", "cloudformation", "stack"), STACK),
    (("deploy", "cloudformation", "stack"), STACK),
    (("tests", "smoke", "*", "lambda", "function"), LAMBDA_FUNCTION),
    (("tests", "smoke", "*", "lambda", "qualifier"), LAMBDA_QUALIFIER),
    (("regions", "primary"), REGION),
    (("regions", "replicas", "*", "region"), REGION),
    (("regions", "routing", "route53", "hosted_zone_id"), HOSTED_ZONE),
    (("regions", "routing", "route53", "record_name"), RECORD_NAME),
    (("store", "ssm", "path"), SSM_PATH),
    (("database", "rds_instance"), DB),
    (("database", "rds_cluster"), DB),
    (("phases", "*", "*", "lambda", "function"), LAMBDA_FUNCTION),
)


def _values(data: Any, pattern: Path, at: Path = ()) -> Iterator[tuple[Path, Any]]:
    if not pattern:
        yield at, data
        return
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        items = data.items() if isinstance(data, dict) else enumerate(data or ())
        for key, item in items if isinstance(data, dict | list) else ():
            yield from _values(item, rest, (*at, key))
    elif isinstance(data, dict) and head in data:
        yield from _values(data[head], rest, (*at, head))


def _longest(value: str) -> str | None:
    """``value`` with each runtime reference at its longest, or None if one
    of them can only be known at run time."""
    out = value
    for match in RUNTIME_REF.finditer(value):
        name = match.group(1).strip()
        if name not in _LONGEST:
            return None
        out = out.replace(match.group(0), _LONGEST[name])
    return out


def check_names(
    data: dict[str, Any], marks: Marks, skip: Collection[Path] = ()
) -> list[Diagnostic]:
    """A diagnostic at every name or id of a rendered document that AWS would
    refuse (but not at ``skip``, the values that failed to render)."""
    out = []
    for pattern, rule in _FIELDS:
        for path, value in _values(data, pattern):
            if not isinstance(value, str) or path in skip:
                continue
            probe = _longest(value)
            why = rule.problem(probe) if probe is not None else None
            if why:
                out.append(marks.diag(path, why))
    return out
