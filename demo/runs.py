"""The demo's real MLflow store: the churn experiment's story, run by run.

A baseline, a hyperparameter sweep (one parent run with a child per candidate, as a search logs it),
a feature set whose validation AUC was inflated by leakage (the same customers in train and
validation; tagged ``glassbox.exclude`` once found, so it is never the best), the fix and its
honest number, the work that reaches the 0.85 target, and this morning's retrain that drops below the
best by more than the alert threshold.
Runs carry the commit they were trained from, their ticket, a note, the training data they logged
(``mlflow.log_input``: the split by customer that fixed the leakage is new data, with a new digest)
and 20 steps of ``val_auc``, all written through ``MlflowClient`` so the MLflow connector reads a store
like any other. The registry holds ``churn-model``: a version per milestone run, its ``champion``
alias first on ``gbm-tuned`` and promoted once, to ``gbm-tuned-3seeds`` (:func:`promote_champion`).
"""

from __future__ import annotations

import hashlib
import math
import random
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from demo.story import EXPERIMENT, HOA, KPI_METRIC, LINH, MINH, SEED, Clock, Member

HISTORY_STEPS = 20
MODEL = "churn-model"
VERSIONS = ("gbm-support-features", "gbm-tuned", "gbm-tuned-3seeds", "retrain-2024-03")  # version 1, 2, 3, 4
FIRST_CHAMPION, PROMOTED = "2", "3"


@dataclass(frozen=True)
class RunPlan:
    """One run as the story tells it; ``commit`` is a label from the git repository's history."""

    name: str
    user: Member
    start: datetime
    minutes: int
    commit: str | None
    ticket: str | None
    val_auc: float | None
    params: dict[str, str] = field(default_factory=dict)
    note: str | None = None
    status: str = "FINISHED"
    parent: str | None = None  # the name of the plan this run is a child of
    excluded: bool = False  # tagged glassbox.exclude = "true": the team disowns it


