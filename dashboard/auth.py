"""Who may look at the dashboard, and which view they get.

When the dashboard is served to others, Streamlit's built-in OpenID Connect sign-in (``st.login``,
configured under ``[auth]`` in ``.streamlit/secrets.toml``, see docs/sign-in.md) says who is looking
and the engagement's ``[[people]]`` table says who they are: client-side people get the client view
and cannot switch it, team-side people get the team view, anyone else a polite refusal and no data.
Without an ``[auth]`` section the app is a local, single-user tool and says so in the sidebar.

In a workspace (SPEC §6) each engagement's ``[[people]]`` decide separately: a visitor sees only the
engagements that list them, each with that engagement's side, and the workspace's ``[[staff]]`` see
every engagement in the team view. :attr:`Access.views` is that list; nothing else is ever shown,
so a client never learns that another engagement exists.

:func:`decide_access` is the whole policy as a pure function. The two small functions that read
Streamlit's state (:func:`auth_configured`, :func:`signed_in_user`) are the boundary tests replace.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import streamlit as st
from streamlit.errors import StreamlitAuthError, StreamlitSecretNotFoundError

from dashboard.components import escape_markdown
from glassbox.config import Config, Person
from glassbox.views import View
from glassbox.workspace import Workspace

log = logging.getLogger(__name__)

Status = Literal["local", "sign_in", "refused", "granted"]
ASK_THE_TEAM = ("If you think you should have access, ask the team to add the e-mail address you signed in with "
                "to the engagement's people.")


@dataclass(frozen=True)
class Access:
    """What this visitor may see. Anything but ``local`` and ``granted`` sees no data at all.

    The defaults are the least one can see (the client view, locked), so a forgotten check never
    widens what is shown.
    """

    status: Status
    view: View = View.CLIENT
    locked: bool = True
    person: str | None = None
    email: str | None = None
    views: Mapping[str, View] = field(default_factory=dict)  # engagement id -> the view this visitor gets there

    @property
    def allowed(self) -> bool:
        return self.status in ("local", "granted")

    def visible(self, engagement: str | None) -> bool:
        return engagement is not None and engagement in self.views

    def in_engagement(self, engagement: str) -> Access:
        """This access inside one engagement: its view there, locked for a client (fail closed: an
        engagement not in :attr:`views` gets the locked client view)."""
        if self.status == "local":
            return self
        view = self.views.get(engagement, View.CLIENT)
        return replace(self, view=view, locked=view is not View.TEAM)


def person_for(email: str, config: Config) -> Person | None:
    """The ``[[people]]`` entry listing ``email`` among its ids (case-insensitive), if any."""
    wanted = email.strip().casefold()
    for person in config.people:
        if any(identity.strip().casefold() == wanted for identity in person.ids):
            return person
    return None


def decide_access(auth_configured: bool, logged_in: bool, email: str | None, config: Config | None) -> Access:
    """The access policy: local mode without sign-in; else the signed-in person's side decides."""
    if not auth_configured:
        return Access("local", view=View.TEAM, locked=False)
    if not logged_in:
        return Access("sign_in")
    person = person_for(email, config) if email and config is not None else None
    if person is None or person.side == "bot":
        return Access("refused", email=email)
    if person.side == "client":
        return Access("granted", view=View.CLIENT, locked=True, person=person.name, email=email)
    return Access("granted", view=View.TEAM, locked=False, person=person.name, email=email)


def decide_workspace_access(auth_configured: bool, logged_in: bool, email: str | None,
                            workspace: Workspace | None) -> Access:
    """SPEC §6's policy: local mode sees every engagement; staff see all in the team view; anyone
    else the engagements whose ``[[people]]`` list them, each with their side there; nobody listed
    anywhere is refused."""
    ids = workspace.ids if workspace is not None else []
    if not auth_configured:
        return Access("local", view=View.TEAM, locked=False, views=dict.fromkeys(ids, View.TEAM))
    if not logged_in:
        return Access("sign_in")
    if not email or workspace is None:
        return Access("refused", email=email)
    wanted = email.strip().casefold()
    staff = next((member for member in workspace.staff
                  if any(identity.strip().casefold() == wanted for identity in member.ids)), None)
    if staff is not None:
        return Access("granted", view=View.TEAM, locked=False, person=staff.name, email=email,
                      views=dict.fromkeys(ids, View.TEAM))
    views: dict[str, View] = {}
    name = None
    for engagement_id, config in workspace.engagements.items():
        person = person_for(email, config)
        if person is not None and person.side != "bot":
            views[engagement_id] = View.CLIENT if person.side == "client" else View.TEAM
            name = name or person.name
    if not views:
        return Access("refused", email=email)
    first = next(iter(views.values()))
    return Access("granted", view=first, locked=first is not View.TEAM, person=name, email=email, views=views)


