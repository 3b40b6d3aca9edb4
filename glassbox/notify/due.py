"""What is due for one ``[[notify]]`` target at a given moment (SPEC §8): pure, from a clock and the sent records.

``sent`` is the ledger's ``(kind, key)`` pairs for the target (:meth:`glassbox.notify.ledger.Ledger.sent`).
A digest is keyed by its local day, a weekly report by its ISO week, an alert by its kind and its own
key, so each goes once however often cron runs ``notify``. Days are the engagement's (its zone), working
days the team's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd

from glassbox.config import Config, Notify
from glassbox.metrics.working_hours import is_working_day
from glassbox.notify.kinds import AlertKind, Send
from glassbox.periods import Period, iso_week
from glassbox.sync import FAILED_STATES
from glassbox.vocabulary import latency_label

STALE_AFTER = timedelta(hours=24)  # SPEC §8: a source that has not synced successfully for a day
Sent = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Alert:
    """One alert as a notification carries it: its kind, a key that names it for good, and its words."""

    kind: AlertKind
    key: str
    text: str

    @property
    def ledger_key(self) -> str:
        return f"{self.kind}:{self.key}"


def digest_day(now: datetime, target: Notify, config: Config) -> date | None:
    """Today (engagement zone) if it is a working day and ``digest_at`` has passed, else ``None``."""
    local = now.astimezone(config.engagement.zone)
    if is_working_day(local.date(), config.team) and local.time() >= target.digest_time:
        return local.date()
    return None


def digest_due(now: datetime, target: Notify, config: Config, sent: Sent) -> date | None:
    """The day whose digest is due now, if the target takes digests and today's has not gone yet."""
    day = digest_day(now, target, config)
    if Send.DIGEST not in target.send or day is None or (Send.DIGEST, day.isoformat()) in sent:
        return None
    return day


def weekly_due(now: datetime, target: Notify, config: Config, sent: Sent) -> Period | None:
    """Last ISO week, due from ``digest_at`` on the first working day after it ends, once."""
    if Send.WEEKLY not in target.send:
        return None
    zone = config.engagement.zone
    local = now.astimezone(zone)
    last = iso_week(local.date() - timedelta(days=7), zone)
    first = last.end.date()
    for _ in range(7):
        if is_working_day(first, config.team):
            break
        first += timedelta(days=1)
    due_from = datetime.combine(first, target.digest_time, tzinfo=zone)
    if now < due_from or (Send.WEEKLY, last.label) in sent:
        return None
    return last


def alerts_due(alerts: Iterable[Alert], target: Notify, sent: Sent) -> list[Alert]:
    """The alerts the target has not received yet (each goes once, when it first appears)."""
    if Send.ALERTS not in target.send:
        return []
    return [alert for alert in alerts if (Send.ALERTS, alert.ledger_key) not in sent]


# -- the alerts themselves -------------------------------------------------------------------------

def metric_alerts(report_alerts: Sequence[dict[str, object]]) -> list[Alert]:
    """The report's ``metric_drop`` alerts (SPEC §5), keyed by the run that dropped."""
    return [Alert(AlertKind(str(alert["kind"])), f"{alert.get('experiment')}:{alert.get('run_id')}",
                  f"{alert.get('experiment')}: {alert.get('message')}")
            for alert in report_alerts if alert.get("kind") in set(AlertKind)]


def breach_alerts(breaching: pd.DataFrame, titles: dict[str, str]) -> list[Alert]:
    """A wait that crossed its agreement's limit (:func:`glassbox.metrics.agreements.breaching_waits`),
    keyed by the wait itself, so it is announced when it crosses and never again."""
    alerts = []
    for wait in breaching.itertuples(index=False):
        unit = "working hours" if wait.working else "hours"
        measured = wait.working_hours if wait.working else wait.hours
        title = titles.get(str(wait.thread))
        what = f"{wait.thread} {title}" if title and title != wait.thread else str(wait.thread)
        alerts.append(Alert(AlertKind.AGREEMENT_BREACHED,
                            f"{wait.latency}:{wait.thread}:{pd.Timestamp(wait.started_at).isoformat()}",
                            f"{latency_label(str(wait.latency))} past the agreed {wait.limit:g} {unit}: "
                            f"{what} (open {measured:.1f} {unit})"))
    return alerts


def source_alerts(runs: pd.DataFrame, now: datetime, *, with_reasons: bool) -> list[Alert]:
    """Sources whose last sync failed, or that have not synced successfully for 24 hours.

    ``runs`` is the store's sync runs (newest first) of the sources the recipient may see. A failure
    is keyed by the first failed run of its streak (a source failing every few minutes is one
    alert); staleness by the last good run. ``with_reasons`` adds the error line (the team's view).
    """
    moment = pd.Timestamp(now)
    runs = runs.loc[runs["started_at"] <= moment]
    alerts = []
    for (source, origin), history in runs.groupby(["source", "origin"], sort=True):
        history = history.sort_values("id", ascending=False)
        settled = history.loc[history["status"] != "running"]
        if settled.empty:
            continue
        name = f"{source} ({origin})"
        good = settled.loc[settled["status"] == "ok"]
        if settled.iloc[0]["status"] in FAILED_STATES:
            streak = settled.loc[settled["id"] > (good["id"].max() if len(good) else -1)]
            first = streak.iloc[-1]
            reason = f" — {settled.iloc[0]['message']}" if with_reasons and settled.iloc[0]["message"] else ""
            alerts.append(Alert(AlertKind.SOURCE_FAILED, f"{source}:{origin}:{first['id']}",
                                f"{name}: the last sync failed{reason}"))
        last_ok = good["finished_at"].max() if len(good) else None
        since = last_ok if last_ok is not None else settled["started_at"].min()
        if moment - since >= STALE_AFTER:
            key = f"{source}:{origin}:{good['id'].max() if len(good) else 'never'}"
            alerts.append(Alert(AlertKind.SOURCE_STALE, key,
                                f"{name}: no successful sync for {(moment - since).total_seconds() / 3600:.0f} hours"))
    return alerts
