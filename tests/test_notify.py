"""``notify`` end to end (SPEC §8): real mail through aiosmtpd, real ``json://`` posts to a local HTTP server.

The engagement is the seeded one (tests/seed.py), frozen at a Tuesday; the clock is moved with ``--now``.
Its zone is New York, its working days Mon–Fri; daylight saving ends there on Sunday 1 Nov 2026.
"""

from __future__ import annotations

import email
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from seed import INTERNAL_TICKET, INTERNAL_TITLE, seeded_engagement

from glassbox.cli import main
from glassbox.config import load_config
from glassbox.notify.sent import notifications_sent
from glassbox.workspace import open_engagement

SEEDED_AT = datetime(2026, 11, 3, 17, 0, tzinfo=UTC)  # Tuesday 3 Nov, 12:00 in New York
MONDAY_0900 = "2026-11-02T09:00:00-05:00"  # the first working day after 2026-W44, after digest_at
SECRET_TOKEN = "hooks-secret-4242"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mailbox:
    """What the SMTP server received, each message parsed back with the ``email`` package."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 — aiosmtpd's name
        self.messages.append(email.message_from_bytes(envelope.content, policy=default))  # type: ignore[arg-type]
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(message["Subject"]) for message in self.messages]


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


class Hook:
    """A local HTTP server taking ``json://`` posts; ``status`` is what it answers."""

    def __init__(self, port: int | None = None) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 — http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if hook.status == 200:
                    hook.posts.append(json.loads(body))
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


def mail_url(port: int) -> str:
    return f"mailto://127.0.0.1:{port}?from=glassbox@agency.example&to=carol@acme.example&mode=insecure"


def json_url(port: int) -> str:
    return f"json://127.0.0.1:{port}/hooks/{SECRET_TOKEN}"


NOTIFY = """
[[agreement]]
latency = "client_response"
within_working_hours = 8
target_share = 0.9

[[notify]]
name = "acme-mail"
to_env = "GB_TEST_NOTIFY_MAIL"
view = "client"
digest_at = "08:30"

[[notify]]
name = "team-hook"
to_env = "GB_TEST_NOTIFY_HOOK"
view = "team"
send = {send}
digest_at = "08:30"
"""


@pytest.fixture
def engagement(tmp_path: Path) -> Path:
    path = seeded_engagement(tmp_path / "acme", now=SEEDED_AT, weeks=2)
    text = path.read_text(encoding="utf-8").replace(
        'name = "Acme churn model"', 'name = "Acme churn model"\ndashboard_url = "https://glassbox.example/acme"', 1)
    path.write_text(text + NOTIFY.format(send='["digest", "alerts", "weekly"]'), encoding="utf-8")
    return path


def notify(config: Path, now: str, *extra: str) -> int:
    return main(["notify", "--config", str(config), "--now", now, *extra])


def ledger_rows(config: Path) -> list[tuple[str, str, str]]:
    store = open_engagement(load_config(config))
    with store.engine.connect() as conn:
        rows = conn.execute(notifications_sent.select()).mappings().all()
    return sorted((row["notify"], row["kind"], row["key"]) for row in rows)


