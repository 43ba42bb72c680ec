"""Run a compiled plan on AWS Step Functions instead of a CI runner.

:mod:`.asl` translates a :class:`~deployctl.plan.api.Plan` into an Amazon
States Language definition (no AWS calls); :mod:`.iam` writes the least
privilege policy that definition needs.  This package sits above
:mod:`deployctl.execute` and below :mod:`deployctl.commands`: nothing in
``execute`` or ``actions`` imports it.
"""
