"""Names and ids as AWS accepts them: each service's own pattern and length
(from its API reference), and a name for any character AWS would refuse.

A non-ASCII character in a name is named for what it is: an invisible one (a
zero-width space) or a look-alike (a Cyrillic letter a) makes a name that
reads right and is not, and AWS names are ASCII only.  Standard library only:
the command line checks ``--region`` with these before anything else loads.
"""

from __future__ import annotations

import re
import unicodedata

from deployctl.core.frozen import Frozen, frozen

NAME_MAX = 63  # project and environment: DynamoDB keys, alarm names, SSM paths are built from them
_PARTITION = r"arn:aws(?:-[a-z]+)*"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}"
_ELB = rf"{_PARTITION}:elasticloadbalancing:{_REGION}:\d{{12}}"
_LOOK_ALIKES = dict(
    zip(
        "аеорсухіјѕԁАВЕКМНОРСТХІЈЅοαντρΑΒΕΗΙΚΜΝΟΡΤΧΥΖ",
        "aeopcyxijsdABEKMHOPCTXIJSoavtpABEHIKMNOPTXYZ",
        strict=True,
    )
)


@frozen
class Rule(Frozen):
    """What one kind of AWS name may look like."""

    what: str  # "a Lambda function name"
    pattern: str
    hint: str  # what the pattern allows, in words
    longest: int = 0  # characters; 0: the pattern decides

    def problem(self, value: str) -> str | None:
        odd = first_non_ascii(value)
        if odd is not None:
            return f"{value!a}: {self.what} holds {odd}; AWS names are ASCII only"
        if self.longest and len(value) > self.longest:
            return f"{self.what} has at most {self.longest} characters, this one has {len(value)}"
        if not re.fullmatch(self.pattern, value):
            return f"{value!r} is not {self.what}: {self.hint}"
        return None


def first_non_ascii(value: str) -> str | None:
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
