"""Keeps secret values out of everything Glassbox prints or logs.

Every secret is read through :meth:`glassbox.config.Config.secret`, which registers its value here;
the CLI's log handler and its error lines pass text through :func:`redact`. This is the second line
of defence: our own messages never include secrets, but a client library's debug log might.
"""

from __future__ import annotations

import logging

MASK = "***"
_MIN_LENGTH = 4  # shorter values would mask ordinary words
_secrets: set[str] = set()


def register(value: str) -> None:
    """Remember ``value`` so it is masked wherever it would be printed."""
    if len(value) >= _MIN_LENGTH:
        _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter that masks secrets in every record, whichever library logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            record.msg = redact(record.getMessage())
            record.args = None
            if record.exc_text:
                record.exc_text = redact(record.exc_text)
        return True
