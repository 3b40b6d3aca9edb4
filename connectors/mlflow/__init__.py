"""MLflow runs as timeline events: what was tried, how it did, and which commit and ticket it came from.

One :class:`~connectors.mlflow.connector.MlflowConnector` reads the experiments named (or globbed)
in an ``[[mlflow]]`` section through ``MlflowClient`` — a sqlite or other database store, a
``./mlruns`` file store, or an ``mlflow server`` over HTTP — and turns every run into
``run_started`` and, once it ended (FINISHED, FAILED, KILLED), ``run_finished``.
:func:`~connectors.mlflow.normalize.run_to_events` is the pure normalizer; ``client.py`` reaches
the store (the ``MlflowClient``, metric history, MLflow's HTTP retry settings, errors).

Cursor strategy. MLflow records no "last updated" time for a run, so the cursor is JSON
``{"max_start_ms", "running", "deleted", "ended"}`` (see ``connector.SyncState``). A re-sync pages
(``page_token``) through the runs started since ``max_start_ms`` minus :data:`START_MARGIN_MS`
(client clocks set ``start_time``), skipping the ended runs it already read inside that margin,
re-reads by id the runs that were still RUNNING last time (so they show finished after the next
sync) and the runs restored from the trash, and tombstones the runs now in the trash. A checkpoint
follows every page. Edits to long-finished runs (a note or tag added later) are seen only by a full
re-sync (``python -m glassbox sync --reset mlflow`` clears the cursor).

Metric history is read for the ``[[kpi]]`` metrics only, in bulk: one query on a database store's
``metrics`` table per page of runs; over HTTP the server's bulk history endpoint (100 runs per
call), falling back to one ``get_metric_history`` call per run and metric when it is missing.
"""
