"""Each chart in one sentence: its text alternative, under it on the pages and in the reports.

A chart says nothing to a screen reader, to a mail client that drops SVG, or to someone skimming on a
phone; the sentence says what the chart shows — its latest value, its extremes, its target. The
frames are the ones :mod:`glassbox.charts` draws; the words for waits are the reports'
(:func:`glassbox.reports.content.format_hours`).
"""

from __future__ import annotations

import pandas as pd

from glassbox.reports.content import format_hours


def _known(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").dropna()


def trend_words(frame: pd.DataFrame, title: str) -> str:
    """``Client message → team reply by week: median 2.6 d in the week of 23 Nov (p90 9.5 d); 6 weeks.``"""
    medians = frame.loc[pd.to_numeric(frame["median_hours"], errors="coerce").notna()]
    if medians.empty:
        return f"{title} by week: no wait ended in these weeks."
    last = medians.iloc[-1]
    p90 = pd.to_numeric(pd.Series([last["p90_hours"]]), errors="coerce").iloc[0]
    tail = f" (p90 {format_hours(float(p90))})" if pd.notna(p90) else ""
    return (f"{title} by week: median {format_hours(float(last['median_hours']))} in the week of {last['week']}"
            f"{tail}; {len(frame)} weeks shown.")


def distribution_words(frame: pd.DataFrame) -> str:
    """How many waits ended, and the longest, per kind. ``frame``: ``latency, hours, waits`` — the hours
    drawn (a busy kind's are quantiles of its waits) and, in each row of a kind, how many of its waits ended."""
    parts = [f"{latency} {int(group['waits'].iloc[0])} (longest {format_hours(float(group['hours'].max()))})"
             for latency, group in frame.groupby("latency", sort=False)]
    return f"Waits that ended in the period: {', '.join(parts)}." if parts else "No wait ended in the period."


def flow_words(frame: pd.DataFrame) -> str:
    """Tickets created against resolved over the weeks shown."""
    created, resolved = int(_known(frame["created"]).sum()), int(_known(frame["resolved"]).sum())
    return f"Over {len(frame)} weeks: {created} tickets created, {resolved} resolved."


def kpi_words(frame: pd.DataFrame, metric: str, goal: str, target: float | None) -> str:
    """The KPI per run: how many runs, the best so far, the latest and the target."""
    values = _known(frame["value"])
    if values.empty:
        return f"{metric} per run: no finished run yet."
    best = values.max() if goal == "max" else values.min()
    aim = f"; target {target:g}" if target is not None else ""
    return f"{metric} per run: {len(values)} runs, best so far {best:.4g}, latest {values.iloc[-1]:.4g}{aim}."


def shares_words(frame: pd.DataFrame, target: float, title: str) -> str:
    """An agreement's share in time per week, against its target."""
    shares = frame.loc[pd.to_numeric(frame["share"], errors="coerce").notna()]
    if shares.empty:
        return f"{title}: no wait ended in these weeks."
    kept = int((shares["share"].astype(float) >= target).sum())
    last = shares.iloc[-1]
    return (f"{title}: {float(last['share']):.0%} in time in the week of {last['week']}; the agreed {target:.0%}"
            f" reached in {kept} of {len(shares)} weeks with waits.")


def sources_words(frame: pd.DataFrame, label: dict[str, str]) -> str:
    """Events by source, most first."""
    ordered = frame.sort_values("events", ascending=False)
    return "Events by source: " + ", ".join(f"{label.get(s, s)} {int(n)}" for s, n in
                                            zip(ordered["source"], ordered["events"], strict=True)) + "."


def activity_words(frame: pd.DataFrame, unit: str = "day") -> str:
    """The activity chart in one sentence, its text alternative: total, and the busiest bucket."""
    if frame.empty or not frame["events"].sum():
        return f"Activity per {unit}: no events."
    per_bucket = frame.groupby("day")["events"].sum()
    busiest = pd.Timestamp(per_bucket.idxmax())
    total = int(per_bucket.sum())
    return (f"Activity per {unit}: {total} event{'s' if total != 1 else ''}; the busiest {unit} was"
            f" {busiest:%a %d %b %Y} with {int(per_bucket.max())}.")
