"""What data each run trained on, and when that changed: the datasets runs logged with ``mlflow.log_input``.

A run's **data** is the set of ``(name, digest)`` pairs it logged (the MLflow connector's ``datasets``
attribute); a digest is MLflow's fingerprint of the content, so the same name with another digest is
other data. Two runs trained on the same data when their sets are equal; a run whose set differs
from the previous run of its experiment (in start order, top-level runs) **changed data** — what
explains a jump in a metric as often as a parameter does. Runs that logged no dataset say nothing:
they neither change the data nor compare as different.
"""

from __future__ import annotations

import pandas as pd

Data = frozenset[tuple[str, str]]


def datasets_by_run(runs: pd.DataFrame) -> dict[str, list[dict]]:
    """``run_id -> datasets`` of a runs table (:func:`glassbox.metrics.linking.runs_frame`'s ``datasets``:
    the run's latest event's, a finish over a start)."""
    return dict(zip(runs["run_id"], runs["datasets"], strict=True))


def logged_datasets(attrs: object) -> list[dict]:
    """The datasets a run event's ``attrs`` say the run logged (none when it says nothing)."""
    value = attrs.get("datasets") if isinstance(attrs, dict) else None
    return [d for d in value if isinstance(d, dict)] if isinstance(value, list) else []


def data_key(datasets: list[dict] | None) -> Data:
    """The run's data as a comparable set of ``(name, digest)``."""
    return frozenset((str(d.get("name") or ""), str(d.get("digest") or "")) for d in datasets or ())


def differs(a: list[dict] | None, b: list[dict] | None) -> bool:
    """Whether two runs trained on different data (False when either logged none: unknown is not different)."""
    first, second = data_key(a), data_key(b)
    return bool(first) and bool(second) and first != second


def data_changed(run_ids: pd.Series, datasets: dict[str, list[dict]]) -> pd.Series:
    """For runs in start order: whether each one's data differs from the previous run that logged any."""
    changed = []
    previous: list[dict] | None = None
    for run_id in run_ids:
        mine = datasets.get(run_id) or []
        changed.append(differs(previous, mine))
        if mine:
            previous = mine
    return pd.Series(changed, index=run_ids.index, dtype=bool)


def describe(datasets: list[dict] | None) -> str:
    """``name@digest8`` for each dataset, the way a table cell shows a run's data."""
    return ", ".join(f"{d.get('name') or '?'}@{str(d.get('digest') or '')[:8]}" for d in datasets or ())
