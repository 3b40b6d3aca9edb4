"""Sign-in: who may look at the dashboard and which view they get (dashboard/auth.py).

The policy is a pure function tested directly; the guard is tested with AppTest on a seeded store,
the identity simulated at the boundary: ``AppTest.user`` is what ``st.user`` reads, and
``auth.auth_configured`` (whether ``.streamlit/secrets.toml`` has an ``[auth]`` section) is replaced.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import auth
from dashboard.auth import Access, decide_access
from glassbox.config import load_config
from seed import INTERNAL_TICKET, seeded_engagement

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
GOOGLE = {"client_id": "id.apps.googleusercontent.com", "client_secret": "not-a-real-secret",
          "server_metadata_url": "https://accounts.google.com/.well-known/openid-configuration"}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_engagement(tmp_path_factory.mktemp("auth"))


# -- the policy --------------------------------------------------------------------------------


def test_without_auth_configured_the_app_is_local_and_open(seeded: Path) -> None:
    assert decide_access(False, False, None, load_config(seeded)) == Access("local", view="team", locked=False)


def test_signed_out_visitor_must_sign_in(seeded: Path) -> None:
    access = decide_access(True, False, None, load_config(seeded))
    assert access.status == "sign_in" and not access.allowed


def test_client_email_gets_the_client_view_locked(seeded: Path) -> None:
    access = decide_access(True, True, "carol@acme.example", load_config(seeded))
    assert access == Access("granted", view="client", locked=True, person="Carol", email="carol@acme.example")


def test_team_email_gets_the_team_view_and_may_switch(seeded: Path) -> None:
    access = decide_access(True, True, "minh@agency.example", load_config(seeded))
    assert (access.status, access.view, access.locked, access.person) == ("granted", "team", False, "Minh")


def test_email_matching_ignores_case_and_surrounding_spaces(seeded: Path) -> None:
    access = decide_access(True, True, " Carol@ACME.example ", load_config(seeded))
    assert access.person == "Carol" and access.view == "client"


@pytest.mark.parametrize("email", ["eve@elsewhere.example", "Carol", "carol-acme@acme.example", "", None])
def test_unknown_or_missing_email_is_refused(email: str | None, seeded: Path) -> None:
    """A person's name or another id type is not an e-mail they signed in with."""
    access = decide_access(True, True, email, load_config(seeded))
    assert access.status == "refused" and not access.allowed
    assert access.view == "client" and access.locked


def test_bots_and_a_missing_config_are_refused(seeded: Path, tmp_path: Path) -> None:
    config = tmp_path / "bots.toml"
    config.write_text('[[people]]\nname = "CI"\nside = "bot"\nids = ["ci@agency.example"]\n', encoding="utf-8")
    assert decide_access(True, True, "ci@agency.example", load_config(config)).status == "refused"
    assert decide_access(True, True, "carol@acme.example", None).status == "refused"


# -- the guard in the app ----------------------------------------------------------------------


def open_app(config: Path, monkeypatch: pytest.MonkeyPatch, user: dict[str, object] | None,
             page: str = "timeline", *, configured: bool = True) -> AppTest:
    monkeypatch.setenv("GLASSBOX_CONFIG", str(config))
    monkeypatch.delenv("GLASSBOX_DB_URL", raising=False)
    monkeypatch.setattr(auth, "auth_configured", lambda: configured)
    app = AppTest.from_file(APP, default_timeout=60)
    if user is not None:
        app.user = user
    app.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback",
                           "cookie_secret": "a-long-random-cookie-secret", "google": GOOGLE}
    app.switch_page(f"views/{page}.py")
    app.run()
    assert not app.exception, app.exception[0].value if app.exception else ""
    return app


def has_view_control(app: AppTest) -> bool:
    return any(control.key == "view" for control in app.get("segmented_control"))


def test_signed_out_visitor_sees_only_the_sign_in_page(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_app(seeded, monkeypatch, {"is_logged_in": False})
    assert [title.value for title in app.title] == ["Glassbox"]
    assert [button.label for button in app.button] == ["Sign in with Google"]
    assert not app.dataframe and not app.sidebar.children


def test_unknown_account_sees_a_polite_refusal_and_nothing_else(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_app(seeded, monkeypatch, {"is_logged_in": True, "email": "eve@elsewhere.example"})
    assert [title.value for title in app.title] == ["Glassbox"]
    assert "Sorry" in app.warning[0].value and "eve@elsewhere" in app.warning[0].value
    assert [button.label for button in app.button] == ["Sign out"]
    assert not app.dataframe and not app.sidebar.children and not app.get("selectbox")


def test_unverified_email_is_refused(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_app(seeded, monkeypatch, {"is_logged_in": True, "email": "minh@agency.example", "email_verified": False})
    assert "verified" in app.warning[0].value and not app.dataframe


def test_client_person_gets_the_client_view_without_a_switch(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_app(seeded, monkeypatch, {"is_logged_in": True, "email": "carol@acme.example"})
    assert app.title[0].value == "Timeline"
    assert not has_view_control(app)
    captions = " ".join(caption.value for caption in app.sidebar.caption)
    assert "Client view" in captions and "Signed in as Carol" in captions
    rows = [table.value for table in app.dataframe if "Thread" in table.value.columns]
    assert rows and not any((frame["Thread"] == INTERNAL_TICKET).any() for frame in rows)


def test_team_person_gets_the_team_view_and_may_switch(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_app(seeded, monkeypatch, {"is_logged_in": True, "email": "MINH@agency.example"})
    assert has_view_control(app)
    threads = {thread for table in app.dataframe if "Thread" in table.value.columns for thread in table.value["Thread"]}
    assert INTERNAL_TICKET in threads
    assert "Signed in as Minh" in " ".join(caption.value for caption in app.sidebar.caption)


def test_without_auth_the_sidebar_says_local_single_user_mode(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_app(seeded, monkeypatch, None, page="today", configured=False)
    assert has_view_control(app)
    assert "Local single-user mode" in " ".join(caption.value for caption in app.sidebar.caption)
    assert not any(button.label == "Sign out" for button in app.button)


def test_secrets_file_with_an_auth_section_switches_sign_in_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real boundary: ``auth_configured`` reads ``st.secrets``."""
    app = AppTest.from_string("from dashboard import auth\nimport streamlit as st\n"
                              "st.text(repr((auth.auth_configured(), auth.providers())))")
    app.run()
    assert app.text[0].value == "(False, [])"
    app.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
                           **GOOGLE, "okta": {**GOOGLE, "server_metadata_url": "https://acme.okta.com/.well-known/"
                                                                               "openid-configuration"}}
    app.run()
    assert app.text[0].value == "(True, [None, 'okta'])"


def test_access_and_the_view_control_speak_the_one_view_type() -> None:
    """Four spellings of the views (``visibility.VIEWS``, ``context.VIEWS``, two CLI ``choices=``) became one."""
    from dashboard import context
    from glassbox.views import View

    assert list(context.VIEWS.values()) == list(View) and list(context.VIEWS) == ["Team", "Client"]
    assert Access("sign_in").view is View.CLIENT  # the least one can see
    assert decide_access(False, False, None, None).view is View.TEAM
