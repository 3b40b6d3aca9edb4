"""``python -m glassbox notify``: send what is due to every ``[[notify]]`` target, once (SPEC §8).

For each target: read its sent records, work out what is due (:mod:`glassbox.notify.due`), build the
messages from reports of the target's own view (a client target never gets team-view content),
claim each in the ledger, deliver it, and give the claim back if delivery failed, so the next run
tries again. One target failing never stops the others; the exit status says whether any failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any

import pandas as pd

from glassbox.config import Config, Notify
from glassbox.metrics.agreements import AgreementFrames, breaching_waits, ticket_pause_intervals
from glassbox.metrics.working_hours import previous_working_day
from glassbox.notify.deliver import deliver, is_email, split_urls
from glassbox.notify.due import (
    Alert,
    alerts_due,
    breach_alerts,
    digest_due,
    metric_alerts,
    source_alerts,
    weekly_due,
)
from glassbox.notify.kinds import Send
from glassbox.notify.ledger import Ledger
from glassbox.notify.messages import Message, alerts_message, digest_message, weekly_message
from glassbox.periods import Period, start_of_day
from glassbox.redaction import one_line
from glassbox.report_model import ReportModel, load_history
from glassbox.store import Store
from glassbox.views import View
from glassbox.visibility import sources_for_view

log = logging.getLogger(__name__)

ALERT_WINDOW = timedelta(days=7)  # runs this recent can raise a metric_drop alert


@dataclass
class ViewContext:
    """What every target of one view is told at ``now``: built once per view and run, from that view's reports."""

    store: Store
    config: Config
    view: View
    now: datetime
    _weekly: dict[str, tuple[ReportModel, str]] = field(default_factory=dict)

    @cached_property
    def history(self) -> pd.DataFrame:
        """The view's timeline up to now, read once for the digest, the alerts and the weekly report."""
        return load_history(self.store, self.config, Period("now", self.now, self.now), self.view.value)

    def _model(self, start: datetime, label: str) -> ReportModel:
        return self._built(Period(label, start, self.now))

    def _built(self, period: Period) -> ReportModel:
        history = self.history.loc[self.history["occurred_at"] < pd.Timestamp(period.end)]
        return ReportModel.build(history, self.config, period, self.view.value, self.now)

    @cached_property
    def today(self) -> date:
        return self.now.astimezone(self.config.engagement.zone).date()

    @cached_property
    def since(self) -> date:
        return previous_working_day(self.today, self.config.team)

    @cached_property
    def digest(self) -> ReportModel:
        """Since the start of the previous working day, to now."""
        return self._model(start_of_day(self.since, self.config.engagement.zone), f"since {self.since}")

    @cached_property
    def breached(self) -> Any:
        model = self.digest
        frames = AgreementFrames(model.samples, ticket_pause_intervals(model.history), self.config.team)
        return breaching_waits(self.config.agreement, frames, self.now)

    @cached_property
    def alerts(self) -> list[Alert]:
        """Every alert standing now, in this view: metric drops, agreement breaches, sources in trouble."""
        recent = self._model(self.now - ALERT_WINDOW, "alerts")
        heads = self.history.loc[self.history["category"].isin(("ticket_created", "pull_request_opened"))]
        titles = dict(zip(heads["thread"].astype(str), heads["title"].astype(str), strict=True))
        runs = sources_for_view(self.store.sync_runs(), self.config, self.view)
        return [*metric_alerts(recent.report["alerts"]), *breach_alerts(self.breached, titles),
                *source_alerts(runs, self.now, with_reasons=self.view is View.TEAM)]

    def digest_message(self, day: date) -> Message | None:
        breached = {(str(w.latency), str(w.thread)) for w in self.breached.itertuples(index=False)}
        return digest_message(self.digest.report, day, self.since, self.alerts, breached,
                              self.config.engagement.dashboard_url)

    def weekly_message(self, period: Period, with_pdf: bool) -> Message:
        from glassbox.reports import render_model

        model = self._built(period)
        markdown = str(render_model(model, "md"))
        pdf = render_model(model, "pdf") if with_pdf else None
        return weekly_message(model.report, markdown, pdf if isinstance(pdf, bytes) else None,
                              self.config.engagement.dashboard_url)


@dataclass(frozen=True)
class Pending:
    """One message due for a target: its kind, the ledger keys it settles, and how to build it."""

    kind: Send
    keys: tuple[str, ...]
    build: Callable[[list[str]], Message | None]  # from the keys this run won


def pending(target: Notify, context: ViewContext, sent: frozenset[tuple[str, str]], with_pdf: bool) -> list[Pending]:
    """Everything due for ``target`` now, digest first, then alerts, then the weekly report."""
    out = []
    now, config = context.now, context.config
    day = digest_due(now, target, config, sent)
    if day is not None and context.digest_message(day) is not None:  # a quiet day sends nothing
        def digest(_keys: list[str], day: date = day) -> Message | None:
            return context.digest_message(day)
        out.append(Pending(Send.DIGEST, (day.isoformat(),), digest))
    fresh = alerts_due(context.alerts, target, sent) if Send.ALERTS in target.send else []
    if fresh:
        by_key = {alert.ledger_key: alert for alert in fresh}

        def grouped(keys: list[str]) -> Message:
            return alerts_message(config.engagement.name, [by_key[key] for key in keys],
                                  config.engagement.dashboard_url)
        out.append(Pending(Send.ALERTS, tuple(by_key), grouped))
    week = weekly_due(now, target, config, sent)
    if week is not None:
        def weekly(_keys: list[str], week: Period = week) -> Message:
            return context.weekly_message(week, with_pdf)
        out.append(Pending(Send.WEEKLY, (week.label,), weekly))
    return out


def run_notify(config: Config, store: Store, now: datetime, *, dry_run: bool, say: Callable[[str], None]) -> int:
    """Send (or, dry, list) what is due to every target; 0 all sent or nothing due, 1 a target failed."""
    ledger = Ledger(store, store.engagement)
    contexts: dict[View, ViewContext] = {}
    failed = 0
    for index, target in enumerate(config.notify):
        urls = [] if dry_run else split_urls(
            config.secret(target.to_env, f"notify[{index}].to_env").get_secret_value())
        context = contexts.setdefault(target.view, ViewContext(store, config, target.view, now))
        due = pending(target, context, ledger.sent(target.name), any(map(is_email, urls)))
        if not due:
            say(f"{target.name}: nothing due")
        for item in due:
            if dry_run:
                message = item.build(list(item.keys))
                title = message.title if message else ""
                say(one_line(f"{target.name} ({target.view} view): would send {item.kind} "
                             f"[{', '.join(item.keys)}] — {title}"))
                continue
            won = ledger.claim(target.name, item.kind, item.keys, now)
            if not won:
                continue  # another notify run claimed it first and delivers it
            message = item.build(won)
            problems = deliver(urls, message) if message is not None else []
            if problems:
                ledger.release(target.name, item.kind, won)
                failed += 1
                say(one_line(f"{target.name}: {item.kind} not sent — {'; '.join(problems)}"
                             " — it will be tried again on the next run"))
            else:
                say(one_line(f"{target.name}: sent {item.kind} [{', '.join(won)}]"))
    return 1 if failed else 0
