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

from sqlalchemy import Column, DateTime, String, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from glassbox import schema
from glassbox.store import Store

notifications_sent = Table(
    "notifications_sent",
    schema.metadata,
    Column("engagement", String(64), primary_key=True),
    Column("notify", String(128), primary_key=True),
    Column("kind", String(16), primary_key=True),  # a glassbox.notify.kinds.Send
    Column("key", String(512), primary_key=True),  # the day, the ISO week, or the alert's own key
    Column("sent_at", DateTime(timezone=True), nullable=False),
)


class Ledger:
    """The sent records of one engagement in ``store``; creates its table in a store made before it existed."""

    def __init__(self, store: Store, engagement: str) -> None:
        self.store = store
        self.engagement = engagement
        with store.engine.begin() as conn:
            notifications_sent.create(conn, checkfirst=True)

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
