"""Names and ids as AWS will check them, checked by ``validate`` instead.

Each field that names an AWS resource gets the service's own rule
(:mod:`deployctl.awsnames`), so a name AWS would refuse at run time, after a
version is published or traffic has moved, is an error at its
``file:line:col`` before anything runs.

Values are checked once rendered.  A runtime reference is replaced by the
longest value it can take (``${region}`` by a long region name); a value
that uses ``${steps...}`` or ``${ssm:...}`` is known only at run time and is
not checked here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from deployctl.awsnames import (
    DB,
    DISTRIBUTION,
    HOSTED_ZONE,
    LAMBDA_ALIAS,
    LAMBDA_FUNCTION,
    LAMBDA_QUALIFIER,
    LISTENER,
    LISTENER_RULE,
    PROJECT,
    RECORD_NAME,
    REGION,
    ROLE,
    SET_IDENTIFIER,
    STACK,
    TARGET_GROUP,
    Rule,
    first_non_ascii,
)
from deployctl.core.refs import REF
from deployctl.diagnostics import Diagnostic, Marks, Path
from deployctl.manifest.secrets import ssm_name_problem

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


class _SsmPath(Rule):
    def problem(self, value: str) -> str | None:
        odd = first_non_ascii(value)
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
    for match in REF.finditer(value):
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
