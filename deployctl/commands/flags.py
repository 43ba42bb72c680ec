"""``deployctl flags eval FILE FLAG USER``: what the application will decide."""

from __future__ import annotations

import argparse

from deployctl.commands._load import load_manifests
from deployctl.errors import EXIT_OK, UserError
from deployctl.flags import explain
from deployctl.manifest.model import Deployment, FeatureFlags, Flag


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("flags", help="feature flags")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    ev = verbs.add_parser(
        "eval", parents=[common], help="evaluate a flag for a user, as the app will"
    )
    ev.add_argument("file", metavar="FILE")
    ev.add_argument("flag", metavar="FLAG")
    ev.add_argument("user", metavar="USER")
    ev.add_argument(
        "--bucket-by", metavar="ATTR", help="hash this attribute instead of the user id"
    )
    ev.add_argument(
        "--attr", action="append", default=[], metavar="KEY=VALUE", help="a user attribute"
    )
    ev.set_defaults(run=run_eval)


def _find(path: str, name: str, args: argparse.Namespace) -> Flag:
    flags: dict[str, Flag] = {}
    for doc in load_manifests(path, args):
        if isinstance(doc, (FeatureFlags, Deployment)):
            flags.update({f.name: f for f in doc.flags})
    if name not in flags:
        known = ", ".join(sorted(flags)) or "none"
        raise UserError(f"{path}: no flag {name!r} (flags: {known})")
    return flags[name]


def run_eval(args: argparse.Namespace) -> int:
    flag = _find(args.file, args.flag, args)
    attributes = dict(item.partition("=")[::2] for item in args.attr)
    context = {"bucket_by": args.bucket_by, "attributes": attributes} if args.bucket_by else None
    on, why = explain(flag, args.user, context)
    print(f"{args.flag} for {args.user}: {'on' if on else 'off'} ({why})")
    return EXIT_OK
