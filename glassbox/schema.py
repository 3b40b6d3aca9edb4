"""The store's tables, shared by SQLite and PostgreSQL through SQLAlchemy Core.

``SCHEMA_VERSION`` is written to ``meta`` when a store is created; :mod:`glassbox.migrations`
upgrades an older store step by step, so a new release keeps existing data. Bump the version
whenever a table, column or index changes, and add the step that brings a version-(n-1) store there.

Versions: 1 the first release; 2 adds ``ix_events_category_occurred_at`` (the metrics, reports and
client view read one category at a time over a period); 3 changes no table but re-normalizes stored
Jira tickets (the status a ticket was created in, ``resolutiondate`` as a fallback resolution); 4 gives
every row an ``engagement`` (SPEC §6: one store for a whole workspace), part of each table's key, so
two engagements sharing a repository keep their own events, refs and cursors; 5 adds ``week_notes``
(the PM's words for a week's report), ``notifications_sent`` (defined in :mod:`glassbox.notify.sent`,
on this metadata) and the read model's derived tables (``rm_waits``), rebuilt from the events
(:mod:`glassbox.readmodel`); 6 adds the read model's per-day counts (``rm_days``), filled by the next
rebuild like ``rm_waits`` in 5; 7 adds the read model's runs (``rm_runs``), filled the same way; 8 adds each KPI's story
(``rm_kpi_runs``: every run's family result and the best so far), filled the same way, and indexes
``rm_runs`` by start and by parent (a period's runs and their families); 9 adds the run figures of the
week running at the last write (``rm_week_runs``, what a Portfolio row reads of its runs), filled the
same way, extends ``ix_rm_waits_ended`` by ``abandoned_at`` (the waits still open, one index range),
and indexes ``sync_runs`` by source and status (how each source stands, without every run ever); 10
adds ``event_changes``, the earliest day each write changed in each view (what a closed week's
figures depend on, so a sync of newer events leaves them cached).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

SCHEMA_VERSION = 11
ENGAGEMENT_LENGTH = 64

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# An event with labels, as each dialect writes it (the store serializes an empty list as "[]").
LABELLED = {"sqlite": "labels != '[]'", "postgresql": "labels::text <> '[]'"}
# The tickets the Jira sources created, one ``ticket_created`` each: their keys name the projects whose
# keys count as tickets. Literal, because a planner uses a partial index only for a query that repeats it.
JIRA_TICKETS = "source = 'jira' AND category = 'ticket_created'"

events = Table(
    "events",
    metadata,
    Column("engagement", String(ENGAGEMENT_LENGTH), primary_key=True),  # since version 4
    Column("id", String(40), primary_key=True),
    Column("source", String(16), nullable=False),
    Column("sources", JSON, nullable=False),  # every source that reported it (a commit: git and github)
    Column("origin", Text, nullable=False),
    Column("category", String(32), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("actor", Text),
    Column("actor_ids", JSON, nullable=False),
    Column("thread", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text),
    Column("url", Text),
    Column("labels", JSON, nullable=False),
    Column("attrs", JSON, nullable=False),
    Column("raw", JSON),
    Column("content_hash", String(40), nullable=False),
    Column("synced_at", DateTime(timezone=True), nullable=False),
    Index("ix_events_occurred_at", "occurred_at"),
    Index("ix_events_source_category", "source", "category"),
    Index("ix_events_engagement_occurred_at", "engagement", "occurred_at"),  # since version 4
    # since version 6, in place of (thread) and (category, occurred_at): every read names its engagement
    Index("ix_events_engagement_thread", "engagement", "thread"),
    Index("ix_events_engagement_category", "engagement", "category", "occurred_at"),
    # since version 6, SQLite only: the few labelled events (tickets and PRs) that decide what the client
    # view hides, covering, so its planner prefers it (PostgreSQL's has statistics, and no btree on json)
    Index("ix_events_labelled", "engagement", "category", "thread", "source", "labels",
          sqlite_where=text(LABELLED["sqlite"])).ddl_if(dialect="sqlite"),
    # since version 11: the Jira tickets' keys, covering (Store.jira_tickets): at 1M events their 50k
    # events cost 0.2 s to look up one by one, and every read of a timeline with Jira configured asked
    Index("ix_events_jira_tickets", "engagement", "category", "source", "thread",
          sqlite_where=text(JIRA_TICKETS), postgresql_where=text(JIRA_TICKETS)),
)

refs = Table(
    "refs",
    metadata,
    Column("event_id", String(40), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("value", String(128), primary_key=True),
    # since version 4; last in the key, so reading an engagement's refs scans them in the order they
    # were written (a message's order), as before, rather than in the key's sorted order
    Column("engagement", String(ENGAGEMENT_LENGTH), primary_key=True),
    Index("ix_refs_value", "value"),
    # since version 6: the commit refs shorter than a SHA (a run's short tag), few among a million
    Index("ix_refs_short_commit", "engagement", "value",
          sqlite_where=text("kind = 'commit' AND length(value) < 40"),
          postgresql_where=text("kind = 'commit' AND length(value) < 40")),
)

sync_state = Table(
    "sync_state",
    metadata,
    Column("engagement", String(ENGAGEMENT_LENGTH), primary_key=True),  # since version 4
    Column("source", String(16), primary_key=True),
    Column("origin", String(512), primary_key=True),
    Column("category", String(32), primary_key=True),
    Column("cursor", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# since version 10: per engagement and view, the earliest moment a write changed — since version 11 the
# start of its UTC quarter-hour, before the start of its UTC day — one row per such mark at most
# (Store.changed_before): a figure standing at a moment before it — a closed week's report — is
# unchanged by that write. AUTOINCREMENT: SQLite must never reuse a deleted id. A sync every few
# minutes adds up to 96 rows a day and view: ix_event_changes_latest finds the newest without a walk.
event_changes = Table(
    "event_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("engagement", String(ENGAGEMENT_LENGTH), nullable=False),
    Column("view", String(8), nullable=False),
    Column("earliest", DateTime(timezone=True), nullable=False),
    Index("ix_event_changes_earliest", "engagement", "view", "earliest"),
    Index("ix_event_changes_latest", "engagement", "id"),  # since version 11: Store.last_change
    sqlite_autoincrement=True,
)

FAILED_STATES = frozenset({"failed", "interrupted"})  # a sync run's statuses that count as its source failing

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("engagement", String(ENGAGEMENT_LENGTH), nullable=False),  # since version 4
    Column("source", String(16), nullable=False),
    Column("origin", Text, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(16), nullable=False),  # running | ok | one of FAILED_STATES
    Column("fetched", Integer, nullable=False, default=0),
    Column("new", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("deleted", Integer, nullable=False, default=0),
    Column("errors", Integer, nullable=False, default=0),
    Column("first_at", DateTime(timezone=True)),
    Column("last_at", DateTime(timezone=True)),
    Column("message", Text),
    Index("ix_sync_runs_source_origin", "source", "origin"),
    Index("ix_sync_runs_engagement", "engagement"),  # since version 4
    # since version 9: a source's newest run of a status, and its runs since one (Store.sync_runs)
    Index("ix_sync_runs_latest", "engagement", "source", "origin", "status", "id"),
    Index("ix_sync_runs_since", "engagement", "source", "origin", "id"),
)

week_notes = Table(  # since version 5: the week's note of SPEC §5, written by the team for the client
    "week_notes",
    metadata,
    Column("engagement", String(ENGAGEMENT_LENGTH), primary_key=True),
    Column("week", String(10), primary_key=True),  # an ISO week label, 2026-W47
    Column("text", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# -- the read model (since version 5): rows derived from the events, kept current by every sync ------
# Every derived row belongs to one engagement (part of its key) and one view: the client's rows are
# derived from the client view of the events, so a client query is a filter, not a recomputation.

rm_waits = Table(
    "rm_waits",
    metadata,
    Column("engagement", String(ENGAGEMENT_LENGTH), primary_key=True),
    Column("view", String(16), primary_key=True),
    Column("latency", String(32), primary_key=True),
    Column("thread", String(512), primary_key=True),
    Column("seq", Integer, primary_key=True),  # the wait's place among its thread's waits of this latency
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("abandoned_at", DateTime(timezone=True)),
    Column("hours", Float),
    Column("working_hours", Float),
    Column("on", String(16)),  # who must act while it is open (glassbox.vocabulary.WAITS), else null
    # the waits ended in a period, and (abandoned_at, since 9) those still open: index ranges only, where the
    # many never-ended waits abandoned long ago (a PR closed unreviewed) had been read and filtered each time
    Index("ix_rm_waits_ended", "engagement", "view", "ended_at", "abandoned_at"),
    Index("ix_rm_waits_open", "engagement", "view", "started_at"),
)

# -- since version 6 -------------------------------------------------------------------------------
rm_days = Table(  # the number of events per local day (engagement's time zone), source, category and person
    "rm_days",
    metadata,
    Column("engagement", String(ENGAGEMENT_LENGTH), primary_key=True),
    Column("view", String(16), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("source", String(16), primary_key=True),
    Column("category", String(32), primary_key=True),
    Column("person", Text, primary_key=True),  # the timeline's ``actor``: the resolved name
    Column("side", String(16), primary_key=True),
    Column("events", Integer, nullable=False),
)

# -- since version 7 -------------------------------------------------------------------------------
rm_runs = Table(  # one row per MLflow run: its latest state, commit and tickets (glassbox.readmodel.runs)
    "rm_runs",
    metadata,
    Column("engagement", String(ENGAGEMENT_LENGTH), primary_key=True),
    Column("view", String(16), primary_key=True),
    Column("run_id", String(255), primary_key=True),
    Column("experiment", Text),
    Column("name", Text),
    Column("seen_at", DateTime(timezone=True), nullable=False),  # its first event: a period's end keeps it
    Column("started_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("status", String(32)),
    Column("actor", Text),
    Column("side", String(16)),
    Column("url", Text),
    Column("note", Text),
    Column("parent_run_id", String(255)),
    Column("commit", String(255)),  # the tag as MLflow gives it, maybe a short SHA
    Column("sha", String(40)),  # the one known commit it names, else null
    Column("excluded", Boolean, nullable=False),
    Column("detail", Text, nullable=False),  # JSON: params, metrics, tickets
    Index("ix_rm_runs_seen", "engagement", "view", "seen_at"),
    Index("ix_rm_runs_started", "engagement", "view", "started_at"),  # a period's runs (8)
    Index("ix_rm_runs_parent", "engagement", "view", "parent_run_id"),  # a family's members (8)
)

rm_kpi_runs = Table(  # per KPI, one row per top-level run: its result and the best so far (glassbox.readmodel.kpis)
    "rm_kpi_runs",
    metadata,
    Column("engagement", String(ENGAGEMENT_LENGTH), primary_key=True),
    Column("view", String(16), primary_key=True),
    Column("experiment", String(255), primary_key=True),
    Column("metric", String(255), primary_key=True),
    Column("run_id", String(255), primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("value", Float),
    Column("value_run_id", String(255)),
    Column("counted", Boolean, nullable=False),
    Column("children", Integer, nullable=False),
    Column("new_best", Boolean, nullable=False),
    Column("best_so_far", Float),
    Column("best_run_id", String(255)),
    Column("previous_best", Float),
    Column("previous_best_run_id", String(255)),
    # the family's earliest start and latest start or first event: a period ending between the two saw
    # another family (fewer members, or a child still on its own), so it reads the runs instead
    Column("first_at", DateTime(timezone=True), nullable=False),
    Column("last_at", DateTime(timezone=True), nullable=False),
    Index("ix_rm_kpi_runs_started", "engagement", "view", "experiment", "metric", "started_at"),  # a period's
    Index("ix_rm_kpi_runs_bests", "engagement", "view", "experiment", "metric", "new_best", "started_at"),
    Index("ix_rm_kpi_runs_last", "engagement", "view", "experiment", "metric", "last_at"),  # families not yet whole
)

# -- since version 9 -------------------------------------------------------------------------------
rm_week_runs = Table(  # the run figures of the week running at the last write (glassbox.readmodel.weeks)
    "rm_week_runs",
    metadata,
    Column("engagement", String(ENGAGEMENT_LENGTH), primary_key=True),
    Column("view", String(16), primary_key=True),
    Column("week", String(16), primary_key=True),  # its ISO label in the engagement's time zone, 2026-W49
    Column("figures", Text, nullable=False),  # JSON: glassbox.readmodel.weeks.WeekRuns
)
