"""Working agreements (SPEC §7): whether the waits of one latency ended within the limit both sides agreed.

Pure, frames in and figures out: everything is computed from the latency samples of
:mod:`glassbox.metrics.latency` (however they were obtained — measured from the timeline or read from
stored wait rows) plus, for ``ticket_cycle`` and ``ticket_lead``, the intervals a ticket spent in a
Jira waiting status (:func:`ticket_pause_intervals`), which are paused the way JSM SLAs pause: the
team is never held to the client's wait.

A sample ending in the period is *in time* when its hours (or working hours) are within the limit
(``<=``). A wait still open at the period's end (or now, if earlier) whose time so far is already past
the limit is *open breaching*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from glassbox.config import Agreement, Team
from glassbox.metrics.latency import open_wait_moment, open_waits
from glassbox.metrics.linking import attr
from glassbox.metrics.working_hours import working_hours_between

PAUSED_LATENCIES = frozenset({"ticket_cycle", "ticket_lead"})  # SPEC §7: the client's wait is paused
PAUSE_COLUMNS = ("thread", "paused_from", "paused_to")
TICKET_STATUS_EVENTS = ("ticket_created", "ticket_transition")  # what a ticket's pauses are read from


def needs_pauses(agreements: Sequence[Agreement]) -> bool:
    """Whether any agreement judges a paused latency: only then do the tickets' pauses count."""
    return any(agreement.latency in PAUSED_LATENCIES for agreement in agreements)


def no_pauses() -> pd.DataFrame:
    """:func:`ticket_pause_intervals` of no ticket."""
    return pd.DataFrame({name: pd.Series(dtype="datetime64[ns, UTC]" if name != "thread" else object)
                         for name in PAUSE_COLUMNS})


