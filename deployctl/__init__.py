"""deployctl: declarative deployment plans for AWS."""

from __future__ import annotations


def _installed_version() -> str:
    # importlib.metadata costs ~80 ms to import: only ``--version`` and the
    # User-Agent of AWS calls and smoke tests ask, so it is looked up then.
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("deployctl")  # from the git tag at build time (hatch-vcs)
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> str:
    """``deployctl.__version__``, read from the installed metadata on first use."""
    if name == "__version__":
        value = _installed_version()
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module 'deployctl' has no attribute {name!r}")
