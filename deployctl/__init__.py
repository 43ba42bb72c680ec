"""deployctl: declarative deployment plans for AWS."""

__version__ = "0.1.0"
