"""Dashboard-only charts that :mod:`glassbox.charts` (shared with the reports) does not have.

Same rules as there: small pre-aggregated frames in, an Altair chart out, one colour per source.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from glassbox.charts import source_scale


def events_by_source(frame: pd.DataFrame) -> alt.Chart:
    """Horizontal bars, one per source, in the source's colour.

    ``frame`` columns: ``source`` (github, git, jira, mlflow) and ``events`` (int).
    """
    return alt.Chart(frame).mark_bar(cornerRadiusEnd=3, height=18).encode(
        y=alt.Y("source:N", title=None, sort="-x"),
        x=alt.X("events:Q", title="events", axis=alt.Axis(tickMinStep=1)),
        color=alt.Color("source:N", scale=source_scale(), legend=None),
        tooltip=["source:N", "events:Q"],
    ).properties(height=alt.Step(28))
