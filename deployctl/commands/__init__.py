"""One module per subcommand; each exposes ``register(subparsers, common)``."""

from deployctl.commands import graph, plan, schema, validate

COMMANDS = [validate, plan, graph, schema]
