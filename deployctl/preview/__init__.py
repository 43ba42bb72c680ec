"""What a run would do, before it runs: saved plans (``plan --out``, read back
by ``apply``) and their review of the live state.

Reading the live state and predicting each step (:mod:`deployctl.execute.observe`)
stays in the executor's layer: a reviewed run re-reads its resources through
it before each step.  This package sits above the executor and below the
output (docs/architecture.md).
"""
