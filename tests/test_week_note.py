"""The week's note (SPEC §5): the team's words for the client, set by ``note`` or the Weekly report page,
kept in the store by ISO week, shown first in every format and view, and quoted inertly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from seed import seeded_engagement
from streamlit.testing.v1 import AppTest

from glassbox.cli import main
from glassbox.config import load_config
from glassbox.notes import MAX_NOTE_CHARS
from glassbox.periods import parse_week
from glassbox.reports import render_report
from glassbox.store import Store
from glassbox.views import View
from glassbox.workspace import open_engagement

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard" / "app.py")
NOTE = """Highlights: the retrain reached 0.86 AUC.

Decision needed: may we drop the 2019 data?
Next week: the annual-plan feature."""


@pytest.fixture
def engagement(tmp_path: Path) -> Path:
    return seeded_engagement(tmp_path / "engagement")


def note_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "note.md"
    path.write_text(text, encoding="utf-8")
    return str(path)


def report(config_path: Path, fmt: str, view: View = View.TEAM, week: str = "last") -> str:
    config = load_config(config_path)
    period = parse_week(week, config.engagement.zone, datetime.now(config.engagement.zone).date())
    rendered = render_report(open_engagement(config), config, period, fmt=fmt, view=view)
    assert isinstance(rendered, str)
    return rendered


def test_a_saved_note_opens_every_format_in_both_views(engagement: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["note", "--config", str(engagement), "--week", "last", "--file", note_file(tmp_path, NOTE)]) == 0
    assert "note saved" in capsys.readouterr().err
    for view in View:
        payload = json.loads(report(engagement, "json", view))
        assert payload["note"]["text"] == NOTE
        assert datetime.fromisoformat(payload["note"]["updated_at"]).tzinfo is not None
        markdown = report(engagement, "md", view)
        assert markdown.index("## From the team") < markdown.index("## Headline")
        assert "Decision needed: may we drop the 2019 data?  \nNext week" in markdown  # its line breaks kept
        html = report(engagement, "html", view)
        assert html.index("From the team") < html.index("This period at a glance")
        assert "may we drop the 2019 data?<br>Next week" in html


def test_an_empty_file_clears_the_note_and_other_weeks_have_none(engagement: Path, tmp_path: Path) -> None:
    assert main(["note", "--config", str(engagement), "--week", "last", "--file", note_file(tmp_path, NOTE)]) == 0
    assert json.loads(report(engagement, "json", week="this"))["note"] is None
    assert main(["note", "--config", str(engagement), "--week", "last", "--file", note_file(tmp_path, "\n  \n")]) == 0
    assert json.loads(report(engagement, "json"))["note"] is None
    assert "From the team" not in report(engagement, "md")


def test_the_note_is_read_from_standard_input(engagement: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "glassbox", "note", "--config", str(engagement), "--week", "last",
                           "--file", "-"], input="Shipped the **feature**.\n", text=True, capture_output=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(report(engagement, "json"))["note"]["text"] == "Shipped the **feature**."


def test_the_note_is_quoted_never_rendered_as_markup(engagement: Path, tmp_path: Path) -> None:
    hostile = "<script>alert(1)</script> [click](javascript:alert(1)) # not a heading"
    assert main(["note", "--config", str(engagement), "--week", "last", "--file", note_file(tmp_path, hostile)]) == 0
    html = report(engagement, "html")
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    markdown = report(engagement, "md")
    assert "<script>" not in markdown and "\\[click\\]\\(javascript:alert\\(1\\)\\)" in markdown


def test_control_characters_are_dropped_and_line_endings_kept(engagement: Path, tmp_path: Path) -> None:
    assert main(["note", "--config", str(engagement), "--week", "last",
                 "--file", note_file(tmp_path, "one\x1b[31m red\r\ntwo\x00\n")]) == 0
    assert json.loads(report(engagement, "json"))["note"]["text"] == "one[31m red\ntwo"


@pytest.mark.parametrize(("arguments", "says"), [
    (["--week", "2026-W99", "--file", "note.md"], "--week '2026-W99': no such ISO week"),
    (["--week", "last", "--file", "missing.md"], "--file missing.md: no such file"),
    (["--week", "last", "--file", "latin1.md"], "--file latin1.md: not UTF-8 text"),
    (["--week", "last", "--file", "long.md"], f"keep it under {MAX_NOTE_CHARS:,}"),
])
def test_bad_input_is_one_line_and_exit_2(arguments: list[str], says: str, engagement: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "note.md").write_text("fine", encoding="utf-8")
    (tmp_path / "latin1.md").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "long.md").write_text("x" * (MAX_NOTE_CHARS + 1), encoding="utf-8")
    assert main(["note", "--config", str(engagement), *arguments]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err
    assert json.loads(report(engagement, "json"))["note"] is None, "nothing was saved"


def test_notes_are_kept_per_week_on_both_stores(store: Store) -> None:
    assert store.week_note("2026-W47") is None
    store.set_week_note("2026-W47", "first")
    saved = store.set_week_note("2026-W47", "second")
    store.set_week_note("2026-W48", "next")
    assert saved is not None and store.week_note("2026-W47") == saved
    assert store.week_note("2026-W47").text == "second"  # type: ignore[union-attr]
    assert store.set_week_note("2026-W47", "") is None and store.week_note("2026-W47") is None
    assert store.week_note("2026-W48").text == "next"  # type: ignore[union-attr]


def open_report_page(config: Path, monkeypatch: pytest.MonkeyPatch, view: str | None = None) -> AppTest:
    monkeypatch.setenv("GLASSBOX_CONFIG", str(config))
    monkeypatch.delenv("GLASSBOX_DB_URL", raising=False)
    app = AppTest.from_file(APP, default_timeout=60)
    app.switch_page("views/weekly_report.py")
    app.run()
    if view:
        app.segmented_control(key="view").set_value(view).run()
    return app


def test_the_team_writes_the_note_on_the_weekly_report_page(engagement: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_report_page(engagement, monkeypatch)
    app.text_area[0].input("Decision needed: the 2019 data.")  # a form: the value goes with the submit
    next(button for button in app.button if button.label == "Save note").click().run()
    assert not app.exception
    assert [element.value for element in app.text] == ["Decision needed: the 2019 data."]
    assert json.loads(report(engagement, "json", View.CLIENT))["note"]["text"] == "Decision needed: the 2019 data."


def test_the_client_view_shows_the_note_without_an_editor_and_only_the_client_copy(
        engagement: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["note", "--config", str(engagement), "--week", "last", "--file", note_file(tmp_path, NOTE)]) == 0
    team = open_report_page(engagement, monkeypatch)
    assert [button.proto.label for button in team.get("download_button")] == [
        "Client copy — safe to forward · PDF", "Team copy — internal · PDF"]
    client = open_report_page(engagement, monkeypatch, view="Client")
    assert not client.exception
    assert [element.value for element in client.text] == [NOTE]
    assert not client.text_area, "no editor outside the team view"
    assert [button.proto.label for button in client.get("download_button")] == [
        "Client copy — safe to forward · PDF"]
