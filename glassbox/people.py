"""Who did something: maps raw identities from every source to a person's name and side.

Resolution happens when reading, never when syncing, so fixing the ``[[people]]`` table in the
config takes effect at once without a re-sync.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from glassbox.config import Person

UNKNOWN_ACTOR = "(unknown)"


@dataclass(frozen=True)
class Identity:
    name: str
    side: str


class Directory:
    """The ``[[people]]`` table as a lookup from any identity (case-insensitive) to an :class:`Identity`."""

    def __init__(self, people: Iterable[Person]) -> None:
        self._by_id: dict[str, Identity] = {}
        for person in people:
            identity = Identity(person.name, person.side)
            for raw in (person.name, *person.ids):
                self._by_id.setdefault(raw.casefold(), identity)

    def resolve(self, actor: str | None, actor_ids: Iterable[str] = ()) -> Identity:
        """The person behind ``actor`` (or any of ``actor_ids``); unlisted bots by their ``[bot]`` login.

        Unlisted identities are team members, per SPEC §1: the client names its own people.
        """
        for raw in (actor, *actor_ids):
            if raw and (found := self._by_id.get(raw.casefold())):
                return found
        if actor and actor.casefold().endswith("[bot]"):
            return Identity(actor, "bot")
        return Identity(actor or UNKNOWN_ACTOR, "team")
