"""Pure rules of models, data and compute, on hand-built frames whose figures are worked out here."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pandas as pd

from glassbox.config import Kpi
from glassbox.metrics.compute import by_ticket, by_week, totals
from glassbox.metrics.datasets import data_changed, differs
from glassbox.metrics.models import alias_moves, models_summary, positions_at
from glassbox.metrics.runs import with_families

MON = datetime(2026, 11, 2, 9, tzinfo=UTC)


def moment(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def move(day: int, alias: str, before: str | None, after: str | None) -> dict:
    return {"category": "model_alias_moved", "occurred_at": moment(day), "url": None,
            "attrs": {"model": "m", "alias": alias, "from_version": before, "to_version": after}}


def version(day: int, number: str, run_id: str) -> dict:
    return {"category": "model_version_created", "occurred_at": moment(day), "url": None,
            "attrs": {"model": "m", "version": number, "run_id": run_id}}


def runs(values: dict[str, float]) -> pd.DataFrame:
    return with_families(pd.DataFrame({
        "run_id": list(values), "experiment": "churn", "status": "FINISHED", "started_at": moment(1),
        "metrics": [{"auc": v} for v in values.values()], "parent_run_id": None, "tickets": [[]] * len(values)}))


def test_an_alias_points_where_its_last_move_took_it_and_a_removed_one_is_gone() -> None:
    events = pd.DataFrame([move(3, "champion", None, "1"), move(5, "champion", "1", "2"), move(4, "staging", None, "2"),
                           move(6, "staging", "2", None)])
    assert positions_at(alias_moves(events)) == {"m": {"champion": 2}}
    assert positions_at(alias_moves(events, end=moment(5))) == {"m": {"champion": 1, "staging": 2}}


def test_champion_is_the_first_configured_alias_and_a_worse_move_regresses() -> None:
    kpi = Kpi(experiment="churn", metric="auc", alias=["production", "champion"])
    events = pd.DataFrame([version(2, "1", "r1"), version(2, "2", "r2"), move(3, "champion", None, "1"),
                           move(4, "production", None, "2"), move(5, "champion", "1", "2")])
    models, alerts = models_summary(events, runs({"r1": 0.90, "r2": 0.85}), [kpi], moment(5), moment(6))
    assert models == [{"model": "m", "latest_version": 2, "aliases": {"champion": 2, "production": 2},
                       "champion": {"alias": "production", "version": 2, "run_id": "r2", "metric": "auc",
                                    "value": 0.85}}]
    assert [(a["kind"], a["alias"], a["run_id"]) for a in alerts] == [("model_regressed", "champion", "r2")]
    _, earlier = models_summary(events, runs({"r1": 0.90, "r2": 0.85}), [kpi], moment(1), moment(5))
    assert earlier == []  # the moves before the 5th set aliases for the first time: nothing to regress from


def test_a_move_to_a_better_version_raises_nothing() -> None:
    kpi = Kpi(experiment="churn", metric="auc", goal="min")
    events = pd.DataFrame([version(2, "1", "r1"), version(2, "2", "r2"), move(5, "champion", "1", "2")])
    _, alerts = models_summary(events, runs({"r1": 0.30, "r2": 0.20}), [kpi], moment(1), moment(9))
    assert alerts == []  # 0.20 is better than 0.30 for a min KPI


def test_data_changes_when_a_digest_differs_from_the_previous_run_that_logged_data() -> None:
    a, b = [{"name": "train", "digest": "aaa"}], [{"name": "train", "digest": "bbb"}]
    data = {"r1": a, "r2": [], "r3": a, "r4": b}
    assert list(data_changed(pd.Series(["r1", "r2", "r3", "r4"]), data)) == [False, False, False, True]
    assert not differs(a, [])  # a run that logged nothing is unknown, not different


def test_compute_sums_per_ticket_and_week_and_keeps_unknown_gpu_unknown() -> None:
    frame = pd.DataFrame({
        "run_id": ["r1", "r2", "r3"], "experiment": "churn",
        "started_at": [moment(2), moment(4), moment(10)],  # Mon 2 and Wed 4 Nov: W45; Tue 10 Nov: W46
        "tickets": [["CHURN-1"], ["CHURN-1", "CHURN-2"], []],
        "wall": [1.5, 2.0, 0.25], "gpu": [float("nan"), 4.0, float("nan")]})
    assert totals(frame) == {"wall": 3.75, "gpu": 4.0}
    assert by_ticket(frame) == [{"ticket": "CHURN-1", "wall": 3.5, "gpu": 4.0, "runs": 2},
                                {"ticket": "CHURN-2", "wall": 2.0, "gpu": 4.0, "runs": 1},
                                {"ticket": None, "wall": 0.25, "gpu": None, "runs": 1}]
    weeks = by_week(frame, ZoneInfo("UTC"))
    assert [str(w) for w in weeks["week"]] == ["2026-11-02", "2026-11-09"]
    assert list(weeks["wall"]) == [3.5, 0.25]
