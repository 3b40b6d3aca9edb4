"""The few error types that cross module boundaries, each carrying a message a user can act on.

The CLI prints ``str(error)`` as one line and maps the type to an exit status; nothing else about
an error is shown, so messages must be complete and must never contain a secret.
"""

from __future__ import annotations


class GlassboxError(Exception):
    """Base of every error Glassbox reports to a user as one line."""


class ConfigError(GlassboxError):
    """The config file is missing, malformed or names something unusable (exit status 2)."""


class StoreUnavailable(GlassboxError):
    """The store cannot be opened: its server is down, its database or role missing, its file unwritable."""


class SourceError(GlassboxError):
    """A source could not be read; the message says what failed and what to do."""


class AuthError(SourceError):
    """The source rejected the credentials (HTTP 401/403)."""


class NotFound(SourceError):
    """The repository, project, experiment or server path does not exist (or is hidden from us)."""


class RateLimited(SourceError):
    """The source kept refusing for rate limits longer than we are willing to wait."""


class SourceUnavailable(SourceError):
    """The source did not answer, timed out, or kept failing with server errors."""


class StoreError(GlassboxError):
    """The store refused a read or write; the message names the store and what failed, never the SQL."""


class SyncLocked(GlassboxError):
    """Another sync holds the store's lock."""
