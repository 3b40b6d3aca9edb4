"""Workspaces (SPEC §6): many engagements in one deployment, one store, and who sees what.

The engagements are real configs in a real workspace file; the sync reads real git repositories
(two engagements share one); the store runs on SQLite and PostgreSQL; the dashboard is driven by
AppTest with the signed-in identity simulated at the boundary, as tests/test_auth.py does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from seed import CONFIG_TEXT, seed_store
from streamlit.testing.v1 import AppTest
from test_cli_sync import git_repository

from dashboard import auth
from glassbox.cli import main
from glassbox.errors import ConfigError
from glassbox.store import Store
from glassbox.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard" / "app.py")
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "a-long-random-cookie-secret",
        "google": {"client_id": "id", "client_secret": "not-a-real-secret",
                   "server_metadata_url": "https://accounts.google.com/.well-known/openid-configuration"}}


def workspace_file(folder: Path, store_url: str, *, globs: str = '"engagements/*.toml"') -> Path:
    path = folder / "workspace.toml"
    path.write_text(f'[workspace]\nname = "Agency delivery"\nengagements = [{globs}]\n\n'
                    f'[store]\nurl = "{store_url}"\n\n'
                    '[[staff]]\nname = "Linh"\nids = ["linh@agency.example"]\n', encoding="utf-8")
    return path


def engagement_file(folder: Path, name: str, text: str) -> Path:
    path = folder / "engagements" / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def git_engagement(title: str, *repos: str) -> str:
    return f'[engagement]\nname = "{title}"\n\n' + "".join(f'[[git]]\npath = "../{repo}"\n\n' for repo in repos)


# -- the workspace file and its mistakes ---------------------------------------------------------


def test_a_config_without_workspace_is_a_workspace_of_one_with_its_own_store(tmp_path: Path) -> None:
    single = tmp_path / "glassbox.toml"
    single.write_text('[engagement]\nname = "Acme"\n\n[store]\nurl = "sqlite:///own.db"\n', encoding="utf-8")
    found = load_workspace(single)
    assert found.single and found.ids == ["glassbox"]
    assert found.store_url == f"sqlite:///{tmp_path / 'own.db'}"


def test_engagement_ids_come_from_the_file_stem_or_engagement_id(tmp_path: Path) -> None:
    engagement_file(tmp_path, "acme", git_engagement("Acme"))
    engagement_file(tmp_path, "Globex Fraud", git_engagement("Globex"))
    engagement_file(tmp_path, "third", '[engagement]\nid = "initech"\nname = "Initech"\n')
    found = load_workspace(workspace_file(tmp_path, "sqlite:///shared.db"))
    assert found.ids == ["acme", "globex-fraud", "initech"]
    assert {config.store_url for config in found.engagements.values()} == {f"sqlite:///{tmp_path / 'shared.db'}"}


@pytest.mark.parametrize(("files", "globs", "expected"), [
    ({"a": '[engagement]\nid = "same"\n', "b": '[engagement]\nid = "same"\n'}, None,
     r"a\.toml and .*b\.toml: two engagements with the id 'same'"),
    ({"a": '[store]\nurl = "sqlite:///mine.db"\n'}, None,
     r"a\.toml: an engagement of the workspace .* has its own \[store\]"),
    ({"a": ""}, '"engagements/*.toml", "clients/*.toml"', r"workspace\.engagements\[1\] 'clients/\*\.toml' matches no"),
    ({"a": '[engagement]\nid = "Not An Id"\n'}, None, r"a\.toml: key 'engagement\.id'"),
])
def test_workspace_mistakes_are_one_line_naming_the_file_or_id(
        tmp_path: Path, files: dict[str, str], globs: str | None, expected: str,
        capsys: pytest.CaptureFixture) -> None:
    for name, text in files.items():
        engagement_file(tmp_path, name, text)
    path = workspace_file(tmp_path, "sqlite:///shared.db", **({"globs": globs} if globs else {}))
    with pytest.raises(ConfigError, match=expected):
        load_workspace(path)
    assert main(["engagements", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err


def test_unknown_engagement_and_a_missing_one_are_exit_2_naming_the_ids(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    engagement_file(tmp_path, "acme", "")
    engagement_file(tmp_path, "globex", "")
    path = str(workspace_file(tmp_path, f"sqlite:///{tmp_path / 'shared.db'}"))
    assert main(["timeline", "--config", path, "--engagement", "nope"]) == 2
    assert "--engagement 'nope' is not an engagement of this workspace (known: acme, globex)" in capsys.readouterr().err
    assert main(["report", "--config", path]) == 2
    assert "report needs --engagement ID in a workspace of 2 engagements (one of: acme, globex)" in \
        capsys.readouterr().err
    assert main(["report", "--config", path, "--engagement", "all"]) == 2
    assert "give --out DIR" in capsys.readouterr().err


# -- one store, many engagements ------------------------------------------------------------------


@pytest.fixture
def synced_workspace(store: Store, tmp_path: Path) -> Path:
    """acme and globex share the repository ``shared`` (3 commits); globex also has ``own`` (5);
    broken's only source is a folder that is not a repository. One store for all."""
    git_repository(tmp_path / "shared")
    git_repository(tmp_path / "own", commits=5)
    (tmp_path / "not-a-repo").mkdir()
    engagement_file(tmp_path, "acme", git_engagement("Acme churn", "shared"))
    engagement_file(tmp_path, "globex", git_engagement("Globex fraud", "shared", "own"))
    engagement_file(tmp_path, "broken", git_engagement("Broken", "not-a-repo"))
    return workspace_file(tmp_path, store.engine.url.render_as_string(hide_password=False))