def test_client_mail_gets_digest_alerts_and_the_weekly_pdf_once_and_nothing_internal(
        engagement: Path, smtp: tuple[Mailbox, int], hook: Hook, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    box, port = smtp
    monkeypatch.setenv("GB_TEST_NOTIFY_MAIL", mail_url(port))
    monkeypatch.setenv("GB_TEST_NOTIFY_HOOK", json_url(hook.port))
    assert notify(engagement, MONDAY_0900) == 0
    subjects = box.subjects()
    assert subjects[0] == "Acme churn model — Mon 02 Nov 2026"
    assert "Acme churn model — weekly report 2026-W44" in subjects
    digest = box.messages[0]
    plain = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = digest.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Since Fri 30 Oct" in plain and "Waiting now" in plain and "https://glassbox.example/acme" in plain
    assert "<h3>Waiting now</h3>" in html and 'href="https://glassbox.example/acme"' in html
    weekly = next(message for message in box.messages if "weekly report" in str(message["Subject"]))
    pdfs = [part for part in weekly.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert len(pdfs) == 1 and pdfs[0].get_content().startswith(b"%PDF")
    assert pdfs[0].get_filename() == "glassbox-2026-W44.pdf"
    for message in box.messages:  # the client view throughout: the internal ticket appears nowhere
        for part in message.walk():
            if part.get_content_maintype() == "text":
                assert INTERNAL_TICKET not in part.get_content() and INTERNAL_TITLE not in part.get_content()
    team_text = json.dumps(hook.posts)
    assert hook.posts and all(len(post["message"]) <= 1000 for post in hook.posts)
    assert "https://glassbox.example/acme" in team_text
    output = capsys.readouterr().err
    assert SECRET_TOKEN not in output and "127.0.0.1" not in output
    assert "acme-mail: sent digest [2026-11-02]" in output

    received, posted = len(box.messages), len(hook.posts)
    assert notify(engagement, MONDAY_0900) == 0  # run again: everything due was sent already
    assert (len(box.messages), len(hook.posts)) == (received, posted)
    assert ("acme-mail", "weekly", "2026-W44") in ledger_rows(engagement)
    assert all(SECRET_TOKEN not in " ".join(row) for row in ledger_rows(engagement))


def test_dry_run_names_targets_and_records_nothing(engagement: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("GB_TEST_NOTIFY_MAIL", raising=False)  # a dry run needs no URL at all
    assert notify(engagement, MONDAY_0900, "--dry-run") == 0
    output = capsys.readouterr().err
    assert "acme-mail (client view): would send digest [2026-11-02]" in output
    assert "team-hook (team view): would send weekly [2026-W44]" in output
    assert ledger_rows(engagement) == []


def test_a_failing_target_is_retried_next_run_and_the_others_still_go(
        engagement: Path, smtp: tuple[Mailbox, int], hook: Hook, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    box, port = smtp
    monkeypatch.setenv("GB_TEST_NOTIFY_MAIL", mail_url(port))
    monkeypatch.setenv("GB_TEST_NOTIFY_HOOK", json_url(hook.port))
    hook.status = 500
    assert notify(engagement, "2026-11-03T09:00:00-05:00") == 1
    failures = [line for line in capsys.readouterr().err.splitlines() if "not sent" in line]
    assert failures and all(line.startswith("team-hook: ") for line in failures)
    assert "target 1 of 1 (json): delivery failed" in failures[0] and SECRET_TOKEN not in failures[0]
    assert box.subjects()  # the mail target was sent all the same
    assert not [row for row in ledger_rows(engagement) if row[0] == "team-hook"]

    hook.status = 200
    assert notify(engagement, "2026-11-03T09:10:00-05:00") == 0
    assert [post["title"] for post in hook.posts][0] == "Acme churn model — Tue 03 Nov 2026"
    assert notify(engagement, "2026-11-03T09:20:00-05:00") == 0
    assert len([post for post in hook.posts if post["title"].endswith("Tue 03 Nov 2026")]) == 1


def test_a_refused_connection_fails_and_succeeds_once_the_target_listens(
        engagement: Path, smtp: tuple[Mailbox, int], monkeypatch: pytest.MonkeyPatch) -> None:
    _, mail_port = smtp
    port = free_port()  # nothing listens here yet
    monkeypatch.setenv("GB_TEST_NOTIFY_MAIL", mail_url(mail_port))
    monkeypatch.setenv("GB_TEST_NOTIFY_HOOK", json_url(port))
    assert notify(engagement, "2026-11-03T09:00:00-05:00") == 1
    late = Hook(port)
    try:
        assert notify(engagement, "2026-11-03T09:05:00-05:00") == 0
        assert "Acme churn model — Tue 03 Nov 2026" in [post["title"] for post in late.posts]
    finally:
        late.close()


def test_a_week_across_a_weekend_and_the_end_of_daylight_saving(
        tmp_path: Path, engagement: Path, hook: Hook, monkeypatch: pytest.MonkeyPatch) -> None:
    """Digests on working days from 08:30 New York time (EDT until Sunday 1 Nov, EST after), none at the
    weekend; the last week's report once, from the first working day after it (so the first run, on a
    Thursday, sends 2026-W43's, and Monday 2026-W44's)."""
    text = engagement.read_text(encoding="utf-8")
    start = text.index('[[notify]]\nname = "acme-mail"')
    end = text.index("[[notify]]\nname = \"team-hook\"")
    engagement.write_text(text[:start] + text[end:], encoding="utf-8")  # the hook alone
    monkeypatch.setenv("GB_TEST_NOTIFY_HOOK", json_url(hook.port))
    moments = [
        "2026-10-29T12:20:00Z",  # Thu 08:20 EDT: too early for the digest; 2026-W43's report never went
        "2026-10-29T12:40:00Z",  # Thu 08:40 EDT: Thursday's digest
        "2026-10-30T12:40:00Z",  # Fri 08:40 EDT
        "2026-10-31T14:00:00Z",  # Sat
        "2026-11-01T14:00:00Z",  # Sun, the day clocks go back
        "2026-11-02T13:20:00Z",  # Mon 08:20 EST (09:20 on a clock stuck at EDT): too early
        "2026-11-02T13:40:00Z",  # Mon 08:40 EST: Monday's digest and the weekly report
        "2026-11-02T20:00:00Z",  # Mon afternoon: nothing new
        "2026-11-03T13:40:00Z",  # Tue 08:40 EST
    ]
    seen = []
    for moment in moments:
        before = len(hook.posts)
        assert notify(engagement, moment) == 0
        seen.append([post["title"].removeprefix("Acme churn model — ") for post in hook.posts[before:]
                     if "alert" not in post["title"] and "breached" not in post["title"]])
    assert seen == [["weekly report 2026-W43"], ["Thu 29 Oct 2026"], ["Fri 30 Oct 2026"], [], [], [],
                    ["Mon 02 Nov 2026", "weekly report 2026-W44"], [], ["Tue 03 Nov 2026"]]


@pytest.fixture(params=["sqlite", "postgresql"])
def engagement_on_both_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "sqlite":
        return request.getfixturevalue("engagement")
    path = seeded_engagement(tmp_path / "acme-pg", now=SEEDED_AT, weeks=2, store_url=request.getfixturevalue("pg_url"))
    path.write_text(path.read_text(encoding="utf-8") + NOTIFY.format(send='["digest", "alerts", "weekly"]'),
                    encoding="utf-8")
    return path


def test_two_runs_at_once_send_each_message_once(engagement_on_both_stores: Path, smtp: tuple[Mailbox, int],
                                                 hook: Hook) -> None:
    engagement = engagement_on_both_stores
    box, port = smtp
    environment = {**os.environ, "GB_TEST_NOTIFY_MAIL": mail_url(port), "GB_TEST_NOTIFY_HOOK": json_url(hook.port)}
    command = [sys.executable, "-m", "glassbox", "notify", "--config", str(engagement), "--now", MONDAY_0900]
    runs = [subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=300)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    subjects = box.subjects()
    assert subjects.count("Acme churn model — Mon 02 Nov 2026") == 1
    assert subjects.count("Acme churn model — weekly report 2026-W44") == 1
    titles = [post["title"] for post in hook.posts]
    assert len(titles) == len(set(titles))


@pytest.mark.parametrize(("section", "problem"), [
    ('[[notify]]\nname = "a"\nto_env = "X"\n\n[[notify]]\nname = "a"\nto_env = "Y"',
     "key 'notify': notify names must be unique; a appears more than once"),
    ('[[notify]]\nname = "a"\nto_env = "X"\nview = "partner"', "key 'notify[0].view'"),
    ('[[notify]]\nname = "a"\nto_env = "X"\nsend = ["digest", "sms"]', "key 'notify[0].send[1]'"),
    ('[[notify]]\nname = "a"\nto_env = "X"\ndigest_at = "8:30"', "key 'notify[0].digest_at': expected HH:MM"),
    ('[[notify]]\nname = "a"', "missing key 'notify[0].to_env'"),
])
def test_bad_notify_sections_are_one_line_errors(section: str, problem: str, write_config,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(section + "\n")
    assert main(["notify", "--config", str(path), "--dry-run"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {path.resolve()}: {problem}") and "Traceback" not in error


def test_bad_clock_unset_variable_and_other_engagement_exit_2(engagement: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert notify(engagement, "2026-11-02T09:00:00") == 2
    assert "--now '2026-11-02T09:00:00': give its UTC offset" in capsys.readouterr().err
    monkeypatch.delenv("GB_TEST_NOTIFY_MAIL", raising=False)
    assert notify(engagement, MONDAY_0900) == 2
    assert "notify[0].to_env names the environment variable GB_TEST_NOTIFY_MAIL" in capsys.readouterr().err
    assert notify(engagement, MONDAY_0900, "--engagement", "other", "--dry-run") == 2
    assert "--engagement 'other'" in capsys.readouterr().err
    assert notify(engagement, MONDAY_0900, "--engagement", "glassbox", "--dry-run") == 0
