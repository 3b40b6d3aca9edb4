"""Pure functions over timeline frames: linking, latencies, daily progress, experiments, the report data.

Nothing here touches the network or writes anything; :func:`glassbox.metrics.summary.build_report`
is the one entry point that reads the store, and the dashboard and report renderers call it (or the
smaller functions) with frames from :func:`glassbox.timeline.load_timeline`.
"""
