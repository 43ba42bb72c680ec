"""Pure compilation: manifests in, a :class:`Plan` (DAG of steps) out.  No boto3 here."""

from deployctl.plan.compile import compile_plan

__all__ = ["compile_plan"]
