"""Experiments: best run so far per KPI, what each run changed, targets met, and metric-drop alerts."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from glassbox.config import Kpi
from glassbox.metrics.experiments import experiments_summary, kpi_story, param_diff, target_gap

START = datetime(2026, 11, 2, tzinfo=UTC)
END = datetime(2026, 11, 9, tzinfo=UTC)
AUC = Kpi(experiment="churn", metric="val_auc", goal="max", target=0.85, alert_drop=0.05)
LOSS = Kpi(experiment="churn", metric="loss", goal="min", target=None, alert_drop=0.10)


def run(run_id: str, day: int, status: str = "FINISHED", experiment: str = "churn", **metrics: float) -> dict:
    return {"run_id": run_id, "experiment": experiment, "name": f"name-{run_id}",
            "started_at": pd.Timestamp(f"2026-11-{day:02d} 10:00", tz="UTC"), "status": status, "actor": "dev",
            "params": {"lr": 0.1 * day, "depth": 6}, "metrics": metrics, "note": f"note {run_id}",
            "commit": "abc1234", "sha": None, "tickets": ["CHURN-1"], "url": None}


def runs(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


HISTORY = runs(
    run("r1", 1, val_auc=0.80, loss=0.50),
    run("r2", 2, val_auc=0.84, loss=0.40),
    run("r3", 3, status="FAILED", val_auc=0.10),
    run("r4", 4, val_auc=0.78, loss=0.45),
    run("r5", 5, val_auc=0.86, loss=float("nan")),
    run("r6", 12, val_auc=0.20),
    run("x1", 4, experiment="other", acc=0.5),
)


def test_best_so_far_ignores_unfinished_runs_and_tracks_new_bests() -> None:
    story = kpi_story(HISTORY, AUC)
    assert story["run_id"].tolist() == ["r1", "r2", "r3", "r4", "r5", "r6"]
    assert story["counted"].tolist() == [True, True, False, True, True, True]
    assert story["new_best"].tolist() == [True, True, False, False, True, False]
    assert story["best_so_far"].tolist() == [0.80, 0.84, 0.84, 0.84, 0.86, 0.86]
    assert story.loc[3, "previous_best_run_id"] == "r2"


def test_drop_is_relative_to_the_best_before_the_run() -> None:
    story = kpi_story(HISTORY, AUC)
    assert story["drop"].tolist() == [False, False, False, True, False, True]
    assert round(story.loc[3, "drop_fraction"], 4) == round((0.84 - 0.78) / 0.84, 4)


def test_goal_min_prefers_lower_values_and_skips_missing_metrics() -> None:
    story = kpi_story(HISTORY, LOSS)
    assert story["new_best"].tolist() == [True, True, False, False, False, False]
    assert story["drop"].tolist() == [False, False, False, True, False, False]
    assert story["met"].tolist() == [None] * 6


def test_each_run_shows_its_param_diff_against_the_previous_best() -> None:
    story = kpi_story(HISTORY, AUC)
    assert story.loc[0, "param_diff"] == {}
    assert story.loc[3, "param_diff"] == {"lr": {"from": 0.2, "to": 0.4}}
    assert story.loc[3, "note"] == "note r4"


def test_a_periods_story_diffs_only_its_own_runs_and_the_new_bests() -> None:
    """A period shows its runs and the bests before it; diffing every earlier run cost most of a 74,000-run story."""
    story = kpi_story(HISTORY, AUC, diffs_from=datetime(2026, 11, 4, tzinfo=UTC)).set_index("run_id")
    assert story.loc["r4", "param_diff"] == {"lr": {"from": 0.2, "to": 0.4}}  # in the period
    assert story.loc["r2", "param_diff"] == {"lr": {"from": 0.1, "to": 0.2}}  # a new best before it
    assert story.loc["r3", "param_diff"] == {}  # neither
    unbounded = kpi_story(HISTORY, AUC).set_index("run_id")
    assert set(unbounded.loc["r3", "param_diff"]) == {"lr"}  # without a bound, every run is diffed
    assert story.drop(columns="param_diff").equals(unbounded.drop(columns="param_diff"))


def test_param_diff_names_added_and_removed_params() -> None:
    assert param_diff({"a": 1, "b": 2}, {"a": 1, "c": 3}) == {"b": {"from": 2, "to": None},
                                                              "c": {"from": None, "to": 3}}


def test_summary_gives_spec_entries_and_the_periods_alerts() -> None:
    entries, alerts, stories = experiments_summary(HISTORY, [AUC], START, END)
    assert entries == [
        {"experiment": "churn", "runs": 4, "best": {"run_id": "r5", "metric": "val_auc", "value": 0.86},
         "kpi": {"metric": "val_auc", "target": 0.85, "goal": "max", "met": True}},
        {"experiment": "other", "runs": 1, "best": None, "kpi": None},
    ]
    assert [(a["kind"], a["run_id"]) for a in alerts] == [("metric_drop", "r4")]
    assert alerts[0]["message"] == ("Run 'name-r4' scored val_auc 0.78, 7.1% below the best so far"
                                    " (0.84, run 'name-r2').")
    assert list(stories[("churn", "val_auc")]["run_id"]) == ["r1", "r2", "r3", "r4", "r5"]


def test_kpi_not_met_before_the_target_is_reached() -> None:
    entries, _, _ = experiments_summary(HISTORY, [AUC], START, datetime(2026, 11, 5, tzinfo=UTC))
    assert entries[0]["best"]["run_id"] == "r2"
    assert entries[0]["kpi"]["met"] is False


def test_kpi_without_runs_has_no_best_and_is_not_met() -> None:
    entries, alerts, _ = experiments_summary(HISTORY.iloc[0:0], [AUC], START, END)
    assert entries == [{"experiment": "churn", "runs": 0, "best": None,
                        "kpi": {"metric": "val_auc", "target": 0.85, "goal": "max", "met": False}}]
    assert alerts == []


def test_the_best_against_its_target_is_best_minus_target() -> None:
    """The Today and Experiments pages' best-KPI delta: r5's 0.86 is the best finished run, 0.86 − 0.85 = +0.01."""
    entry = experiments_summary(HISTORY, [AUC], START, END)[0][0]
    assert entry["best"]["run_id"] == "r5"
    assert target_gap(entry["best"]["value"], AUC.target) == 0.01
    assert target_gap(0.8, 0.85) == -0.05  # below a max target: 0.80 − 0.85
    assert target_gap(0.4, None) is None and target_gap(None, 0.85) is None