def test_sync_without_engagement_syncs_every_one_and_a_failing_one_stops_none(
        synced_workspace: Path, store: Store, capsys: pytest.CaptureFixture) -> None:
    assert main(["sync", "--config", str(synced_workspace)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in err] == ["acme", "broken", "globex", "globex"]
    assert "not a git repository" in err[1] or "broken: git" in err[1]
    counts = {engagement: store.scoped(engagement).count_events() for engagement in ("acme", "globex", "broken")}
    assert counts == {"acme": 3, "globex": 3 + 5, "broken": 0}  # the shared 3 commits twice, each its own rows
    assert main(["sync", "--config", str(synced_workspace), "--engagement", "acme"]) == 0
    assert "acme" not in capsys.readouterr().err.split(":")[0]  # one engagement: lines as before, no prefix


def test_engagements_lists_ids_names_sources_events_and_last_sync(
        synced_workspace: Path, capsys: pytest.CaptureFixture) -> None:
    main(["sync", "--config", str(synced_workspace)])
    capsys.readouterr()
    assert main(["engagements", "--config", str(synced_workspace), "--format", "json"]) == 0
    rows = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    assert list(rows) == ["acme", "broken", "globex"]
    assert rows["globex"]["name"] == "Globex fraud" and len(rows["globex"]["sources"]) == 2
    assert (rows["acme"]["events"], rows["acme"]["last_sync"]["ok"]) == (3, True)
    assert (rows["broken"]["events"], rows["broken"]["last_sync"]["ok"]) == (0, False)
    assert main(["engagements", "--config", str(synced_workspace)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ID", "NAME", "SOURCES", "EVENTS", "LAST", "SYNC"] and len(table) == 4


def test_timeline_rows_carry_their_engagement_and_only_its_events(
        synced_workspace: Path, capsys: pytest.CaptureFixture) -> None:
    main(["sync", "--config", str(synced_workspace)])
    capsys.readouterr()
    assert main(["timeline", "--config", str(synced_workspace), "--engagement", "acme"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3 and {row["engagement"] for row in rows} == {"acme"}


def test_report_all_writes_one_file_per_engagement_named_by_id(
        synced_workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    main(["sync", "--config", str(synced_workspace)])
    out = tmp_path / "reports"
    assert main(["report", "--config", str(synced_workspace), "--engagement", "all", "--out", str(out),
                 "--format", "json", "--from", "2026-11-01", "--to", "2026-11-07"]) == 0
    names = sorted(path.name for path in out.iterdir())
    assert names == [f"glassbox-{engagement}-2026-11-01_to_2026-11-07-team.json"
                     for engagement in ("acme", "broken", "globex")]
    globex = json.loads((out / names[2]).read_text())
    assert (globex["engagement_id"], globex["engagement"], globex["counts"]["commits"]) == ("globex", "Globex fraud", 8)


# -- who sees what in the dashboard -----------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_seeded_workspace(tmp_path_factory.mktemp("workspace"))


def build_seeded_workspace(folder: Path) -> Path:
    """Three seeded engagements in one SQLite store: Carol is acme's client, Gina globex's, Minh on
    the team of acme and globex; Linh is staff; nobody outside the agency knows of initech."""
    from glassbox.store import open_store

    folder.mkdir(parents=True, exist_ok=True)
    head, tail = CONFIG_TEXT.split("[store]")
    base = head + tail.split("\n", 2)[2]  # without [store] and its url line
    texts = {
        "acme": base,
        "globex": base.replace("Acme churn model", "Globex fraud model").replace("acme.example", "globex.example")
                      .replace('"Carol"', '"Gina"'),
        "initech": base.replace("Acme churn model", "Initech pricing").replace("acme.example", "initech.example")
                       .replace("minh@agency.example", "someone@agency.example"),
    }
    path = workspace_file(folder, f"sqlite:///{folder / 'shared.db'}")
    for name, text in texts.items():
        engagement_file(folder, name, text)
    found = load_workspace(path)
    store = open_store(found.store_url, "acme")
    for engagement, config in found.engagements.items():
        seed_store(store.scoped(engagement), config, weeks=2)
    store.engine.dispose()
    return path


def open_app(config: Path, monkeypatch: pytest.MonkeyPatch, email: str | None, page: str | None = None,
             query: dict[str, str] | None = None) -> AppTest:
    monkeypatch.setenv("GLASSBOX_CONFIG", str(config))
    monkeypatch.delenv("GLASSBOX_DB_URL", raising=False)
    monkeypatch.setattr(auth, "auth_configured", lambda: email is not None)
    app = AppTest.from_file(APP, default_timeout=120)
    if email is not None:
        app.user = {"is_logged_in": True, "email": email}
        app.secrets["auth"] = AUTH
    for key, value in (query or {}).items():
        app.query_params[key] = value
    if page:
        app.switch_page(f"views/{page}.py")
    app.run()
    assert not app.exception, app.exception[0].value if app.exception else ""
    return app


def everything_shown(app: AppTest) -> str:
    """Every text the page and sidebar show, widgets' options included."""
    parts = [str(getattr(element, "value", "")) for element in app.main.children.values()]
    for kind in ("markdown", "caption", "title", "selectbox", "warning", "error", "info"):
        for element in app.get(kind):
            parts.append(str(getattr(element, "value", "")))
            parts.extend(str(option) for option in getattr(element, "options", []))
    for frame in app.dataframe:
        parts.append(frame.value.to_csv())
    return "\n".join(parts)


def page_links(app: AppTest) -> list[str]:
    return [element.proto.label for element in app.get("page_link")]


def test_staff_land_on_the_portfolio_with_every_engagement(seeded_workspace: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_app(seeded_workspace, monkeypatch, "linh@agency.example")
    assert app.title[0].value == "Portfolio"
    assert sorted(page_links(app)) == ["Acme churn model", "Globex fraud model", "Initech pricing"]
    picker = next(box for box in app.selectbox if box.key == "engagement")
    assert picker.options == ["Acme churn model", "Globex fraud model", "Initech pricing"]


def test_local_mode_with_several_engagements_lands_on_the_portfolio(seeded_workspace: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_app(seeded_workspace, monkeypatch, None)
    assert app.title[0].value == "Portfolio" and len(page_links(app)) == 3


def test_a_client_sees_only_their_engagement_locked_and_never_another_name(
        seeded_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_app(seeded_workspace, monkeypatch, "carol@acme.example", "today")
    shown = everything_shown(app)
    assert "Acme churn model" in shown and "Client view" in shown
    assert "Globex" not in shown and "Initech" not in shown and "Portfolio" not in shown
    assert not [box for box in app.selectbox if box.key == "engagement"]  # one engagement: no picker
    assert not any(control.key == "view" for control in app.get("segmented_control"))


@pytest.mark.parametrize("asked", ["globex", "initech", "no-such-engagement"])
def test_a_client_asking_for_another_engagement_in_the_url_gets_their_own(
        seeded_workspace: Path, monkeypatch: pytest.MonkeyPatch, asked: str) -> None:
    """A hidden engagement and one that does not exist look exactly the same."""
    app = open_app(seeded_workspace, monkeypatch, "carol@acme.example", "timeline", {"engagement": asked})
    shown = everything_shown(app)
    assert "Acme churn model" in shown and "Globex" not in shown and "Initech" not in shown
    assert asked not in shown and "engagement" not in app.query_params


def test_a_team_member_of_two_engagements_gets_a_portfolio_of_those_two(
        seeded_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_app(seeded_workspace, monkeypatch, "minh@agency.example")
    assert sorted(page_links(app)) == ["Acme churn model", "Globex fraud model"]
    assert "Initech" not in everything_shown(app)


def test_the_url_picks_a_visible_engagement_and_its_view(seeded_workspace: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_app(seeded_workspace, monkeypatch, "linh@agency.example", "today", {"engagement": "globex"})
    assert "Globex fraud model" in " ".join(caption.value for caption in app.caption)
    assert any(control.key == "view" for control in app.get("segmented_control"))  # staff: team view, switchable


def test_the_example_workspace_file_is_valid(tmp_path: Path) -> None:
    example = (ROOT / "config" / "workspace.example.toml").read_text(encoding="utf-8")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "workspace.toml").write_text(example, encoding="utf-8")
    engagement_file(tmp_path / "config", "acme", git_engagement("Acme"))
    found = load_workspace(tmp_path / "config" / "workspace.toml")
    assert found.ids == ["acme"] and [member.name for member in found.staff] == ["Linh"]
    assert found.store_url == f"sqlite:///{tmp_path / 'data' / 'glassbox.db'}"


def test_the_picker_switches_the_engagement_and_the_url_follows(seeded_workspace: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_app(seeded_workspace, monkeypatch, None, "today", {"engagement": "acme"})
    next(box for box in app.selectbox if box.key == "engagement").select("initech").run()
    assert not app.exception
    assert "Initech pricing · what happened" in " ".join(caption.value for caption in app.caption)
    assert "initech" in app.query_params["engagement"]
