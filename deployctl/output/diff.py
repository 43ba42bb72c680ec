"""The plan diff: per resource, what it is now and what each step makes of it.

Pure: built from an :class:`~deployctl.execute.observe.Observed` and the
plan, rendered as text (coloured on a terminal), markdown (a PR comment under
65,000 characters) or JSON (versioned, stable keys).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from deployctl.core.plan import Plan
from deployctl.execute.observe import Observed, StepPreview
from deployctl.output import rollout
from deployctl.secrets import Redactor

FORMAT_VERSION = 1
MARKDOWN_LIMIT = 65_000
CHANGE, UNCHANGED, EVERY_RUN = "change", "unchanged", "every_run"


@dataclass(frozen=True)
class ResourceDiff:
    key: str
    before: str
    path: tuple[str, ...]  # the resource after each step that changes it, in plan order
    steps: tuple[str, ...]
    changed: bool
    fingerprint: str
    every_run: bool = False  # only steps that act on each run by design (a snapshot)
    changes: tuple[str, ...] = ()  # what a change set lists (plan --change-sets)

    @property
    def after(self) -> str:
        return self.path[-1] if self.path else self.before

    @property
    def status(self) -> str:
        if self.changed:
            return CHANGE
        return EVERY_RUN if self.every_run else UNCHANGED

    @property
    def shows_path(self) -> bool:
        return self.changed or self.every_run


@dataclass(frozen=True)
class PlanDiff:
    plan: Plan
    resources: tuple[ResourceDiff, ...]
    not_observed: tuple[tuple[str, str], ...]  # (step id, why)
    not_compared: tuple[str, ...]  # mutating steps with no live state to compare

    @property
    def changes(self) -> bool:
        """True unless every resource is already in its end state; a resource
        that could not be read before the run counts as a change; one acted on
        every run by design (a snapshot) does not, so a converged plan exits 0."""
        return any(r.changed for r in self.resources) or bool(self.not_observed)

    def counts(self) -> dict[str, int]:
        return {
            CHANGE: sum(r.status == CHANGE for r in self.resources),
            UNCHANGED: sum(r.status == UNCHANGED for r in self.resources),
            EVERY_RUN: sum(r.status == EVERY_RUN for r in self.resources),
            "not_observed": len(self.not_observed),
        }


def build(
    plan: Plan, observed: Observed, change_sets: dict[str, tuple[str, ...]] | None = None
) -> PlanDiff:
    """``change_sets``: resource key -> the changes a change set listed."""
    change_sets = change_sets or {}
    paths: dict[str, list[StepPreview]] = {}
    for preview in observed.previews:
        if plan.by_id[preview.step_id].mutating:
            paths.setdefault(preview.key, []).append(preview)
    resources = []
    for key in sorted(paths):
        state = observed.resources[key]
        entries = paths[key]
        acting = [p for p in entries if p.changes]
        resources.append(
            ResourceDiff(
                key=key,
                before=state.display,
                path=tuple(p.after for p in acting),
                steps=tuple(p.step_id for p in entries),
                changed=any(not p.every_run for p in acting),
                fingerprint=state.fingerprint,
                every_run=bool(acting) and all(p.every_run for p in acting),
                changes=change_sets.get(key, ()),
            )
        )
    previewed = {p.step_id for p in observed.previews}
    not_compared = tuple(
        s.id
        for s in plan.steps
        if s.mutating and s.id not in previewed and s.id not in observed.unobserved
    )
    return PlanDiff(
        plan, tuple(resources), tuple(sorted(observed.unobserved.items())), not_compared
    )


# --- text -------------------------------------------------------------------------

_COLOURS = {CHANGE: "33", UNCHANGED: "2", EVERY_RUN: "36", "note": "36"}


def _paint(text: str, what: str, colour: bool) -> str:
    return f"\033[{_COLOURS[what]}m{text}\033[0m" if colour else text


def _headline(diff: PlanDiff) -> str:
    c = diff.counts()
    return (
        f"{c[CHANGE]} to change, {c[UNCHANGED]} unchanged, "
        + (f"{c[EVERY_RUN]} acted on every run, " if c[EVERY_RUN] else "")
        + f"{c['not_observed']} not observable before the run"
    )


def render_text(diff: PlanDiff, redact: Redactor | None = None, *, colour: bool = False) -> str:
    plan = diff.plan
    redact = redact or Redactor(plan.secret_values)
    lines = [f"Plan: {plan.project} ({plan.environment}) from {plan.source}", ""]
    for r in diff.resources:
        if r.shows_path:
            mark = f"  ~ {r.key}" if r.changed else f"  + {r.key} (every run)"
            lines.append(_paint(mark, r.status, colour))
            lines.append(f"      {r.before}  ->  " + " -> ".join(r.path))
            lines += [f"      change set: {c}" for c in r.changes]
            lines.append(f"      steps: {', '.join(r.steps)}")
        else:
            lines.append(_paint(f"  = {r.key} (unchanged): {r.before}", UNCHANGED, colour))
    if diff.not_observed:
        lines += ["", "Not observable before the run (counted as changes):"]
        for sid, why in diff.not_observed:
            lines.append(f"  ? {sid}: {plan.by_id[sid].description} ({why})")
    if diff.not_compared:
        lines += ["", "Also runs (no live state to compare):"]
        for sid in diff.not_compared:
            lines.append(_paint(f"  - {sid}: {plan.by_id[sid].description}", "note", colour))
    lines += ["", f"Summary: {_headline(diff)}"]
    return redact("\n".join(lines) + "\n")


# --- markdown -----------------------------------------------------------------------


_MARKS = {CHANGE: "~", UNCHANGED: "=", EVERY_RUN: "+ (every run)"}
_ARN = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d*:[^\s]+")
_ID = re.compile(r"[0-9a-f]{8,}")


def short_arn(arn: str) -> str:
    """``arn:aws:elasticloadbalancing:...:listener/app/web/50dc6c49/f2f7dc8e``
    -> ``listener/web/f2f7dc8e``: the resource part, without the account,
    region and the load balancer's own id (the last id is kept)."""
    resource = arn.split(":", 5)[5] if arn.count(":") >= 5 else arn
    parts = re.split(r"([/:])", resource)
    names = parts[0::2]
    kept = [p for p in names[:-1] if p not in ("app", "net") and not _ID.fullmatch(p)]
    return "/".join([*kept, names[-1]])


