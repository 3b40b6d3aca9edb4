"""The read model: rows derived from the events, kept current by every sync, queried by period.

Pages and reports used to read every event and measure every latency over the whole history on each
request. The read model keeps the results beside the events instead, one row per latency wait
(``rm_waits``: kind, thread, started, ended or abandoned, hours, working hours, who it is on), for
each view — the client's rows derived from the client view, so a client query is a filter — and the
number of events per local day, source, category and person (``rm_days``), which period counts sum,
and each MLflow run as :func:`glassbox.metrics.runs.run_table` gives it (``rm_runs``).

- :mod:`.derive` turns a timeline into rows by calling the metric functions of
  :mod:`glassbox.metrics.latency` (the one home of every figure's definition), and fingerprints what
  the derivation depends on beyond the events (people, internal labels and sources, working hours).
- :mod:`.update` rebuilds it from all events, or re-derives only the threads a write touched, in
  that write's transaction (:func:`attach` hooks it into :meth:`glassbox.store.Store.write`).
- :mod:`.query` reads a period's waits (plus the waits still open), for reports and the dashboard.
- :mod:`.days` reads the day counts of a range of days (a period's ``counts``, the activity chart).
- :mod:`.runs` derives and reads one row per MLflow run (``rm_runs``): every run figure's table, or
  a period's runs with their families (``family_runs``).
- :mod:`.kpis` keeps each KPI's story per run (``rm_kpi_runs``) and reads a period's (``period_stories``).
"""

from glassbox.readmodel.kpis import period_stories
from glassbox.readmodel.query import is_current, samples
from glassbox.readmodel.runs import family_runs, latest_run, stored_runs
from glassbox.readmodel.update import attach, ensure_current, rebuild

__all__ = ["attach", "ensure_current", "family_runs", "is_current", "latest_run", "period_stories", "rebuild",
           "samples", "stored_runs"]
