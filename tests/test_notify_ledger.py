"""The ledger of sent notifications on both stores: a key is claimed once, and a released claim can be claimed again."""

from __future__ import annotations

from datetime import UTC, datetime

from glassbox.notify.ledger import Ledger
from glassbox.store import Store

AT = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


def test_a_key_is_claimed_once_per_engagement_and_target(store: Store) -> None:
    ledger = Ledger(store, "acme")
    assert ledger.claim("acme-mail", "digest", ["2026-11-02"], AT) == ["2026-11-02"]
    assert ledger.claim("acme-mail", "digest", ["2026-11-02"], AT) == []  # a second run loses the race
    assert ledger.claim("team-chat", "digest", ["2026-11-02"], AT) == ["2026-11-02"]  # another target
    assert Ledger(store, "beta").claim("acme-mail", "digest", ["2026-11-02"], AT) == ["2026-11-02"]
    assert ledger.sent("acme-mail") == frozenset({("digest", "2026-11-02")})


def test_a_released_claim_is_due_again(store: Store) -> None:
    ledger = Ledger(store, "acme")
    assert ledger.claim("acme-mail", "alerts", ["metric_drop:a", "metric_drop:b"], AT) == ["metric_drop:a",
                                                                                           "metric_drop:b"]
    ledger.release("acme-mail", "alerts", ["metric_drop:a"])
    assert ledger.sent("acme-mail") == frozenset({("alerts", "metric_drop:b")})
    assert ledger.claim("acme-mail", "alerts", ["metric_drop:a", "metric_drop:b"], AT) == ["metric_drop:a"]
