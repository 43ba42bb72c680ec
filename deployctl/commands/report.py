"""``deployctl report RUN_ID --format markdown|html|json``: a run's timeline,
with charts of traffic and of each gated metric against its limit."""

from __future__ import annotations

import argparse
import sys

from deployctl.errors import EXIT_OK, UserError
from deployctl.execute import timeline
from deployctl.execute.store import open_store
from deployctl.execute.stored import plan_from_json
from deployctl.output import runreport
from deployctl.output.redact import Redactor

FORMATS = ("markdown", "html", "json")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "report", parents=[common], help="a run's timeline and charts (markdown, html, json)"
    )
    parser.add_argument("run_id", metavar="RUN_ID", nargs="?", help="default: the newest run")
    parser.add_argument("--format", choices=FORMATS, default="markdown")
    parser.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    journal = open_store(
        args.state_dir, profile=args.profile, region=args.region, endpoint_url=args.endpoint_url
    ).journal()
    try:
        run_id = args.run_id
        if run_id is None:
            runs = journal.runs()
            if not runs:
                raise UserError(f"no runs in {args.state_dir}")
            run_id = runs[0].run_id
        info = journal.get_run(run_id)
        plan = plan_from_json(
            journal.plan_json(run_id), info.source, info.digest, allow_redacted=True
        )
        records = journal.records(run_id)
    finally:
        journal.close()
    tl = timeline.build(plan, records, info)
    redact = Redactor(plan.secret_values)
    if args.format == "json":
        text = runreport.render_json(tl, info, redact)
    elif args.format == "markdown":
        text = runreport.render_markdown(tl, records, redact)
    else:
        try:
            import matplotlib  # noqa: F401, PLC0415 - the report extra
        except ImportError:
            raise UserError(
                "--format html draws its charts with matplotlib: "
                "pip install 'deployctl[report]' (or --format markdown)"
            ) from None
        text = runreport.render_html(tl, records, redact)
    if args.out:
        try:
            with open(args.out, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise UserError(f"--out {args.out}: {exc.strerror}") from None
    else:
        sys.stdout.write(text)
    return EXIT_OK
