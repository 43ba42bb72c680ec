"""``deployctl plan PLAN``: what a plan would change, resource by resource.

Without ``--offline`` every resource the plan touches is read once (through
the actions' ``describe``) and diffed against what the steps would make of
it.  ``--offline`` shows the compiled steps and reads nothing.  ``--out``
saves a reviewed plan that ``deployctl apply FILE`` runs exactly.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from deployctl.commands._load import load_plan
from deployctl.core.plan import Plan
from deployctl.errors import EXIT_CHANGES, EXIT_OK, UserError
from deployctl.output import diff as diffview
from deployctl.output import planview

if TYPE_CHECKING:
    from deployctl.core.ports import Registry
    from deployctl.execute.observe import Observed

FORMATS = ("json", "markdown", "text")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("plan", parents=[common], help="show what a plan would change")
    parser.add_argument(
        "plans", nargs="+", metavar="PLAN", help="plan files; several are shown one after another"
    )
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument(
        "--out", metavar="FILE", help="save the reviewed plan here, for 'deployctl apply FILE'"
    )
    parser.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 when nothing would change, 2 when something would",
    )
    parser.add_argument(
        "--offline", action="store_true", help="compile only; read nothing from AWS"
    )
    parser.add_argument(
        "--change-sets",
        action="store_true",
        help="list a CloudFormation stack's changes from a change set created and deleted "
        "for the purpose (needs cloudformation:CreateChangeSet/DeleteChangeSet, and "
        "3+ calls per stack): off by default, plan only reads",
    )
    parser.set_defaults(run=run)


def _change_sets(
    plan: Plan, registry: Registry, observed: Observed, diff: diffview.PlanDiff
) -> dict[str, tuple[str, ...]]:
    """Changed resources whose action can ask the service (CloudFormation)."""
    wanted = {r.key for r in diff.resources if r.changed}
    out: dict[str, tuple[str, ...]] = {}
    for preview in observed.previews:
        if preview.key not in wanted or preview.key in out:
            continue
        step = plan.by_id[preview.step_id]
        got = registry.get(step.kind).change_set(step, preview.params or step.params)
        if got is not None:
            out[preview.key] = tuple(got)
    return out


def _colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def run(args: argparse.Namespace) -> int:
    if args.out and len(args.plans) > 1:
        raise UserError("--out saves one reviewed plan: give it one plan file")
    plans = [load_plan(path, args) for path in args.plans]  # every file checked first
    texts: list[str] = []
    changes = False
    for plan in plans:
        text, changed = _one(plan, args)
        texts.append(text)
        changes = changes or changed
    if args.format == "json" and len(texts) > 1:
        sys.stdout.write("[\n" + ",\n".join(t.rstrip("\n") for t in texts) + "\n]\n")
    else:
        sys.stdout.write("\n".join(texts))
    return EXIT_CHANGES if args.detailed_exitcode and changes else EXIT_OK


def _one(plan: Plan, args: argparse.Namespace) -> tuple[str, bool]:
    """One plan's text, and whether it would change anything."""
    if args.offline:
        if args.out:
            raise UserError("--out saves live fingerprints: it cannot be used with --offline")
        if args.change_sets:
            raise UserError("--change-sets asks CloudFormation: it cannot be used with --offline")
        text = {
            "text": planview.render_text,
            "markdown": planview.render_markdown,
            "json": planview.render_json,
        }[args.format](plan)
        return text, any(step.mutating for step in plan.steps)
    from deployctl.actions.registry import load_backend  # noqa: PLC0415 - AWS only when online
    from deployctl.execute.observe import observe  # noqa: PLC0415

    backend = load_backend(profile=args.profile, region=args.region, endpoint_url=args.endpoint_url)
    observed = observe(plan, backend.registry)
    diff = diffview.build(plan, observed)
    if args.change_sets:
        diff = diffview.build(plan, observed, _change_sets(plan, backend.registry, observed, diff))
    if args.format == "text":
        text = diffview.render_text(diff, colour=_colour())
    elif args.format == "markdown":
        text = diffview.render_markdown(diff)
    else:
        text = diffview.render_json(diff)
    if args.out:
        from deployctl.preview.planfile import save  # noqa: PLC0415

        try:
            save(args.out, plan, observed)
        except OSError as exc:
            raise UserError(f"--out {args.out}: {exc.strerror}") from None
    return text, bool(diff.changes)