def story_runs(c: Clock) -> list[RunPlan]:
    """Every run of the experiment, oldest first."""
    gbm = {"model": "lightgbm", "num_leaves": "31", "n_estimators": "300"}
    sweep = [(0.03, 31, 0.772), (0.05, 31, 0.790), (0.05, 63, 0.801), (0.1, 31, 0.795), (0.1, 63, 0.768)]
    return [
        RunPlan("eda-notebook", HOA, c.at(17, "15:00"), 12, None, None, None,
                {"rows": "182340", "snapshot": "2024-01"},
                "Exploration from a notebook, not from the repository: 7.9% of subscribers churn per month."),
        RunPlan("baseline-logreg", LINH, c.at(16, "14:00"), 18, "baseline", "CHURN-1", 0.781,
                {"model": "logistic_regression", "C": "1.0", "max_iter": "1000"},
                "Baseline for CHURN-1: logistic regression on plan, tenure and last-month usage."),
        RunPlan("gbm-sweep", MINH, c.at(11, "15:55"), 5 * 60, "sweep", "CHURN-4", None,
                {"sweep": "sweeps/gbm.yaml", "candidates": str(len(sweep))},
                "Sweep over learning rate and leaves; the candidates are its child runs."),
        *(RunPlan(f"gbm-sweep-{index + 1:02d}", MINH, c.at(11, f"{16 + index}:00"), 35, "sweep", "CHURN-4",
                  auc, {**gbm, "learning_rate": str(lr), "num_leaves": str(leaves)}, parent="gbm-sweep")
          for index, (lr, leaves, auc) in enumerate(sweep)),
        RunPlan("gbm-features-v2", HOA, c.at(10, "09:00"), 42, "features_v2", "CHURN-3", 0.842,
                {**gbm, "learning_rate": "0.05", "features": "v2"},
                "LEAKAGE — do not use. Rows were split at random, so the same customer appeared in train and"
                " validation; this AUC is inflated. Found after Dan's question on CHURN-5, fixed by splitting"
                " by customer_id (run gbm-group-split).", excluded=True),
        RunPlan("gbm-dart-trial", MINH, c.at(7, "13:00"), 95, "dart", None, 0.803,
                {**gbm, "boosting_type": "dart", "drop_rate": "0.1"},
                "DART is three times slower for no gain; PR #6 closed."),
        RunPlan("gbm-group-split", LINH, c.at(8, "11:00"), 40, "holdout_split", "CHURN-5", 0.812,
                {**gbm, "learning_rate": "0.05", "features": "v2", "split": "group_by_customer"},
                "Leakage fixed (CHURN-5): train, validation and holdout are now split by customer_id and a"
                " test asserts no customer is in two splits. 0.812 is the honest number; gbm-features-v2's"
                " 0.842 was not."),
        RunPlan("gbm-oom", HOA, c.at(6, "14:00"), 7, "support_sentiment", "CHURN-6", None,
                {**gbm, "features": "v3"}, "Out of memory while scoring ticket sentiment; batched it.",
                status="FAILED"),
        RunPlan("gbm-support-features", HOA, c.at(5, "11:00"), 44, "merge_pr4", "CHURN-6", 0.833,
                {**gbm, "learning_rate": "0.05", "features": "v3", "split": "group_by_customer"},
                "Support-ticket features (CHURN-6) add 0.021 AUC."),
        RunPlan("gbm-tuned", MINH, c.at(3, "10:00"), 52, "tune", "CHURN-7", 0.853,
                {**gbm, "learning_rate": "0.04", "min_child_samples": "40", "features": "v3"},
                "Target reached: 0.853 ≥ 0.85 on the grouped validation split (CHURN-7)."),
        RunPlan("gbm-tuned-3seeds", MINH, c.at(2, "10:00"), 61, "seeds", "CHURN-7", 0.862,
                {**gbm, "learning_rate": "0.04", "min_child_samples": "40", "features": "v3", "seeds": "3"},
                "Averaging three seeds: 0.862, the best so far."),
        RunPlan("gbm-shap-drivers", LINH, c.at(1, "11:00"), 48, "shap", "CHURN-12", 0.858,
                {**gbm, "learning_rate": "0.04", "min_child_samples": "40", "features": "v3"},
                "Same model, trained to export SHAP values for the churn-driver summary."),
        RunPlan("retrain-2024-03", MINH, c.ago(90), 65, "retrain_march", "CHURN-11", 0.803,
                {**gbm, "learning_rate": "0.04", "min_child_samples": "40", "snapshot": "2024-03"},
                "Monthly retrain on the March snapshot: 0.803, well below last week's 0.862. Checking whether"
                " the snapshot is complete before promoting anything."),
    ]


def build_tracking_store(folder: Path, clock: Clock, shas: dict[str, str]) -> str:
    """Create ``folder/mlflow.db`` with the churn experiment; returns its tracking URI."""
    uri = f"sqlite:///{(folder / 'mlflow.db').resolve()}"
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment(EXPERIMENT, artifact_location=(folder / "mlartifacts").resolve().as_uri(),
                                             tags={"team": "Lotus Data", "client": "Acme"})
    rng = random.Random(SEED)
    run_ids: dict[str, str] = {}
    plans = sorted(story_runs(clock), key=lambda p: p.start)
    split_fixed = next(plan.start for plan in plans if plan.name == "gbm-group-split")
    for plan in plans:
        run_ids[plan.name] = _log_run(client, experiment_id, plan, shas, rng, run_ids)
        if plan.commit:
            client.log_inputs(run_ids[plan.name], datasets=[_training_data(plan, split_fixed)])
    _register(client, folder, {plan.name: plan for plan in plans}, run_ids)
    return uri


def _training_data(plan: RunPlan, split_fixed: datetime) -> DatasetInput:
    """The snapshot a run trained on; from the leakage fix on, split by customer (new data, new digest)."""
    snapshot = plan.params.get("snapshot", "2024-01")
    split = "by-customer" if plan.start >= split_fixed else "random-rows"
    digest = hashlib.sha256(f"churn-train {snapshot} {split}".encode()).hexdigest()[:8]
    source = f'{{"uri": "s3://acme-churn/features/{snapshot}/{split}.parquet"}}'
    return DatasetInput(Dataset(name="churn-train", digest=digest, source_type="s3", source=source),
                        tags=[InputTag("mlflow.data.context", "training")])


