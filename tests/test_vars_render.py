"""Render, then validate: vars drive numbers, enums, booleans and metadata."""

from __future__ import annotations

import pytest

from deployctl.errors import UserError
from deployctl.manifest import LoadOptions
from deployctl.manifest.load import load_text

PLAN = """\
apiVersion: deployctl/v1
kind: FeatureFlags
metadata: {project: shop, environment: "{{ stage }}"}
vars: {stage: dev}
store: {ssm: {path: /shop/flags}}
flags:
  checkout: {enabled: "{{ on }}", percentage: "{{ share }}"}
"""


def load(text: str, **variables: str) -> list:  # type: ignore[type-arg]
    return load_text(text, "plan.yaml", LoadOptions(vars=variables, environ={}))


def errors(text: str, **variables: str) -> list[str]:
    with pytest.raises(UserError) as caught:
        load(text, **variables)
    return [d.render() for d in caught.value.diagnostics]


def test_a_var_value_becomes_the_number_and_boolean_the_schema_wants() -> None:
    [doc] = load(PLAN, share="50", on="True")
    [flag] = doc.flags
    assert (flag.percentage, flag.enabled) == (50, True)
    assert doc.header.environment == "dev"


def test_a_var_overrides_the_file_in_metadata() -> None:
    [doc] = load(PLAN, share="5", on="false", stage="prod")
    assert doc.header.environment == "prod"
    assert doc.flags[0].enabled is False


def test_text_around_a_template_is_not_converted() -> None:
    got = errors(PLAN.replace('"{{ share }}"', '"{{ share }}0"'), share="5", on="true")
    assert got == [
        "plan.yaml:7:47: error: flags.checkout.percentage: '{{ share }}0' rendered to '50', "
        "expected a whole number"
    ]


def test_a_rendered_value_error_names_template_and_result() -> None:
    got = errors(PLAN, share="half", on="true")
    assert got == [
        "plan.yaml:7:47: error: flags.checkout.percentage: '{{ share }}' rendered to 'half', "
        "expected a whole number"
    ]


def test_an_unknown_var_suggests_the_nearest_name() -> None:
    got = errors(PLAN.replace("{{ share }}", "{{ shares }}"), share="5", on="true")
    assert got == [
        "plan.yaml:7:47: error: flags.checkout.percentage: template error: "
        "'shares' is undefined (did you mean 'share'?)"
    ]


def test_a_var_that_reads_metadata_is_a_named_cycle() -> None:
    text = PLAN.replace("vars: {stage: dev}", "vars: {stage: '{{ metadata.project }}'}")
    got = errors(text, share="5", on="true")
    assert got == [
        "plan.yaml:4:15: error: vars.stage: var 'stage' uses metadata, and metadata is rendered "
        "with the vars: a cycle (vars.stage -> metadata -> vars.stage); write the value "
        "instead, or pass it with --var"
    ]


def test_a_template_that_fails_to_render_is_not_also_a_schema_error() -> None:
    got = errors(PLAN, on="true")  # share undefined
    assert got == [
        "plan.yaml:7:47: error: flags.checkout.percentage: template error: 'share' is undefined"
    ]


def test_a_misspelt_trigger_metric_suggests_the_nearest() -> None:
    text = PLAN + 'rollback: {triggers: "ErorRate>5%"}\n'
    text += "metrics:\n  ErrorRate: {query: {namespace: A, metric: E, stat: Sum}}\n"
    got = errors(text, share="5", on="true")
    assert len(got) == 1
    assert "unknown metric 'ErorRate' in trigger (did you mean 'ErrorRate'?)" in got[0]
