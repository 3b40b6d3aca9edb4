"""One module per source; each turns its API's payloads into :class:`glassbox.events.Event`.

Connectors know their API and nothing of the store or the dashboard: they yield events,
checkpoints and tombstones, and :mod:`glassbox.sync` does the rest.
"""
