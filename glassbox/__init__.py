"""Glassbox: one timeline of an outsourced AI/ML engagement, for the client who pays for it."""

__version__ = "0.1.0"
