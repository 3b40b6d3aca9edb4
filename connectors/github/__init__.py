"""Commits, pull requests, reviews and comments of one GitHub repository, through PyGithub.

Fetching is kept apart from normalizing: the ``*_to_event`` functions of ``normalize.py`` are pure, take the JSON
GitHub sent, and are what tests and the demo builder feed recorded payloads to. ``client.py`` pages lists with
PyGithub's requester (its auth, ``GithubRetry``, timeout and pause between requests) following the
``Link`` header, keeping each page's JSON: PyGithub's own paginated lists build an object tree per
item that nothing here reads, which was a third of a first sync's time (docs/benchmarks.md).

Cursor strategy (``connector.py``), one cursor per category (as MeltanoLabs/tap-github):

- ``commits``: ``GET /commits?since=<newest committer date seen>``; the cursor moves once the
  listing is complete (GitHub lists newest first, so no earlier point is safe).
- ``pulls``: ``GET /pulls?state=all&sort=updated&direction=desc``, stopping at the first pull request
  updated before the cursor; the cursor is the newest ``updated_at`` seen.
- ``reviews``, a child of ``pulls`` (tap-github's ``parent_stream_type``): the pull requests updated
  since its own cursor — taken from the ``pulls`` listing of the same sync when it reached back far
  enough, so the pull list is read once — and for each of them ``/pulls/{n}/reviews`` (GitHub has
  no repository-wide review list).
- ``comments``: repository-wide ``/issues/comments`` and ``/pulls/comments`` with ``since``, sorted
  by ``updated`` ascending so a checkpoint can follow every page. Each thread's author and labels
  come from ``/issues`` listed since a third cursor: the newest issue seen when both comment lists
  were last read to the end. A new comment updates its issue after that listing, so its thread is
  always in the new one; the boundary comment ``since`` returns again, whose thread may not be, was
  stored with its thread last time and is skipped. The cursor is JSON holding the three timestamps.

``since`` is inclusive, so the boundary item is fetched again and upserted unchanged: a re-sync
adds nothing and makes one request per list, plus one for the reviews of the boundary pull request
(a review in the same second as the last sync would otherwise be missed). Rate limits and server
errors are handled by PyGithub's ``GithubRetry`` in ``client.py`` (Retry-After, X-RateLimit-Reset,
secondary limits, 5xx with backoff), capped so that no single wait exceeds ``max_wait`` seconds and logged as a
warning whenever we wait.
"""