def _register(client: MlflowClient, folder: Path, plans: dict[str, RunPlan], run_ids: dict[str, str]) -> None:
    """A version of ``churn-model`` per milestone run, created as each run ended; ``champion`` on version 2."""
    client.create_registered_model(MODEL, description="Monthly churn scores for the CRM")
    for name in VERSIONS:
        client.create_model_version(MODEL, f"{(folder / 'mlartifacts').resolve().as_uri()}/{run_ids[name]}/model",
                                    run_id=run_ids[name])
    # MLflow stamps a version with the real time and takes no other; the story's clock is days back.
    with sqlite3.connect(folder / "mlflow.db") as db:
        for number, name in enumerate(VERSIONS, start=1):
            plan = plans[name]
            created = _ms(plan.start + timedelta(minutes=plan.minutes + 5))
            db.execute("UPDATE model_versions SET creation_time = ?, last_updated_time = ? WHERE name = ? AND "
                       "version = ?", (created, created, MODEL, number))
    client.set_registered_model_alias(MODEL, "champion", FIRST_CHAMPION)


def promote_champion(tracking_uri: str) -> None:
    """Move ``champion`` to version 3 (the three-seed average), between the demo's two registry syncs."""
    MlflowClient(tracking_uri=tracking_uri).set_registered_model_alias(MODEL, "champion", PROMOTED)


def _log_run(client: MlflowClient, experiment_id: str, plan: RunPlan, shas: dict[str, str],
             rng: random.Random, run_ids: dict[str, str]) -> str:
    tags = {"mlflow.user": plan.user.mlflow_user or plan.user.login, "mlflow.source.type": "LOCAL",
            "mlflow.source.name": "src/churn/train.py"}
    if plan.parent:
        tags["mlflow.parentRunId"] = run_ids[plan.parent]
    if plan.excluded:
        tags["glassbox.exclude"] = "true"
    if plan.commit:
        tags["mlflow.source.git.commit"] = shas[plan.commit]
    if plan.ticket:
        tags["ticket"] = plan.ticket
    if plan.note:
        tags["mlflow.note.content"] = plan.note
    start_ms = _ms(plan.start)
    end_ms = _ms(plan.start + timedelta(minutes=plan.minutes))
    run = client.create_run(experiment_id, start_time=start_ms, tags=tags, run_name=plan.name)
    metrics = _history(plan, start_ms, end_ms, rng)
    client.log_batch(run.info.run_id, metrics=metrics,
                     params=[Param(key, value) for key, value in sorted(plan.params.items())],
                     tags=[RunTag("team", "lotus")])
    client.set_terminated(run.info.run_id, status=plan.status, end_time=end_ms)
    return run.info.run_id


def _history(plan: RunPlan, start_ms: int, end_ms: int, rng: random.Random) -> list[Metric]:
    """``val_auc`` over 20 epochs rising to the run's final value, plus a falling ``train_loss``."""
    steps = HISTORY_STEPS if plan.status == "FINISHED" else 6
    spacing = (end_ms - start_ms) // (steps + 1)
    final = plan.val_auc
    metrics = []
    for step in range(steps):
        stamp = start_ms + spacing * (step + 1)
        progress = (1 - math.exp(-(step + 1) / 5)) / (1 - math.exp(-HISTORY_STEPS / 5))
        loss = 0.69 - 0.33 * progress + rng.uniform(-0.01, 0.01)
        if plan.commit:
            metrics.append(Metric("train_loss", round(loss, 4), stamp, step))
        if final is not None:
            noise = 0.0 if step == steps - 1 else rng.uniform(-0.006, 0.006)
            metrics.append(Metric(KPI_METRIC, round(0.6 + (final - 0.6) * progress + noise, 4), stamp, step))
    if final is not None:
        metrics.append(Metric("val_logloss", round(0.62 - 0.4 * (final - 0.6), 4), end_ms, steps - 1))
    return metrics


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
