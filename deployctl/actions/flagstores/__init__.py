"""Feature-flag stores behind one interface (:class:`FlagBackend`, in
``api.py``), one module per store; ``flag.set`` (actions/flagstore.py) picks
one by the step's ``store.kind``."""

from __future__ import annotations

from deployctl.actions.flagstores.api import ClientFactory, FlagBackend
from deployctl.actions.flagstores.appconfig import AppConfigFlags
from deployctl.actions.flagstores.ssm import SsmFlags

BACKENDS: dict[str, type[FlagBackend]] = {"ssm": SsmFlags, "appconfig": AppConfigFlags}

__all__ = ["BACKENDS", "ClientFactory", "FlagBackend"]
