"""Sign-in: who may look at the dashboard and which view they get (dashboard/auth.py).

The policy is a pure function tested directly; the guard is tested with AppTest on a seeded store,
the identity simulated at the boundary: ``AppTest.user`` is what ``st.user`` reads, and
``auth.auth_configured`` (whether ``.streamlit/secrets.toml`` has an ``[auth]`` section) is replaced.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from seed import INTERNAL_TICKET, seeded_engagement
from streamlit.testing.v1 import AppTest

from dashboard import auth
from dashboard.auth import Access, decide_access
from glassbox.config import load_config

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard" / "app.py")
GOOGLE = {"client_id": "id.apps.googleusercontent.com", "client_secret": "not-a-real-secret",
          "server_metadata_url": "https://accounts.google.com/.well-known/openid-configuration"}
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "a-long-random-cookie-secret",
        "google": GOOGLE}


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
             page: str = "timeline", *, configured: bool = True,
             section: dict[str, object] | None = None) -> AppTest:
    monkeypatch.setenv("GLASSBOX_CONFIG", str(config))
    monkeypatch.delenv("GLASSBOX_DB_URL", raising=False)
    monkeypatch.setattr(auth, "auth_configured", lambda: configured)
    app = AppTest.from_file(APP, default_timeout=60)
    if user is not None:
        app.user = user
    app.secrets["auth"] = AUTH if section is None else section
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


@pytest.mark.parametrize(("missing", "named"), [
    ("cookie_secret", "no `cookie_secret`"), ("redirect_uri", "no `redirect_uri`"),
    ("google", "no provider in `.streamlit/secrets.toml` is complete")])
def test_incomplete_auth_section_is_named_instead_of_a_button(
        missing: str, named: str, seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue #15: Streamlit checks these only once "Sign in" is pressed; say what is missing up front."""
    section = {key: value for key, value in AUTH.items() if key != missing}
    app = open_app(seeded, monkeypatch, {"is_logged_in": False}, section=section)
    assert len(app.error) == 1 and named in app.error[0].value and "docs/sign-in.md" in app.error[0].value
    assert not app.button and not app.dataframe and not app.sidebar.children


def test_a_missing_sign_in_package_is_named_instead_of_a_looping_button(
        seeded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue #15: without httpx Authlib's Starlette client cannot be imported, Streamlit's login route
    fails and the visitor lands back on the sign-in page with no word; the page must say so first.
    The package is made uninstalled for this process only: ``None`` in ``sys.modules`` fails its import
    (httpx2 too, which newer Authlib tries first)."""
    for name in [name for name in sys.modules if name.startswith(("httpx", "authlib.integrations"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "httpx", None)
    monkeypatch.setitem(sys.modules, "httpx2", None)
    app = open_app(seeded, monkeypatch, {"is_logged_in": False})
    assert len(app.error) == 1 and "`httpx` is not installed" in app.error[0].value
    assert "pip install -r requirements.txt" in app.error[0].value
    assert not app.button and not app.dataframe


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
def test_requirements_install_everything_sign_in_needs() -> None:
    """Issue #15: a virtualenv built from requirements.txt had Authlib but not httpx, which Authlib's
    Starlette client imports, so "Sign in" looped back to the sign-in page. Streamlit's own ``auth``
    extra lists what ``st.login`` needs; requirements.txt must install all of it."""
    listed = set()
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):  # "-e ." installs this checkout, not a dependency
            listed.add(canonicalize_name(Requirement(line).name))
    needed = {canonicalize_name(requirement.name)
              for requirement in map(Requirement, metadata.requires("streamlit") or [])
              if requirement.marker is not None and "extra" in str(requirement.marker)
              and requirement.marker.evaluate({"extra": "auth"})}
    assert needed >= {"authlib", "httpx"}, needed  # what Streamlit 1.50+ declares for st.login
    assert needed <= listed, f"requirements.txt lacks {sorted(needed - listed)}"
