"""The contracts every other package of deployctl imports, importing none of them.

- :mod:`deployctl.core.plan`: the compiled plan (:class:`Plan`, :class:`Step`)
  and its JSON round trip: the planner's whole output, the executor's whole input.
- :mod:`deployctl.core.kinds`: the built-in step kinds (:class:`StepKind`).
- :mod:`deployctl.core.params`: one typed params class per built-in kind
  (``PARAMS``), which the planner writes and the actions read back.
- :mod:`deployctl.core.status`: run and step statuses, journal record types and
  gate verdicts, as ``StrEnum``s whose values are the strings the journal and
  the JSON output have always held.
- :mod:`deployctl.core.records`: the journal's records and runs.
- :mod:`deployctl.core.ports`: what the executor and the actions share (the
  action interface, the clock, the metrics source, the reporter, secret sources)
  and the :class:`Registry` of actions.
- :mod:`deployctl.core.refs`: runtime references (``${name}``).
- :mod:`deployctl.core.defaults`: default paths.

The layer picture and where each kind of change goes: docs/architecture.md.
An import-linter contract (``[tool.importlinter]`` in pyproject.toml) keeps
this package at the bottom.
"""
