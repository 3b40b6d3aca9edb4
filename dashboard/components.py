"""Small display pieces every page shares: metric cards, empty states, labels and time formats.

Keeping them here gives every page the same vocabulary ("PR merged", "3.2 h", "2 h ago") and one
place where untrusted text is made safe for ``st.markdown``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import altair as alt
import pandas as pd
import streamlit as st

from glassbox.charts import SOURCE_COLORS, report_config
from glassbox.reports.content import alerts_listing, format_hours, format_working_hours
from glassbox.vocabulary import FIGURE_HELP

CATEGORY_LABELS = {
    "commit": "Commit",
    "pull_request_opened": "PR opened",
    "pull_request_merged": "PR merged",
    "pull_request_closed": "PR closed",
    "review": "Review",
    "comment": "Comment",
    "ticket_created": "Ticket created",
    "ticket_transition": "Ticket moved",
    "ticket_resolved": "Ticket resolved",
    "run_started": "Run started",
    "run_finished": "Run finished",
    "model_version_created": "Model version",
    "model_alias_moved": "Alias moved",
}
CATEGORY_GROUPS = {
    "commit": "commits", "pull_request_opened": "PRs", "pull_request_merged": "PRs", "pull_request_closed": "PRs",
    "review": "reviews", "comment": "comments", "ticket_created": "tickets", "ticket_transition": "tickets",
    "ticket_resolved": "tickets", "run_started": "runs", "run_finished": "runs",
    "model_version_created": "models", "model_alias_moved": "models",
}
SOURCE_LABELS = {"github": "GitHub", "git": "Git", "jira": "Jira", "mlflow": "MLflow"}
SYNC_STATE_LABELS = {  # glassbox.sync.sync_state → the Sources panel's Status
    "never": "never synced", "ok": "ok", "running": "syncing", "failed": "failing", "interrupted": "interrupted",
}
HOW_TO_CONFIGURE = (
    "Point Glassbox at your sources: copy `config/glassbox.example.toml` to `config/glassbox.toml` "
    "(or set `GLASSBOX_CONFIG`), add your `[[github]]`, `[[git]]`, `[[jira]]` and `[[mlflow]]` "
    "sections, then run `python -m glassbox sync`."
)


@dataclass(frozen=True)
class Card:
    """One headline number; ``delta`` is the change against the previous period (``None``: unknown)."""

    label: str
    value: int | float | str
    delta: int | float | str | None = None  # a string is shown as it is, e.g. "+2.0 d" in the card's unit
    help: str | None = None
    inverse: bool = False
    neutral: bool = False  # the delta is a fact beside the value ("oldest 4.7 d"), neither good nor bad


def escape_markdown(text: object) -> str:
    """``text`` shown literally by ``st.markdown``/``st.caption``: no HTML, links, emphasis or LaTeX."""
    special = "\\`*_{}[]()<>#+-.!|~$:"
    return "".join(f"\\{char}" if char in special else char for char in str(text))


def cards(items: Sequence[Card]) -> None:
    """A row of bordered metric cards with deltas against the previous period."""
    for column, card in zip(st.columns(len(items)), items, strict=True):
        if card.neutral:
            column.metric(card.label, card.value, card.delta, help=card.help, border=True, delta_color="off",
                          delta_arrow="off")
            continue
        if card.delta == 0:
            column.metric(card.label, card.value, "no change", help=card.help, border=True, delta_color="off",
                          delta_arrow="off")
            continue
        delta = None if card.delta is None else card.delta if isinstance(card.delta, str) else f"{card.delta:+g}"
        column.metric(card.label, card.value, delta, help=card.help, border=True,
                      delta_color="inverse" if card.inverse else "normal")


# the chart shapes glassbox.charts builds, all of which st.altair_chart accepts
ShownChart = alt.Chart | alt.LayerChart | alt.FacetChart
ChartBuilder = Callable[..., ShownChart]


def show_chart(build: ChartBuilder, *args: Any, height: int | None = None, says: str,
               label_limit: int | None = None, **kwargs: Any) -> None:
    """Draw the shared chart ``build(*args, **kwargs)`` (:mod:`glassbox.charts`) across its column, in
    the reports' look, with ``says`` — the chart in one sentence (:mod:`glassbox.chart_words`) —
    under it: its text alternative.

    Streamlit's own chart theme pads titles and legends out of a fixed height, squashing the plot;
    the reports' config (:func:`glassbox.charts.report_config`) keeps the dashboard and the PDF alike.
    The chart is built once per data (:func:`_built`).
    """
    chart = _built(f"{build.__module__}.{build.__qualname__}", build, args, tuple(sorted(kwargs.items())), height,
                   label_limit)
    st.altair_chart(chart, width="stretch", theme=None)
    st.caption(escape_markdown(says))


@st.cache_resource(max_entries=64, show_spinner=False)
def _built(name: str, _build: ChartBuilder, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...],
           height: int | None, label_limit: int | None) -> ShownChart:
    """The configured chart ``name`` (``_build``, which Streamlit cannot hash), shared read-only by
    every rerun showing the same data: an Altair chart takes 14 ms to build (Streamlit's conversion
    of a built one 6 ms), and the Feedback page draws ten on every rerun. Streamlit only reads it
    (``to_dict``)."""
    chart = _build(*args, **dict(kwargs))
    if height is not None:
        chart = chart.properties(height=height)
    chart = chart.configure(**report_config())
    if label_limit is not None:
        chart = chart.configure_axisY(labelLimit=label_limit)
    return chart


def show_alerts(alerts: list[dict[str, Any]]) -> None:
    """The latest alerts of each kind as warnings, and how many more (a noisy search drops below the
    best hundreds of times a week); the Experiments page judges every run."""
    listing = alerts_listing(alerts)
    for alert in listing.items:
        st.warning(escape_markdown(alert.get("message", "")), icon=":material/warning:")
    if listing.more_counted:
        st.caption(f"…and {listing.more_counted}; the Experiments page shows every run against the best.")


def empty_state(message: str, hint: str | None = None) -> None:
    """What is missing and what to do about it, instead of an empty chart."""
    st.info(message, icon=":material/info:")
    if hint:
        st.caption(hint)


def source_label(source: str) -> str:
    return SOURCE_LABELS.get(source, source)


def source_colour(source: str) -> str:
    return SOURCE_COLORS.get(source, "#868e96")


def story_link(ticket: object) -> str:
    """The Ticket story page of ``ticket`` (a relative address: this app's own page), or an empty
    string: a table's empty cell (Streamlit writes "None" in a missing one)."""
    return f"story?ticket={quote(ticket)}" if isinstance(ticket, str) and ticket else ""


STORY_COLUMN = st.column_config.LinkColumn("Story", display_text=r"story\?ticket=(.*)", help="The ticket's whole story")


def figure_columns() -> dict[str, Any]:
    """``st.dataframe`` column tooltips saying what a wait table's median, p90, working hours and
    open counts mean (:data:`glassbox.vocabulary.FIGURE_HELP`)."""
    return {"Median": st.column_config.TextColumn(help=FIGURE_HELP["median"]),
            "p90": st.column_config.TextColumn(help=FIGURE_HELP["p90"]),
            "Median (working hours)": st.column_config.TextColumn(help=FIGURE_HELP["working"]),
            "Still open": st.column_config.NumberColumn(help=FIGURE_HELP["open"])}


hours_text = format_hours  # waits read the same on every page and in every report
working_hours_text = format_working_hours


def ago(moment: datetime | pd.Timestamp | None, now: datetime | None = None) -> str:
    """``5 min ago``, ``3.0 h ago``, ``2.1 d ago``; ``never`` for a missing time."""
    if moment is None or pd.isna(moment):
        return "never"
    now = now or datetime.now(UTC)
    hours = max((now - moment).total_seconds(), 0) / 3600
    return f"{hours_text(hours)} ago"


def local(moments: pd.Series, tz: ZoneInfo) -> pd.Series:
    """UTC timestamps as naive wall-clock times in ``tz`` (what ``st.dataframe`` shows unchanged)."""
    return moments.dt.tz_convert(tz).dt.tz_localize(None)


def demo_notice() -> None:
    st.warning(
        "**This is a demo** — a made-up engagement built on this machine so you can look around. "
        + HOW_TO_CONFIGURE,
        icon=":material/science:",
    )


def pages_of_days(per_day: pd.Series, max_days: int, max_events: int) -> list[list[date]]:
    """The days with events (``day -> events``, newest first) in pages of up to ``max_days`` days and
    ``max_events`` events, a day never split (a busy day is a page of its own): a feed's pages of tables."""
    pages: list[list[date]] = []
    total = 0
    for day, number in per_day.items():
        if pages and len(pages[-1]) < max_days and total + number <= max_events:
            pages[-1].append(day)
            total += number
        else:
            pages.append([day])
            total = number
    return pages
