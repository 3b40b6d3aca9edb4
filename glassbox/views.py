"""The two views of an engagement, as a type: the team's (everything) and the client's (SPEC §5).

Why a type: the view decides what a client may see, so a misspelt view must be an error, never
quietly the team view. Every boundary (the CLI, the dashboard, sign-in, :func:`load_timeline`) turns
text into a :class:`View` with :func:`parse_view`, and the core compares members, not strings.
"""

from __future__ import annotations

from enum import StrEnum

from glassbox.errors import ConfigError


class View(StrEnum):
    TEAM = "team"
    CLIENT = "client"


def parse_view(value: str) -> View:
    """``value`` as a :class:`View`; anything else is a one-line error naming it (fails closed)."""
    try:
        return View(value)
    except ValueError:
        raise ConfigError(f"view {value!r}: expected one of {', '.join(View)}") from None
