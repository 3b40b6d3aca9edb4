"""What each write changed, by quarter-hour and view (``event_changes``): a closed week's figures are kept while
no write changed anything of the time before its end (``Store.changed_before``), on both backends."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from glassbox import schema
from glassbox.events import Event, Ref, Tombstone, event_id
from glassbox.store import Store
from glassbox.views import View
from glassbox.visibility import ThreadRule

WEEK_END = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # Monday 23 Nov, midnight in New York
LAST_WEEK = WEEK_END - timedelta(days=3)
THIS_WEEK = WEEK_END + timedelta(days=2)


def comment(n: int, at: datetime, body: str = "looks good") -> Event:
    return Event(id=event_id("github", "acme/churn", f"comment-{n}"), source="github", origin="acme/churn",
                 category="comment", occurred_at=at, actor="carol", thread="acme/churn#7", title=f"comment {n}",
                 body=body, refs=(Ref("ticket", "CHURN-1"),))


def ticket(key: str, at: datetime, labels: tuple[str, ...] = ()) -> Event:
    return Event(id=event_id("jira", "https://jira.example", f"{key}-created"), source="jira",
                 origin="https://jira.example", category="ticket_created", occurred_at=at, actor="carol",
                 thread=key, title=f"{key} a ticket", labels=labels)


def marks(store: Store) -> tuple[int, int]:
    """Last week's marks in both views: what a cached report of the week ending at WEEK_END is keyed by."""
    return store.changed_before(WEEK_END, View.TEAM), store.changed_before(WEEK_END, View.CLIENT)


def test_a_store_without_writes_has_changed_nothing(store: Store) -> None:
    assert marks(store) == (0, 0)


def test_writing_last_weeks_events_changes_last_week_in_both_views(store: Store) -> None:
    store.write([comment(1, LAST_WEEK)])
    first = marks(store)
    assert 0 not in first
    store.write([comment(1, LAST_WEEK, body="edited")])
    assert marks(store)[0] > first[0] and marks(store)[1] > first[1]


def test_writing_only_newer_events_leaves_last_week_as_it_was(store: Store) -> None:
    store.write([comment(1, LAST_WEEK)])
    before = marks(store)
    store.write([comment(2, THIS_WEEK)])
    store.write([comment(2, THIS_WEEK, body="edited")])
    store.write([], [Tombstone(comment(2, THIS_WEEK).id)])
    assert marks(store) == before
    assert store.changed_before(THIS_WEEK + timedelta(days=1), View.TEAM) > before[0]


def test_rewriting_unchanged_events_changes_nothing(store: Store) -> None:
    store.write([comment(1, LAST_WEEK)])
    before = marks(store)
    assert store.write([comment(1, LAST_WEEK)]).updated == 0
    assert marks(store) == before


def test_an_event_moved_out_of_last_week_or_deleted_from_it_changes_it(store: Store) -> None:
    store.write([comment(1, LAST_WEEK), comment(2, LAST_WEEK)])
    before = marks(store)
    store.write([comment(1, THIS_WEEK)])  # its old time was last week's
    moved = marks(store)
    assert moved[0] > before[0]
    store.write([], [Tombstone(comment(2, LAST_WEEK).id)])
    assert marks(store)[0] > moved[0]


def test_a_change_on_the_day_a_week_ended_counts_for_it_only_before_its_end(store: Store) -> None:
    """Last week ended at 05:00 UTC (midnight in New York): Monday's syncs after that leave it as it
    was, while a change in its last minutes counts. Changes are marked by their UTC quarter-hour,
    and every zone's midnight starts one."""
    store.write([comment(1, LAST_WEEK)])
    before = marks(store)
    store.write([comment(2, WEEK_END + timedelta(minutes=1))])
    store.write([comment(3, WEEK_END + timedelta(hours=18, minutes=40))])
    assert marks(store) == before
    store.write([comment(4, WEEK_END - timedelta(minutes=1))])
    assert marks(store)[0] > before[0]


