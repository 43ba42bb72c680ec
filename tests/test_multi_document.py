"""Several Deployments (and any mix of kinds) in one plan file."""

from __future__ import annotations

import pytest

from deployctl.errors import UserError
from deployctl.manifest import LoadOptions
from deployctl.manifest.load import load_text
from deployctl.plan import compile_plan
from deployctl.plan.api import Plan


def doc(project: str, function: str, extra: str = "") -> str:
    return (
        "apiVersion: deployctl/v1\nkind: Deployment\n"
        f"metadata: {{project: {project}, environment: prod}}\n{extra}"
        f"target: {{lambda: {{function: {function}, alias: live}}}}\n"
        "strategy: {type: all-at-once}\n"
    )


def compile_text(*docs: str) -> Plan:
    text = "---\n".join(docs)
    return compile_plan(load_text(text, "plan.yaml", LoadOptions(environ={})), "plan.yaml")


def test_one_document_keeps_todays_step_ids() -> None:
    plan = compile_text(doc("orders", "orders-api"))
    assert [s.id for s in plan.steps] == ["us-east-1/deploy/publish", "us-east-1/all-at-once/shift"]


def test_two_documents_of_one_project_are_namespaced_by_index_and_run_in_file_order() -> None:
    plan = compile_text(doc("orders", "orders-api"), doc("orders", "orders-worker"))
    ids = [s.id for s in plan.steps]
    assert ids[0] == "orders/0/us-east-1/deploy/publish"
    assert plan.by_id["orders/1/us-east-1/deploy/publish"].deps == (
        "orders/0/us-east-1/all-at-once/shift",
    )


def test_different_projects_run_side_by_side_unless_after_orders_them() -> None:
    plan = compile_text(doc("api", "a"), doc("worker", "w"))
    assert plan.by_id["worker/us-east-1/deploy/publish"].deps == ()
    plan = compile_text(doc("api", "a"), doc("worker", "w", "after: [api]\n"))
    assert plan.by_id["worker/us-east-1/deploy/publish"].deps == (
        "api/us-east-1/all-at-once/shift",
    )


def test_many_services_compile_with_distinct_ids_and_no_order() -> None:
    plan = compile_text(*(doc(f"svc-{i}", f"fn-{i}") for i in range(30)))
    assert len(plan.steps) == 60
    assert all(not s.deps for s in plan.steps if s.id.endswith("deploy/publish"))


@pytest.mark.parametrize(
    ("after", "message"),
    [
        ("after: [api]\n", "after: no other project 'api' in this file (projects: worker)"),
        (
            "after: [wroker]\n",
            "after: no other project 'wroker' in this file (did you mean 'worker'?) "
            "(projects: worker)",
        ),
    ],
)
def test_after_names_a_project_of_the_file(after: str, message: str) -> None:
    with pytest.raises(UserError) as caught:
        compile_text(doc("api", "a", after), doc("worker", "w"))
    [problem] = caught.value.diagnostics
    assert problem.render() == f"plan.yaml:4:9: error: after[0]: {message}"


def test_after_a_project_planned_later_is_an_error() -> None:
    with pytest.raises(UserError) as caught:
        compile_text(doc("api", "a", "after: [worker]\n"), doc("worker", "w"))
    assert "'worker' is planned later in the file" in caught.value.diagnostics[0].message