def auth_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` switches sign-in on (an ``[auth]`` section).

    A secrets file that exists but cannot be read counts as *on*: the app stays closed rather than
    falling back to the open local mode.
    """
    try:
        return bool(st.secrets.get("auth"))
    except StreamlitSecretNotFoundError:
        unreadable = any(Path(path).exists() for path in st.get_option("secrets.files") or ())
        if unreadable:
            log.error("the secrets file cannot be read; sign-in stays required until it is fixed")
        return unreadable


def signed_in_user() -> tuple[bool, str | None]:
    """``(logged in, e-mail)`` from ``st.user``; an e-mail the provider marks unverified counts as none."""
    user = st.user
    if not user.get("is_logged_in"):
        return False, None
    if user.get("email_verified") is False:
        return True, None
    email = user.get("email")
    return True, str(email) if email else None


def providers() -> list[str | None]:
    """Sign-in providers in ``[auth]``: ``None`` for the unnamed one, then each ``[auth.NAME]``."""
    try:
        section = st.secrets.get("auth") or {}
    except StreamlitSecretNotFoundError:
        return []
    named = [name for name, value in section.items() if isinstance(value, Mapping) and "client_id" in value]
    return ([None] if "client_id" in section else []) + named


def sign_in_problem() -> str | None:
    """Why sign-in cannot work as configured and installed, in words an operator can act on; ``None`` if it can.

    Streamlit only finds these out after the button is pressed, inside its ``/auth/login`` and
    ``/oauth2callback`` routes, and then sends the visitor back here with nothing but a server log
    line: without httpx (Authlib's Starlette client imports it) every sign-in looped back to this
    page (issue #15). Asking first turns the loop into a message naming the missing piece.
    """
    try:
        section = st.secrets.get("auth") or {}
    except StreamlitSecretNotFoundError:
        return "`.streamlit/secrets.toml` cannot be read"
    missing = [key for key in ("redirect_uri", "cookie_secret") if not section.get(key)]
    if missing:
        keys = " and ".join(f"`{key}`" for key in missing)
        return f"the `[auth]` section of `.streamlit/secrets.toml` has no {keys}"
    if not providers():
        return ("no provider in `.streamlit/secrets.toml` is complete "
                "(`client_id`, `client_secret`, `server_metadata_url`)")
    try:
        importlib.import_module("authlib.integrations.starlette_client")  # what Streamlit's login route imports
    except ImportError as exc:
        return (f"the Python package `{exc.name or 'Authlib'}` is not installed — "
                "run `pip install -r requirements.txt`")
    return None


def show_sign_in() -> None:
    """The page a visitor sees before signing in: what this is and one button per provider.

    When sign-in cannot work (:func:`sign_in_problem`) the page says why instead of offering a
    button that would only bring the visitor back here.
    """
    st.title("Glassbox")
    st.markdown("This dashboard is private to the engagement. Please sign in with your work account.")
    problem = sign_in_problem()
    if problem:
        log.error("sign-in cannot start: %s", problem.replace("`", ""))
        st.error(f"Sign-in is switched on but cannot work yet: {problem}. See docs/sign-in.md.",
                 icon=":material/error:")
        return
    for provider in providers():
        label = "Sign in" if provider is None else f"Sign in with {provider.capitalize()}"
        if st.button(label, key=f"sign_in_{provider or 'default'}", type="primary", icon=":material/login:"):
            _login(provider)


def _login(provider: str | None) -> None:
    try:
        st.login(provider)
    except StreamlitAuthError as exc:
        log.error("sign-in is misconfigured: %s", exc)
        st.error("Sign-in is misconfigured in `.streamlit/secrets.toml` — see docs/sign-in.md.")


def show_refusal(email: str | None) -> None:
    """A polite no for a signed-in account the engagement does not list, and a way to switch accounts."""
    st.title("Glassbox")
    who = f"you are signed in as {escape_markdown(email)}" if email else \
        "your sign-in did not share a verified e-mail address"
    st.warning(f"Sorry — {who}, and this dashboard is only open to the people of its engagement. {ASK_THE_TEAM}",
               icon=":material/lock:")
    if st.button("Sign out", key="sign_out"):
        st.logout()


def show_identity(access: Access) -> None:
    """The sidebar's line about who is looking (or that nobody signs in here)."""
    if access.status == "local":
        st.caption("Local single-user mode: no sign-in is configured, so anyone who can open this address sees "
                   "everything. See docs/sign-in.md before sharing it.")
        return
    st.caption(f"Signed in as {escape_markdown(access.person or '')} ({escape_markdown(access.email or '')})")
    if st.button("Sign out", key="sign_out", icon=":material/logout:"):
        st.logout()