def short_key(key: str) -> str:
    """A resource key for people: ARNs in it cut to their resource part."""
    return _ARN.sub(lambda m: short_arn(m.group(0)), key)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _after(r: ResourceDiff) -> str:
    """The end state; with a change set, what it lists instead of a hash."""
    return "; ".join(r.changes) if r.changes else r.after


def render_markdown(
    diff: PlanDiff, redact: Redactor | None = None, limit: int = MARKDOWN_LIMIT
) -> str:
    """A PR comment: a summary table, then one collapsible block per changed
    resource; past ``limit`` characters the rest is cut with a note."""
    plan = diff.plan
    redact = redact or Redactor(plan.secret_values)
    head = [
        f"### deployctl plan: {_cell(plan.project)} ({_cell(plan.environment)})",
        "",
        f"**{_headline(diff)}** (from `{plan.source}`, digest `{plan.digest[:12]}`)",
        "",
        rollout.render_markdown(plan),
        "#### Resources",
        "",
        "| | resource | now | after |",
        "|---|---|---|---|",
    ]
    blocks = [
        f"| {_MARKS[r.status]} | `{_cell(short_key(r.key))}` | {_cell(r.before)} | "
        f"{_cell(_after(r)) if r.shows_path else 'unchanged'} |"
        for r in diff.resources
    ]
    blocks.append("")
    for r in diff.resources:
        if r.shows_path:
            body = "\n".join(f"{n}. {_cell(a)}" for n, a in enumerate(r.path, 1))
            changes = "".join(f"- {_cell(c)}\n" for c in r.changes)
            if changes:
                changes = f"Change set:\n\n{changes}\n"
            blocks.append(
                f"<details><summary><code>{short_key(r.key)}</code>: {_cell(r.before)} -> "
                f"{_cell(_after(r))}</summary>\n\nResource: `{r.key}`\n\n"
                f"Now: {_cell(r.before)}\n\n{body}\n\n{changes}"
                f"Steps: {', '.join(f'`{s}`' for s in r.steps)}\n\n</details>\n"
            )
    for sid, why in diff.not_observed:
        blocks.append(f"- not observable before the run: `{sid}` ({_cell(why)})")
    for sid in diff.not_compared:
        blocks.append(f"- also runs: `{sid}`: {_cell(plan.by_id[sid].description)}")
    out = redact("\n".join(head)) + "\n"
    for n, raw in enumerate(blocks):
        block = redact(raw) + "\n"
        note = (
            f"\n_Truncated: {len(blocks) - n} of {len(blocks)} entries not shown "
            "(PR comment limit); run `deployctl plan` for the full diff._\n"
        )
        if len(out) + len(block) + len(note) > limit:
            return out + note
        out += block
    return out


# --- json -------------------------------------------------------------------------


def diff_json(diff: PlanDiff) -> dict[str, Any]:
    plan = diff.plan
    return {
        "format_version": FORMAT_VERSION,
        "project": plan.project,
        "environment": plan.environment,
        "source": plan.source,
        "digest": plan.digest,
        "changes": diff.changes,
        "summary": diff.counts(),
        "resources": [
            {
                "key": r.key,
                "status": r.status,
                "before": r.before,
                "after": r.after,
                "path": list(r.path),
                "steps": list(r.steps),
                "fingerprint": r.fingerprint,
                "changes": list(r.changes),
            }
            for r in diff.resources
        ],
        "not_observed": [{"step": sid, "reason": why} for sid, why in diff.not_observed],
        "not_compared": [
            {"step": sid, "kind": plan.by_id[sid].kind, "description": plan.by_id[sid].description}
            for sid in diff.not_compared
        ],
    }


def render_json(diff: PlanDiff, redact: Redactor | None = None) -> str:
    redact = redact or Redactor(diff.plan.secret_values)
    return json.dumps(redact.data(diff_json(diff)), indent=2, sort_keys=True) + "\n"
