"""Pure functions over timeline frames: linking, latencies, daily progress, experiments, chart data, the report data.

Nothing here reads the store, touches the network or writes anything: frames in, figures out.
:class:`glassbox.report_model.ReportModel` reads the store once and calls these with frames from
:func:`glassbox.timeline.load_timeline`, and so do the dashboard's loaders.
"""
