"""Keeps secrets and terminal control codes out of everything Glassbox prints, logs or stores.

Every secret is read through :meth:`glassbox.config.Config.secret`, which registers its value here,
and so is any ``user:password@`` written inside a source URL (see :func:`register_userinfo`); the
CLI's log handler and its error lines pass text through :func:`redact`. This is the second line of
defence: our own messages never include secrets, but a client library's debug log might.

:func:`one_line` is the one place a foreign text (an exception, an HTTP error body) becomes part of a
message a person reads: a source can answer with megabytes of HTML full of escape codes.
"""

from __future__ import annotations

import base64
import logging
import re
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"
_MIN_LENGTH = 4  # shorter values would mask ordinary words
MESSAGE_LIMIT = 500  # characters of a whole message (one line on a terminal or in a table cell)
QUOTE_LIMIT = 200  # characters of foreign text (an error body) quoted inside a message
_secrets: set[str] = set()

# ANSI/VT escape sequences (CSI ... final byte, OSC ... BEL/ST, and two-byte escapes), then any other
# C0/C1 control character or DEL.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
_SPACES = re.compile(r"[\t\n\v\f\r\x85\u2028\u2029]+")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


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


def without_userinfo(url: str) -> str:
    """``url`` without any ``user:password@`` part: the only form of a source URL that is stored or shown.

    Anything that is not a URL with an authority (a folder, ``sqlite:///…``) comes back unchanged.
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def register_userinfo(url: str) -> None:
    """Register the ``user:password`` of ``url``, its password alone and its Basic-auth form as secrets.

    The URL with them stays in memory for the client library; a library that logs it is masked.
    """
    userinfo = urlsplit(url).netloc.rpartition("@")[0]
    if not userinfo:
        return
    for value in {userinfo, unquote(userinfo)}:
        register(value)
        register(base64.b64encode(value.encode()).decode())
        password = value.partition(":")[2]
        if password:
            register(password)


def printable(text: str, *, spaces: str = " ") -> str:
    """``text`` with escape sequences and control characters removed, line breaks and tabs as ``spaces``."""
    text = _ESCAPES.sub("", text)
    return _CONTROLS.sub("", _SPACES.sub(spaces, text))


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` made fit for a message: secrets masked, one line, no control codes, at most ``limit`` characters."""
    text = " ".join(printable(redact(text)).split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


class RedactingFilter(logging.Filter):
    """A handler filter that masks secrets in every record, whichever library logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            record.msg = redact(record.getMessage())
            record.args = None
            if record.exc_text:
                record.exc_text = redact(record.exc_text)
        return True
