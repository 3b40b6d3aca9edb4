"""Every chart in one sentence, computed here by hand from the frame it draws."""

from __future__ import annotations

import pandas as pd

from glassbox.chart_words import distribution_words, flow_words, kpi_words, shares_words, sources_words, trend_words


def test_a_trend_names_its_latest_week() -> None:
    frame = pd.DataFrame({"week": ["16 Nov", "23 Nov", "30 Nov"], "median_hours": [5.0, 62.4, None],
                          "p90_hours": [9.0, 228.0, None]})
    assert trend_words(frame, "Client message → team reply") == (
        "Client message → team reply by week: median 2.6 d in the week of 23 Nov (p90 9.5 d); 3 weeks shown.")
    assert trend_words(frame.assign(median_hours=None), "PR opened → merged") == (
        "PR opened → merged by week: no wait ended in these weeks.")


def test_flows_kpis_shares_sources_and_distributions_in_words() -> None:
    assert flow_words(pd.DataFrame({"week": ["a", "b"], "created": [3, 4], "resolved": [2, 5]})) == (
        "Over 2 weeks: 7 tickets created, 7 resolved.")
    runs = pd.DataFrame({"value": [0.80, 0.86, 0.83]})
    assert kpi_words(runs, "val_auc", "max", 0.85) == (
        "val_auc per run: 3 runs, best so far 0.86, latest 0.83; target 0.85.")
    assert kpi_words(runs, "logloss", "min", None) == "logloss per run: 3 runs, best so far 0.8, latest 0.83."
    shares = pd.DataFrame({"week": ["16 Nov", "23 Nov", "30 Nov"], "share": [1.0, None, 0.8], "n": [2, 0, 5]})
    assert shares_words(shares, 0.9, "client messages answered within 8 working hours") == (
        "client messages answered within 8 working hours: 80% in time in the week of 30 Nov;"
        " the agreed 90% reached in 1 of 2 weeks with waits.")
    assert sources_words(pd.DataFrame({"source": ["git", "jira"], "events": [3, 8]}), {"jira": "Jira"}) == (
        "Events by source: Jira 8, git 3.")
    waits = pd.DataFrame({"latency": ["PR review", "PR review", "Ticket"], "hours": [1.0, 50.0, 0.5],
                          "waits": [2, 2, 1]})
    assert distribution_words(waits) == (
        "Waits that ended in the period: PR review 2 (longest 2.1 d), Ticket 1 (longest 30 min).")
    # 3,457 replies drawn as three quantile ticks are still 3,457 replies
    drawn = pd.DataFrame({"latency": ["Reply"] * 3, "hours": [0.1, 0.2, 5.9], "waits": [3457] * 3})
    assert distribution_words(drawn) == "Waits that ended in the period: Reply 3457 (longest 5.9 h)."
