"""The ``notifications_sent`` table (SPEC §8): what each target was sent, on the store's metadata.

Its own module, imported by :mod:`glassbox.migrations` (so a new store creates it and an older one
gains it, schema version 4) and by :mod:`glassbox.notify.ledger`, which reads and writes it. It holds
a target's *name*, never its URL.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, String, Table

from glassbox.schema import metadata

notifications_sent = Table(
    "notifications_sent",
    metadata,
    Column("engagement", String(64), primary_key=True),
    Column("notify", String(128), primary_key=True),
    Column("kind", String(16), primary_key=True),  # a glassbox.notify.kinds.Send
    Column("key", String(512), primary_key=True),  # the day, the ISO week, or the alert's own key
    Column("sent_at", DateTime(timezone=True), nullable=False),
)
