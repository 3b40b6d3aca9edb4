"""The week's note (SPEC §5): the PM's own words for the client — highlights, decisions needed, next week.

Figures say what happened; they cannot say what the team needs the client to decide. The note is
written by the team (``python -m glassbox note`` or the Weekly report page in the team view), kept
in the store by ISO week, and shown first in every report format and view, because it is written
for the client. It is plain text the team wrote: every format quotes it inertly (escaped Markdown,
escaped HTML), never as markup.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from glassbox.errors import ConfigError

MAX_NOTE_CHARS = 20_000  # a page of prose; anything longer is a document, not a week's note


@dataclass(frozen=True)
class WeekNote:
    """A week's note and when it was last saved."""

    week: str  # the ISO week's label, 2026-W47
    text: str
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        """SPEC §5's ``note`` object."""
        return {"text": self.text, "updated_at": self.updated_at.isoformat()}


def clean_note(text: str, where: str) -> str:
    """The text to store: trailing whitespace trimmed, control characters but newlines and tabs removed.

    Raises :class:`ConfigError` naming ``where`` when the note is longer than :data:`MAX_NOTE_CHARS`.
    An empty result clears the week's note.
    """
    kept = "".join(ch for ch in text.replace("\r\n", "\n") if ch in "\n\t" or ch.isprintable())
    kept = "\n".join(line.rstrip() for line in kept.strip().split("\n"))
    if len(kept) > MAX_NOTE_CHARS:
        raise ConfigError(f"{where}: the note has {len(kept):,} characters — keep it under {MAX_NOTE_CHARS:,}")
    return kept


def read_note_file(name: str) -> str:
    """The note in file ``name`` (``-`` for standard input), as UTF-8 text, for :func:`clean_note`."""
    if name == "-":
        return sys.stdin.read()
    path = Path(name)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"--file {name}: no such file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--file {name}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"--file {name}: cannot read it ({exc.strerror})") from None
