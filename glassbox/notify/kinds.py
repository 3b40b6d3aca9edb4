"""The kinds of notification a target may take and the kinds of alert: one home for both lists.

Enums, not strings: the config refuses a misspelt ``send`` entry, and a new alert (``model_regressed``,
issue #21) is one member here, which every message and ledger key then knows.
"""

from __future__ import annotations

from enum import StrEnum


class Send(StrEnum):
    """What a ``[[notify]]`` target receives (its ``send`` list)."""

    DIGEST = "digest"
    ALERTS = "alerts"
    WEEKLY = "weekly"


class AlertKind(StrEnum):
    """Every alert a notification can carry (SPEC §5 ``alerts`` and §8)."""

    METRIC_DROP = "metric_drop"
    AGREEMENT_BREACHED = "agreement_breached"
    SOURCE_FAILED = "source_failed"
    SOURCE_STALE = "source_stale"
