"""Plan file -> list of manifests: parse, validate, render, build.

All problems in a file are collected and raised together as one
:class:`UserError`, so ``deployctl validate`` reports everything at once.
No problem shows a secret: a document's diagnostics are redacted with its
secret vars, its secret ``env()`` values and its credential-looking values.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any

from deployctl import files
from deployctl.core.frozen import Frozen, frozen
from deployctl.diagnostics import Diagnostic
from deployctl.errors import UserError
from deployctl.gcpause import paused_gc
from deployctl.manifest import kinds
from deployctl.manifest import model as m
from deployctl.manifest.build import Builder, header
from deployctl.manifest.names import check_names
from deployctl.manifest.paths import PathRule, check_paths
from deployctl.manifest.refs import StepRefs, check_runtime_refs
from deployctl.manifest.render import RenderBudget, Renderer
from deployctl.manifest.schema import validate
from deployctl.manifest.secrets import credential_values, looks_secret
from deployctl.manifest.yamlload import Document, load_documents
from deployctl.secrets import Redactor


@frozen
class LoadOptions(Frozen):
    """What the command line adds to a plan file."""

    vars: Mapping[str, Any] = field(default_factory=dict)  # --var, highest precedence
    vars_files: tuple[str, ...] = ()
    region: str | None = None
    environ: Mapping[str, str] | None = None  # for env("NAME"); default os.environ
    environment: str | None = None  # overrides metadata.environment (pipelines)
    allowed_paths: tuple[str, ...] = ()  # --allow-path: folders outside the repository
    root: str | None = None  # the plan's repository; found from the plan file when None


def _read(path: str, what: str = "plan file") -> str:
    raw = files.read(path, files.MAX_PLAN_BYTES, what)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        message = f"not UTF-8: byte 0x{raw[exc.start]:02x} is not valid here ({exc.reason})"
        raise UserError([Diagnostic(path, line, col, message)]) from None


def _vars_files(paths: tuple[str, ...]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in paths:
        docs = load_documents(_read(path, "vars file"), path)
        for doc in docs:
            if not isinstance(doc.data, dict):
                raise UserError(
                    [doc.marks.diag((), "a vars file must be a mapping of names to values")]
                )
            merged.update(doc.data)
    return merged


def load_file(path: str, options: LoadOptions | None = None) -> list[m.Manifest]:
    return load_text(_read(path), path, options or LoadOptions())


def load_text(text: str, file: str, options: LoadOptions | None = None) -> list[m.Manifest]:
    with paused_gc():
        return _load_text(text, file, options or LoadOptions())


def _load_text(text: str, file: str, options: LoadOptions) -> list[m.Manifest]:
    extra = {**_vars_files(options.vars_files), **options.vars}
    out: list[m.Manifest] = []
    errors: list[Diagnostic] = []
    budget = RenderBudget()  # one for the whole file: more documents are not more time
    root = options.root or files.repository_root(file)
    rule = PathRule(os.path.dirname(file), (root, *options.allowed_paths))
    # An empty document (e.g. after a trailing ---) is skipped, not an error.
    docs = [doc for doc in load_documents(text, file) if doc.data is not None]
    if not docs:
        raise UserError([Diagnostic(file, 1, 1, "the file holds no plan document")])
    for doc in docs:
        try:
            out.append(_load_document(doc, file, options, extra, budget, rule))
        except UserError as exc:
            errors.extend(exc.diagnostics)
    if errors:
        raise UserError(errors)
    return out


def _hidden(diagnostics: Sequence[Diagnostic], redact: Redactor) -> list[Diagnostic]:
    return [
        dataclasses.replace(
            d,
            message=redact(d.message),
            source=None if d.source is None else redact(d.source),
        )
        for d in diagnostics
    ]


def _secret_vars(data: dict[str, Any], variables: Mapping[str, Any]) -> list[str]:
    """The values of the vars named under ``secrets:`` or with a credential-looking name
    (before the schema has run too: then ``secrets:`` may be anything)."""
    listed = data.get("secrets")
    names = {k for k in listed if isinstance(k, str)} if isinstance(listed, list) else set()
    names |= {k for k in variables if looks_secret(k)}
    values = (variables[k] for k in names if k in variables)
    return [str(v) for v in values if v is not None and not isinstance(v, dict | list)]


def _load_document(
    doc: Document,
    file: str,
    options: LoadOptions,
    extra: dict[str, Any],
    budget: RenderBudget,
    rule: PathRule,
) -> m.Manifest:
    if not isinstance(doc.data, dict):
        raise UserError(
            [
                doc.marks.diag(
                    (), "a plan document must be a mapping (apiVersion, kind, metadata, ...)"
                )
            ]
        )
    # What this document must never show, learnt as rendering goes.
    hide = Redactor(credential_values(doc.data))
    literal = doc.data.get("vars")
    hide.add(*_secret_vars(doc.data, {**(literal if isinstance(literal, dict) else {}), **extra}))
    try:
        return _checked_document(doc, file, options, extra, budget, rule, hide)
    except UserError as exc:
        raise UserError(_hidden(exc.diagnostics, hide)) from None


def _checked_document(
    doc: Document,
    file: str,
    options: LoadOptions,
    extra: dict[str, Any],
    budget: RenderBudget,
    rule: PathRule,
    hide: Redactor,
) -> m.Manifest:
    assert isinstance(doc.data, dict)
    data = dict(doc.data)
    if options.environment and isinstance(data.get("metadata"), dict):
        data["metadata"] = {**data["metadata"], "environment": options.environment}
    errors: list[Diagnostic] = []
    # Render first, then validate: a template may stand where the schema wants
    # a number, a boolean or an enum, and a rendered value is checked as such.
    base = Renderer({}, options.environ, budget)
    literal = data.get("vars")
    own = literal if isinstance(literal, dict) else {}
    for name, value in own.items():
        # metadata is rendered with the vars: a var that reads metadata is a cycle.
        if isinstance(value, str) and {"metadata"} & base.names(value):
            errors.append(
                doc.marks.diag(
                    ("vars", name),
                    f"var {name!r} uses metadata, and metadata is rendered with the vars: "
                    f"a cycle (vars.{name} -> metadata -> vars.{name}); write the value "
                    "instead, or pass it with --var",
                )
            )
    cyclic = {str(d.path[1]) for d in errors}
    own_rendered = {
        name: base.render(value, doc.marks, ("vars", name), errors)
        for name, value in own.items()
        if name not in cyclic
    }
    variables = {**own_rendered, **extra}
    if literal is not None and not isinstance(literal, dict):
        variables = dict(extra)
    listed = data.get("public_env")
    public = {n for n in listed if isinstance(n, str)} if isinstance(listed, list) else set()
    hide.add(*_secret_vars(data, variables))
    meta_renderer = Renderer({**variables, "vars": variables}, options.environ, budget)
    meta_errors: list[Diagnostic] = []
    metadata = meta_renderer.render(data.get("metadata"), doc.marks, ("metadata",), meta_errors)
    # A use of a var refused above is that error again, not a new one.
    said = tuple(f"'{name}' is undefined" for name in cyclic if name not in extra)
    repeated = [d for d in meta_errors if said and any(s in d.message for s in said)]
    errors += [d for d in meta_errors if d not in repeated]
    renderer = Renderer(
        {**variables, "vars": variables, "metadata": metadata}, options.environ, budget
    )
    hide.add(
        *(v for k, v in {**base.env_reads, **meta_renderer.env_reads}.items() if k not in public)
    )
    rendered = {
        key: value
        if key in ("vars", "metadata")
        else renderer.render(value, doc.marks, (key,), errors)
        for key, value in data.items()
    }
    if "metadata" in data:
        rendered["metadata"] = metadata
    if isinstance(literal, dict) or "vars" not in data:
        rendered["vars"] = variables
    templates = {**base.templates, **meta_renderer.templates, **renderer.templates}
    # A value that did not render is not a name yet, nor checked by the schema.
    failed = {d.path for d in errors + repeated}
    problems = validate(rendered, doc.marks, templates, failed)
    if problems:
        raise UserError(sorted(set(errors + problems)))
    reads = {**base.env_reads, **meta_renderer.env_reads, **renderer.env_reads}
    env_secrets = tuple(sorted({v for k, v in reads.items() if k not in public and v}))
    hide.add(*env_secrets, *credential_values(rendered))
    step_refs: StepRefs = []
    for key, value in rendered.items():
        if key != "vars":
            check_runtime_refs(value, doc.marks, (key,), errors, step_refs)
    errors += check_names(rendered, doc.marks, failed)
    errors += check_paths(rendered, doc.marks, rule, failed)
    if errors:
        raise UserError(errors)
    source = m.Source(file, doc.index, doc.marks)
    head = header(rendered, source, options.region, env_secrets, tuple(step_refs))
    builder = Builder(rendered, head)
    manifest = _build(builder, file, dataclasses.replace(options, root=rule.roots[0]))
    if builder.check.errors:
        raise UserError(builder.check.errors)
    return manifest


def _build(b: Builder, file: str, options: LoadOptions) -> m.Manifest:
    kind = b.data["kind"]
    if kind == "Deployment":
        return kinds.deployment(b)
    if kind == "FeatureFlags":
        return kinds.feature_flags(b)
    if kind == "Migration":
        return kinds.migration(b)
    return kinds.pipeline(b, _pipeline_children(b, file, options))


def _pipeline_children(
    b: Builder, file: str, options: LoadOptions
) -> tuple[tuple[m.Manifest, ...], ...]:
    child = os.path.normpath(os.path.join(os.path.dirname(file), b.data["plan"]))
    if os.path.abspath(child) == os.path.abspath(file):
        b.check.error(("plan",), "a pipeline cannot run itself")
        return ()
    if not os.path.isfile(child):
        b.check.error(("plan",), f"plan file {child!r} not found")
        return ()
    out = []
    for env in b.data["environments"]:
        env_options = LoadOptions(
            vars={**(env.get("vars") or {}), **options.vars},
            vars_files=options.vars_files,
            region=options.region,
            environ=options.environ,
            environment=env["name"],
            allowed_paths=options.allowed_paths,
            root=options.root,  # the pipeline's repository holds its plan's files too
        )
        manifests = load_file(child, env_options)
        if any(isinstance(x, m.Pipeline) for x in manifests):
            b.check.error(("plan",), "a pipeline's plan cannot itself be a pipeline")
            return ()
        out.append(tuple(manifests))
    return tuple(out)