def ticket_pause_intervals(events: pd.DataFrame) -> pd.DataFrame:
    """When each ticket sat in one of the Jira source's ``waiting_statuses``: ``thread, paused_from, paused_to``.

    A pause starts when a ticket is created in, or moves into, a waiting status (the connector marks
    such events ``attrs.waiting``) and ends at its next move into a status that is not waiting;
    ``paused_to`` is NaT while it still waits. Every status change counts, a bot's too: the pause is
    about the ticket's status, not about who changed it.
    """
    tickets = events.loc[events["category"].isin(TICKET_STATUS_EVENTS)]
    if tickets.empty:
        return no_pauses()
    marks = pd.DataFrame({
        "thread": tickets["thread"].astype(object).to_numpy(),
        "at": pd.to_datetime(tickets["occurred_at"], utc=True).to_numpy(),
        "waiting": attr(tickets, "waiting").fillna(False).astype(bool).to_numpy(),
        "created": (tickets["category"] == "ticket_created").to_numpy(),
    }).sort_values(["thread", "at", "created"], ascending=[True, True, False], kind="stable")
    rows = []
    for thread, marks_of in marks.groupby("thread", sort=False):
        since = None
        for at, waiting in zip(marks_of["at"], marks_of["waiting"], strict=True):
            if waiting and since is None:
                since = at
            elif not waiting and since is not None:
                rows.append((thread, since, at))
                since = None
        if since is not None:
            rows.append((thread, since, pd.NaT))
    frame = pd.DataFrame(rows, columns=list(PAUSE_COLUMNS))
    for column in ("paused_from", "paused_to"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def without_pauses(samples: pd.DataFrame, pauses: pd.DataFrame, team: Team,
                   until: pd.Timestamp | None = None) -> pd.DataFrame:
    """``samples`` with the paused time of their thread taken out of ``hours`` and ``working_hours``.

    Each sample counts from ``started_at`` to ``ended_at`` or, for an open wait, to ``until`` (the
    moment its hours were measured to, as :func:`glassbox.metrics.latency.open_waits` does).
    """
    out = samples.copy()
    if out.empty or pauses.empty:
        return out
    stop = out["ended_at"]
    if until is not None:
        stop = stop.fillna(until)
    spans = pd.DataFrame({"sample": out.index, "thread": out["thread"], "start": out["started_at"], "stop": stop})
    overlap = spans.dropna(subset=["stop"]).merge(pauses, on="thread")
    if overlap.empty:
        return out
    paused_to = overlap["paused_to"].fillna(overlap["stop"])
    lo = overlap[["start", "paused_from"]].max(axis=1)
    hi = pd.concat([overlap["stop"], paused_to], axis=1).min(axis=1)
    overlap["hours"] = ((hi - lo).dt.total_seconds() / 3600).clip(lower=0)
    overlap["working_hours"] = working_hours_between(lo, hi, team).to_numpy()
    paused = overlap.groupby("sample")[["hours", "working_hours"]].sum()
    for column in ("hours", "working_hours"):
        out[column] = (out[column] - paused[column].reindex(out.index).fillna(0)).clip(lower=0)
    return out


@dataclass(frozen=True)
class AgreementFrames:
    """What the agreements are measured from: every latency's samples and the tickets' pause intervals."""

    samples: dict[str, pd.DataFrame]
    pauses: pd.DataFrame
    team: Team

    def of(self, agreement: Agreement, until: pd.Timestamp | None = None) -> pd.DataFrame:
        """The samples an agreement judges, paused where SPEC §7 says so."""
        samples = self.samples[agreement.latency]
        if agreement.latency in PAUSED_LATENCIES:
            return without_pauses(samples, self.pauses, self.team, until)
        return samples

    def open_at(self, agreement: Agreement, moment: pd.Timestamp) -> pd.DataFrame:
        """Waits of the agreement's latency still open at ``moment``, hours measured to it (paused too)."""
        still = open_waits(self.samples[agreement.latency], moment, self.team)
        if agreement.latency in PAUSED_LATENCIES:
            still = without_pauses(still, self.pauses, self.team, moment)
        return still


def _measure(agreement: Agreement, frame: pd.DataFrame) -> pd.Series:
    return frame["working_hours" if agreement.working else "hours"]


def agreement_figures(agreement: Agreement, frames: AgreementFrames, period_start: datetime,
                      period_end: datetime, now: datetime | None = None) -> dict[str, object]:
    """SPEC §7's object for one agreement over ``[period_start, period_end)``."""
    start, end = pd.Timestamp(period_start), pd.Timestamp(period_end)
    moment = open_wait_moment(end, now)
    samples = frames.of(agreement)
    ended = samples["ended_at"]
    done = samples.loc[ended.notna() & (ended >= start) & (ended < end)]
    n = int(len(done))
    in_time = int((_measure(agreement, done) <= agreement.limit).sum())
    share = round(in_time / n, 4) if n else None
    still = frames.open_at(agreement, moment)
    return {
        "latency": agreement.latency,
        "within_hours": agreement.within_hours,
        "within_working_hours": agreement.within_working_hours,
        "target_share": agreement.target_share,
        "n": n,
        "in_time": in_time,
        "share": share,
        "met": None if share is None else bool(share >= agreement.target_share),
        "open_breaching": int((_measure(agreement, still) > agreement.limit).sum()),
    }


def agreements_report(agreements: Sequence[Agreement], frames: AgreementFrames, period_start: datetime,
                      period_end: datetime, now: datetime | None = None) -> list[dict[str, object]]:
    """The report JSON's ``agreements``: one object per configured agreement, in config order."""
    return [agreement_figures(agreement, frames, period_start, period_end, now) for agreement in agreements]


BREACH_COLUMNS = ("latency", "thread", "started_at", "hours", "working_hours", "limit", "working")


def breaching_waits(agreements: Sequence[Agreement], frames: AgreementFrames, moment: datetime) -> pd.DataFrame:
    """Waits open at ``moment`` already past their agreement's limit, the longest over first.

    ``latency, thread, started_at, hours, working_hours, limit, working``: the Today and Feedback pages
    list these, and each one is a notification's ``agreement_breached`` alert.
    """
    cutoff = pd.Timestamp(moment)
    parts = []
    for agreement in agreements:
        still = frames.open_at(agreement, cutoff)
        late = still.loc[_measure(agreement, still) > agreement.limit]
        if not late.empty:
            parts.append(late.assign(latency=agreement.latency, limit=agreement.limit, working=agreement.working,
                                     over=_measure(agreement, late) / agreement.limit))
    if not parts:
        return pd.DataFrame(columns=list(BREACH_COLUMNS))
    found = pd.concat(parts, ignore_index=True).sort_values("over", ascending=False, kind="stable")
    return found.loc[:, list(BREACH_COLUMNS)].reset_index(drop=True)