def test_a_change_counts_for_a_zone_whose_midnight_is_on_the_half_hour(store: Store) -> None:
    """Kolkata is UTC+5:30: its week ends at 18:30 UTC on Sunday."""
    week_end = datetime(2026, 11, 22, 18, 30, tzinfo=UTC)
    store.write([comment(1, week_end - timedelta(days=2))])
    before = store.changed_before(week_end, View.TEAM)
    store.write([comment(2, week_end + timedelta(minutes=5))])
    assert store.changed_before(week_end, View.TEAM) == before
    store.write([comment(3, week_end - timedelta(minutes=5))])
    assert store.changed_before(week_end, View.TEAM) > before


def test_a_new_jira_ticket_of_this_week_changes_the_clients_whole_history_not_the_teams(store: Store) -> None:
    """A ticket's project or labels can make its thread internal, hiding every event naming it — of
    any date — from the client; the team sees every event by its own date."""
    store.write([comment(1, LAST_WEEK)])
    before = marks(store)
    store.write([ticket("CHURN-9", THIS_WEEK)])
    team, client = marks(store)
    assert team == before[0] and client > before[1]


def test_with_the_configs_rule_only_a_ticket_it_hides_changes_the_clients_whole_history(store: Store) -> None:
    """A sync knows the config (``readmodel.attach``): a new ticket of a project the client sees, without
    an internal label, changes the client's history from its own date only, as the team's."""
    store.hides_thread = ThreadRule(labels=frozenset({"internal"}), projects=frozenset({"OPS"})).hides
    store.write([comment(1, LAST_WEEK)])
    before = marks(store)
    store.write([ticket("CHURN-9", THIS_WEEK), ticket("CHURN-10", THIS_WEEK, labels=("bug",))])
    assert marks(store) == before
    store.write([ticket("OPS-1", THIS_WEEK)])
    assert marks(store)[0] == before[0] and marks(store)[1] > before[1]
    after_ops = marks(store)
    store.write([ticket("CHURN-11", THIS_WEEK, labels=("Internal",))])
    assert marks(store)[1] > after_ops[1]


def test_relabelling_a_ticket_changes_the_clients_history_and_retitling_it_does_not(store: Store) -> None:
    store.write([ticket("CHURN-9", THIS_WEEK)])
    labelled = ticket("CHURN-9", THIS_WEEK, labels=("internal",))
    store.write([labelled])
    before = marks(store)
    store.write([replace(labelled, title="CHURN-9 renamed")])
    assert marks(store) == before
    store.write([ticket("CHURN-9", THIS_WEEK)])  # the label taken off
    assert marks(store)[1] > before[1] and marks(store)[0] == before[0]


def test_the_table_holds_one_row_per_changed_quarter_hour_and_view(store: Store) -> None:
    for n in range(6):
        store.write([comment(n, LAST_WEEK + timedelta(minutes=2 * n))])  # all in one quarter-hour
    store.write([comment(7, LAST_WEEK + timedelta(minutes=20))])  # the next one
    with store.engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(schema.event_changes)).scalar_one()
    assert rows == 4  # two quarter-hours, once per view


def test_the_last_change_moves_with_every_changing_write_and_with_no_other(store: Store) -> None:
    """The dashboard's store version (``loaders.version``): an insert, an edit of an old event and a
    deletion each move it; a sync that sends the same events again, or nothing, leaves it."""
    assert store.last_change() == 0
    seen = []
    for write in ([comment(1, LAST_WEEK)], [comment(2, THIS_WEEK)], [comment(1, LAST_WEEK, body="edited")]):
        store.write(write)
        seen.append(store.last_change())
    store.write([], [Tombstone(comment(2, THIS_WEEK).id)])
    seen.append(store.last_change())
    assert seen == sorted(set(seen)) and seen[0] > 0  # each one later than the one before
    store.write([comment(1, LAST_WEEK, body="edited")])
    store.write([])
    assert store.last_change() == seen[-1]


def test_each_engagement_has_its_own_last_change(store: Store) -> None:
    other = store.scoped("other")
    store.write([comment(1, LAST_WEEK)])
    assert other.last_change() == 0
    other.write([comment(1, LAST_WEEK)])
    assert other.last_change() > store.last_change() > 0
