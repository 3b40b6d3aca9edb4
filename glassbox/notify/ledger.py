"""What was sent, recorded in the store (SPEC §8): ``notifications_sent`` (engagement, notify, kind, key, sent_at).

Why a claim before the send: the row is inserted — guarded by the table's primary key — in the same
transaction that decides the message is due, *before* delivering it. Two ``notify`` runs at once
race on that insert and exactly one wins, so nobody receives a message twice. A failed delivery
deletes its claim, so the next run tries again. A crash between the claim and the delivery leaves a
claim with nothing delivered: we chose **at most once** — a missed digest is better than a
duplicate one in a client's inbox, and the dry run or the ledger shows what was recorded.

Only the notify *name* is stored, never a target's URL (a secret, from the environment).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from glassbox.notify.sent import notifications_sent
from glassbox.store import Store


class Ledger:
    """The sent records of one engagement in ``store`` (its table comes with the schema, version 5)."""

    def __init__(self, store: Store, engagement: str) -> None:
        self.store = store
        self.engagement = engagement

    def sent(self, notify: str) -> frozenset[tuple[str, str]]:
        """``(kind, key)`` of everything recorded for the target ``notify``."""
        table = notifications_sent
        query = select(table.c.kind, table.c.key).where(table.c.engagement == self.engagement,
                                                         table.c.notify == notify)
        with self.store.engine.connect() as conn:
            return frozenset((kind, key) for kind, key in conn.execute(query))

    def claim(self, notify: str, kind: str, keys: Iterable[str], at: datetime) -> list[str]:
        """Record ``keys`` as sent, in one transaction; returns those this call recorded (not already there).

        A key another run recorded first is left out, so that run alone delivers it.
        """
        keys = list(dict.fromkeys(keys))
        if not keys:
            return []
        dialect = postgresql if self.store.dialect == "postgresql" else sqlite
        won = []
        with self.store.engine.begin() as conn:
            for key in keys:
                statement = dialect.insert(notifications_sent).values(
                    engagement=self.engagement, notify=notify, kind=kind, key=key,
                    sent_at=at.astimezone(UTC)).on_conflict_do_nothing().returning(notifications_sent.c.key)
                if conn.execute(statement).first() is not None:  # a row came back: this call inserted it
                    won.append(key)
        return won

    def release(self, notify: str, kind: str, keys: Iterable[str]) -> None:
        """Forget claims whose delivery failed, so the next run sends them again."""
        table = notifications_sent
        with self.store.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.engagement == self.engagement, table.c.notify == notify,
                                             table.c.kind == kind, table.c.key.in_(list(keys))))
