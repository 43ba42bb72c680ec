"""Plan files in, frozen manifests out: see :func:`load_file`."""

from deployctl.manifest.load import LoadOptions, load_file, load_text

__all__ = ["LoadOptions", "load_file", "load_text"]
