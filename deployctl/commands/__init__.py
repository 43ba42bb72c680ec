"""One module per subcommand; each exposes ``register(subparsers, common)``."""

from deployctl.commands import (
    apply,
    approve,
    completion,
    db,
    flags,
    graph,
    plan,
    report,
    resume,
    rollback,
    runs,
    schema,
    status,
    unlock,
    validate,
)

COMMANDS = [validate, plan, graph, schema, flags, db]
COMMANDS += [apply, resume, status, runs, approve, rollback, unlock, report, completion]
