"""timeline.limits_for: what a gate holds each metric to, read from a
``gate.analysis`` step's typed params (core/params.py GateAnalysisParams)."""

from __future__ import annotations

from deployctl.core.params import GateAnalysisParams, Trigger
from deployctl.execute.timeline import Limit, limits_for
from deployctl.testing.plans import step


def gate(**params: object):  # type: ignore[no-untyped-def]
    return step("g", "gate.analysis", params={"duration": 60.0, **params})


def test_the_threshold_and_the_triggers_are_the_limits_the_tightest_one_kept() -> None:
    params = GateAnalysisParams(
        duration=60.0,
        metric="ErrorRate",
        threshold=0.05,
        triggers=(
            Trigger(metric="ErrorRate", op=">", value=0.02),
            Trigger(metric="Latency", op=">", value=900.0),
            Trigger(metric="Latency", op=">", value=1000.0),
            Trigger(metric="Invocations", op="<", value=10.0),
        ),
    )
    limits = limits_for(step("g", "gate.analysis", params=params.to_params()))
    assert limits == {
        "ErrorRate": Limit("ErrorRate", ">", 0.02),
        "Latency": Limit("Latency", ">", 900.0),
        "Invocations": Limit("Invocations", "<", 10.0),
    }


def test_a_threshold_without_its_metric_is_no_limit() -> None:
    assert limits_for(gate(threshold=0.01)) == {}


def test_other_gate_kinds_have_no_limits_whatever_their_params_hold() -> None:
    # smoke tests, drains and plugins' gates are not gate.analysis: their keys
    # are not the analysis's, even when named alike
    params = {"metric": "ErrorRate", "threshold": 0.01}
    assert limits_for(step("s", "smoke.http", params=params)) == {}
    assert limits_for(step("p", "acme.gate", params=params)) == {}


def test_a_hand_made_gate_the_report_cannot_read_shows_no_limits() -> None:
    assert limits_for(step("g", "gate.analysis", params={"interval": 60.0})) == {}  # no duration
    odd = gate(
        metric="ErrorRate",
        threshold="high",
        triggers=["Latency>1s", {"metric": "Latency", "op": ">", "value": "x"}],
    )
    assert limits_for(odd) == {}
    half = gate(triggers=[{"metric": "Latency", "op": ">", "value": 1000.0}, "ErrorRate>1%"])
    assert limits_for(half) == {"Latency": Limit("Latency", ">", 1000.0)}
