"""``deployctl db restore``: the seed's point-in-time restore, to a new database.

The source is never touched: RDS restores into a new instance (or cluster),
named ``<source>-restored-<time>`` unless ``--target`` says otherwise.
``--dry-run`` checks the source and the restorable window and says what it
would do.
"""

from __future__ import annotations

import argparse

from deployctl.errors import EXIT_OK


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("db", help="database operations")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    rs = verbs.add_parser(
        "restore", parents=[common], help="point-in-time restore into a new database"
    )
    source = rs.add_mutually_exclusive_group(required=True)
    source.add_argument("--instance", metavar="ID", help="RDS instance to restore from")
    source.add_argument("--cluster", metavar="ID", help="Aurora cluster to restore from")
    rs.add_argument("--time", required=True, metavar="ISO8601", help="e.g. 2024-01-20T10:00:00Z")
    rs.add_argument("--target", metavar="ID", help="name of the new database")
    rs.add_argument("--dry-run", action="store_true", help="check and show, change nothing")
    rs.set_defaults(run=run_restore)


def run_restore(args: argparse.Namespace) -> int:
    # boto3 only when a database is restored: other commands start faster.
    from deployctl.actions.aws import Clients  # noqa: PLC0415
    from deployctl.actions.rds import parse_time, plan_restore, restore  # noqa: PLC0415

    when = parse_time(args.time)
    clients = Clients(profile=args.profile, region=args.region, endpoint_url=args.endpoint_url)
    region = clients.region
    plan = plan_restore(
        clients,
        region,
        source=args.cluster or args.instance,
        cluster=bool(args.cluster),
        time=when,
        target=args.target,
    )
    if args.dry_run:
        print(f"would {plan.describe()}")
        return EXIT_OK
    target = restore(clients, region, plan)
    print(f"restoring: {plan.describe()}")
    print(f"the new database {target} is being created; the source is untouched")
    return EXIT_OK
