"""``${steps.<step-id>.<output>}`` checked against the compiled plan.

The executor reads such a reference from the named step's outputs when the
step that uses it starts, so the named step must exist and must run before
it (be one of its ancestors): otherwise the reference fails at run time,
perhaps after a version was published or traffic moved.  ``validate`` says
so at the reference's ``file:line:col``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

from deployctl.core.refs import REF, strings_in
from deployctl.diagnostics import Diagnostic
from deployctl.manifest import model as m
from deployctl.plan.api import Step


def _ancestors(step: Step, by_id: Mapping[str, Step]) -> set[str]:
    seen: set[str] = set()
    todo = list(step.deps)
    while todo:
        sid = todo.pop()
        if sid not in seen:
            seen.add(sid)
            todo.extend(by_id[sid].deps)
    return seen


def _where(text: str, docs: Sequence[m.Manifest], source: str) -> Diagnostic:
    """Where ``text`` (a reference) is written: the first document that has it."""
    for doc in docs:
        for ref, path, offset in doc.header.step_refs:
            if ref == text:
                return doc.header.source.marks.diag(path, "", offset=offset)
    return Diagnostic(file=source)


def check_step_refs(
    steps: Sequence[Step], docs: Sequence[m.Manifest], source: str
) -> list[Diagnostic]:
    """A diagnostic for every ``${steps...}`` that names no step, or a step
    that does not run before the step using it.  Only the documents write
    such references (the loader lists them), so a plan without any is not
    searched."""
    if not any(doc.header.step_refs for doc in docs):
        return []
    by_id = {s.id: s for s in steps}
    out: list[Diagnostic] = []
    reported: set[str] = set()
    for step in steps:
        ancestors: set[str] | None = None
        for text in strings_in(step.params):
            for match in REF.finditer(text):
                name = match.group(1).strip()
                if not name.startswith("steps.") or match.group(0) in reported:
                    continue
                target = name[len("steps.") :].rpartition(".")[0]
                if target not in by_id:
                    near = difflib.get_close_matches(target, list(by_id), n=1)
                    hint = f" (did you mean {near[0]!r}?)" if near else ""
                    why = f"{match.group(0)}: this plan has no step {target!r}{hint}"
                else:
                    ancestors = _ancestors(step, by_id) if ancestors is None else ancestors
                    if target in ancestors:
                        continue
                    why = (
                        f"{match.group(0)}: step {target!r} does not run before {step.id!r}, "
                        "so its outputs are not there when it starts"
                    )
                reported.add(match.group(0))
                where = _where(match.group(0), docs, source)
                out.append(Diagnostic(where.file, where.line, where.col, why, where.path))
    return out
