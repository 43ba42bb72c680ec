"""The render budget: loops and calls in plan templates stop after a CPU budget.

A fake clock stands in for ``time.thread_time``: it advances one second each
time it is read, so these tests count clock reads instead of waiting.
"""

from __future__ import annotations

import pytest

from deployctl.manifest.render import OverBudget, RenderBudget, Renderer

CHECK = RenderBudget.CHECK_EVERY


class SteppingClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        self.now += 1.0
        return self.now


def renderer(clock: SteppingClock, seconds: float, **context: object) -> Renderer:
    return Renderer(context, {}, RenderBudget(seconds, clock))


def test_ordinary_templates_never_read_the_clock() -> None:
    clock = SteppingClock()
    r = renderer(clock, 0.0, version="2024.01.20", regions=["us-east-1", "eu-west-1"])
    assert r.render_str("api-handler/{{ version }}.zip") == "api-handler/2024.01.20.zip"
    assert r.render_str("{% for x in regions %}{{ loop.index }}:{{ x }} {% endfor %}") == (
        "1:us-east-1 2:eu-west-1 "
    )
    assert r.render_str("{{ regions|map('upper')|join(',') }}") == "US-EAST-1,EU-WEST-1"
    assert r.render_str("{{ env('HOME', 'none') }}") == "none"
    assert clock.reads == 0


def test_a_loop_stops_at_the_first_check_past_the_budget() -> None:
    clock = SteppingClock()
    r = renderer(clock, 2.5, s="x" * 100_000)
    with pytest.raises(OverBudget, match=r"more than 2\.5 s of CPU"):
        r.render_str("{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}")
    # Checks at 1, 2, 3 and 4 x CHECK ticks read 1 s, 2 s, 3 s, 4 s: 3 s spent > 2.5.
    # The fifth read banks the time when the template gives up.
    assert clock.reads == 5


def test_the_budget_is_shared_by_every_value_of_a_file() -> None:
    clock = SteppingClock()
    budget = RenderBudget(2.5, clock)
    loop = "{% for a in s %}{% endfor %}ok"
    first = Renderer({"s": "x" * (2 * CHECK)}, {}, budget)
    second = Renderer({"s": "x" * (2 * CHECK)}, {}, budget)
    assert first.render_str(loop) == "ok"  # 2 s: within the budget
    assert budget.spent == 2.0
    with pytest.raises(OverBudget):
        second.render_str(loop)  # another 2 s is not


@pytest.mark.parametrize(
    "template",
    [
        # no loop at all: a macro that calls itself twice
        "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}",
        # the loop is inside a filter
        "{% for a in s %}{{ s|map('upper')|join }}{% endfor %}",
        "{% for a in s %}{{ s|select('equalto', 'y')|list }}{% endfor %}",
        # every item filtered out: the body never runs
        "{% for a in s %}{% for b in s if b == 'y' %}x{% endfor %}{% endfor %}",
    ],
)
def test_loops_hidden_in_calls_filters_and_tests_spend_the_budget(template: str) -> None:
    clock = SteppingClock()
    with pytest.raises(OverBudget):
        renderer(clock, 0.0, s="x" * 100_000).render_str(template)
    assert clock.reads <= 3
