"""The Feedback loops and Today pages with working agreements (SPEC §7), under AppTest on the seeded store."""

from __future__ import annotations

from pathlib import Path

import pytest
from seed import INTERNAL_TICKET, seeded_engagement
from test_dashboard import open_page, table_with, texts

AGREEMENTS = """
[[agreement]]
latency = "client_response"
within_working_hours = 8
target_share = 0.9

[[agreement]]
latency = "ticket_lead"
within_hours = 10
"""


@pytest.fixture(scope="module")
def agreed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = seeded_engagement(tmp_path_factory.mktemp("agreed"))
    config.write_text(config.read_text(encoding="utf-8") + AGREEMENTS, encoding="utf-8")
    return config


def test_feedback_shows_each_agreement_in_words_and_the_waits_past_their_limit(
        agreed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_page("feedback", agreed, monkeypatch)
    assert not app.exception, app.exception[0].value if app.exception else ""
    shown = texts(app)
    assert "Working agreements" in shown
    assert "client messages answered within 8 working hours" in shown
    assert "tickets done within 10 hours" in shown
    late = table_with(app, "Agreed")
    # CHURN-500 was created 20 hours ago and has waited 6 of them for the client (paused): 14 > 10
    assert "CHURN-500" in set(late["Thread"])
    assert set(late["Agreed"]) <= {"8 working hours", "10 hours"}


def test_today_lists_the_waits_past_their_limit_first_in_either_view(
        agreed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_page("today", agreed, monkeypatch)
    assert not app.exception, app.exception[0].value if app.exception else ""
    assert "Working agreements this week:" in texts(app)
    assert "CHURN-500" in set(table_with(app, "Agreed")["Thread"])
    app.segmented_control(key="view").set_value("Client").run()
    assert not app.exception
    assert not (table_with(app, "Agreed")["Thread"] == INTERNAL_TICKET).any()
