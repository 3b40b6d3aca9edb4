"""Commits of a local git clone (``connector.py``, moved here unchanged from ``connectors/git_local.py``)."""
