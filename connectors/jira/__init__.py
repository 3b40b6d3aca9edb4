"""Jira tickets, status changes and comments, from Jira Server/Data Center and Jira Cloud.

Latency metrics need every status change with the status *category* on both sides (``new``,
``indeterminate``, ``done``) so custom workflows work without naming statuses; the client view needs
each ticket's current labels; linking needs issue links, parents and epics as ticket refs. This package
turns Jira's issues into those events in two layers, as Perceval's Jira backend does:

* :func:`~connectors.jira.normalize.issue_to_events` (``normalize.py``) is pure: one issue as Jira
  returns it (``expand=changelog``, comments in ``fields.comment``) becomes ``ticket_created``,
  ``ticket_transition``, ``ticket_resolved`` and ``comment`` events. Tests and the demo builder feed
  it recorded JSON without any HTTP.
* :class:`~connectors.jira.client.JiraClient` (``client.py``) is the thin HTTP layer over the ``jira``
  library, and :class:`~connectors.jira.connector.JiraConnector` (``connector.py``) keeps the cursor
  and drives it.

Cursor strategy: one category, ``issues``. Each sync asks for
``(<config jql>) AND updated >= "<cursor minus a safety margin>" ORDER BY updated ASC`` and emits a
:class:`Checkpoint` holding the newest ``updated`` seen (ISO 8601, UTC) after every page. Jira reads
JQL dates as minutes in the *API user's* time zone, so the cursor is written in the zone ``/myself``
reports; writing it in UTC silently skips updates for users west of Greenwich. Re-fetched issues
re-emit the same event ids, so the store upserts them.

Paging: Server/Data Center pages ``/rest/api/2/search`` with ``startAt``; Cloud, where that endpoint
answers 410 Gone, pages ``/rest/api/2/search/jql`` with ``nextPageToken`` (told apart by
``serverInfo.deploymentType``). Comments and changelogs an issue returns truncated are completed from
``/issue/{key}/comment`` and ``/issue/{key}/changelog``.

Faults: the library's ``ResilientSession`` retries 429 and 503-with-``Retry-After`` (honouring the
header) and connection errors; the client adds retries with exponential backoff for other 5xx
answers and read timeouts, then maps what is left to the typed errors of :mod:`glassbox.errors`
through the one status mapping in :mod:`connectors.base`.
"""
