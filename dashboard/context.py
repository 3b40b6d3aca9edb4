"""Which engagement the dashboard shows, who may see it, and the sidebar's global controls.

:func:`sign_in` runs first: with sign-in configured it stops the run at a sign-in page or a polite
refusal before any page or data loads (:mod:`dashboard.auth`). The app reads the config from
``$GLASSBOX_CONFIG`` or ``config/glassbox.toml``; with neither, it builds the demo engagement once
and says so, so a first run is never an empty screen. The store URL may also come from
``st.secrets["GLASSBOX_DB_URL"]`` (Streamlit Community Cloud and friends). A client-side person's
view is the client view, with no control to change it. Pages ask :func:`current` for the resulting
:class:`Context` instead of re-deriving any of this.

In a workspace (SPEC §6) the config is the workspace's file; the engagement shown is the one the
URL's ``?engagement=ID`` or the sidebar's picker names, among those the visitor may see
(:attr:`auth.Access.views`) only. Any other id — unknown or merely not theirs — is dropped without a
word, the same way for both, so the URL never confirms that an engagement exists.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import streamlit as st

from dashboard import auth, loaders
from dashboard.components import escape_markdown
from glassbox.config import DEFAULT_CONFIG_PATH, Config
from glassbox.errors import GlassboxError
from glassbox.periods import FIRST_DAY, LAST_DAY, Period, day_range, iso_week
from glassbox.views import View
from glassbox.workspace import Workspace

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = Path(".glassbox/demo-workspace")  # beside, not inside, `python -m glassbox demo`'s .glassbox/demo
PERIODS = ("This week", "Last week", "Last 4 weeks", "Last 12 weeks", "Custom range")
DEFAULT_PERIOD = "Last 4 weeks"
VIEWS = {view.capitalize(): view for view in View}  # the control's labels: "Team", "Client"
_KEY = "glassbox_context"
_KEPT_PERIOD, _KEPT_RANGE = "glassbox_period", "glassbox_range"  # the Period control's choice, across pages
PARAM = "engagement"  # the query parameter naming the engagement shown (Portfolio rows link with it)
_SHOWN = "glassbox_engagement_shown"  # the engagement the last run showed, to tell a new URL from a stale one


@dataclass(frozen=True)
class Context:
    """Everything a page needs to load data: where it lives and what the user asked to see."""

    source: loaders.Source
    config: Config
    period: Period
    view: View
    demo: bool
    workspace: Workspace | None = None
    access: auth.Access | None = None

    @property
    def engagement(self) -> str:
        return self.source.engagement

    def visible(self) -> list[str]:
        """The engagements this visitor may see, in the workspace's order."""
        if self.workspace is None or self.access is None:
            return [self.engagement]
        return [engagement for engagement in self.workspace.ids if self.access.visible(engagement)]

    def source_of(self, engagement: str) -> loaders.Source:
        """Another visible engagement's :class:`~dashboard.loaders.Source` (the Portfolio's rows)."""
        if engagement not in self.visible():
            raise KeyError(engagement)
        return loaders.source(self.source.config_path, self.source.store_url, engagement)

    @property
    def tz(self) -> ZoneInfo:
        return self.config.engagement.zone

    def today(self) -> date:
        return datetime.now(self.tz).date()


def find_config() -> Path | None:
    """``$GLASSBOX_CONFIG``, else ``config/glassbox.toml`` (in the working folder or the project's)."""
    if os.environ.get("GLASSBOX_CONFIG"):
        return Path(os.environ["GLASSBOX_CONFIG"])
    for candidate in (DEFAULT_CONFIG_PATH, REPO_ROOT / DEFAULT_CONFIG_PATH):
        if candidate.is_file():
            return candidate
    return None


def _secret_db_url() -> str | None:
    try:
        value = st.secrets.get("GLASSBOX_DB_URL")
    except Exception:  # no secrets file at all: Streamlit raises its own error types
        return None
    return str(value) if value else None


def _demo_config() -> Path | None:
    """Build (once) and return the demo engagement's config, or ``None`` when the demo is unavailable."""
    try:
        from demo import ensure_demo_workspace
    except ImportError:
        return None
    with st.spinner("No config found — building the demo workspace of two engagements (a few seconds, once)…"):
        try:
            return ensure_demo_workspace(DEMO_DIR)
        except GlassboxError as exc:
            st.error(f"The demo could not be built: {exc}")
            return None


def _period(choice: str, tz: ZoneInfo, custom: tuple[date, ...] | None) -> Period:
    today = datetime.now(tz).date()
    this_week = iso_week(today, tz)
    if choice == "This week":
        return this_week
    if choice == "Last week":
        return this_week.previous()
    if choice == "Custom range" and custom and len(custom) == 2:
        return day_range(custom[0], custom[1], tz)
    weeks = 12 if choice == "Last 12 weeks" else 4
    first = iso_week(today - timedelta(weeks=weeks - 1), tz)
    return Period(f"last {weeks} weeks", first.start, this_week.end)


def sign_in() -> auth.Access:
    """Who is looking; a visitor who must sign in, or may not look, gets that page and the run stops."""
    configured = auth.auth_configured()
    logged_in, email = auth.signed_in_user() if configured else (False, None)
    found = _workspace() if not configured or logged_in else None
    access = auth.decide_workspace_access(configured, logged_in, email, found[1] if found else None)
    if access.status == "sign_in":
        auth.show_sign_in()
        st.stop()
    if access.status == "refused":
        log.info("refused a signed-in account that no [[people]] entry lists")
        auth.show_refusal(email)
        st.stop()
    return access


def _workspace() -> tuple[Path, Workspace, bool] | None:
    """The config's path, its workspace and whether it is the demo; ``None`` (with a message) when unusable."""
    path = find_config()
    built = path is None  # no config anywhere: the dashboard builds the demo
    if built:
        path = _demo_config()
    if path is None:
        return None
    try:
        found = loaders.workspace(str(path), path.stat().st_mtime if path.exists() else 0.0)
    except GlassboxError as exc:
        st.error(str(exc))
        return None
    return path, found, built or found.is_demo


def _chosen_engagement(access: auth.Access, found: Workspace) -> str | None:
    """The engagement to show: the URL's or the picker's if this visitor may see it, else their first."""
    visible = [engagement for engagement in found.ids if access.visible(engagement)]
    if not visible:
        return None
    asked = st.query_params.get(PARAM)
    if asked is not None and asked not in visible:
        del st.query_params[PARAM]  # unknown or not theirs: the same silence for both
        asked = None
    if asked is not None and asked != st.session_state.get(_SHOWN):  # a link or a typed URL, not the last run's
        st.session_state[PARAM] = asked
    if st.session_state.get(PARAM) not in visible:
        st.session_state[PARAM] = visible[0]
    if len(visible) > 1:
        names = {engagement: found.engagements[engagement].engagement.name for engagement in visible}
        st.selectbox("Engagement", visible, key=PARAM, format_func=names.__getitem__)
    chosen = str(st.session_state[PARAM])
    st.session_state[_SHOWN] = chosen
    if len(visible) > 1 and st.query_params.get(PARAM) != chosen:
        st.query_params[PARAM] = chosen
    return chosen


def sidebar(access: auth.Access, *, with_period: bool = True) -> Context | None:
    """Resolve the engagement and draw the global controls; pages read the result with :func:`current`.

    ``with_period`` false leaves the Period control out, for a page that does not use it (Today).
    """
    st.session_state[_KEY] = None
    found = _workspace()
    if found is None:
        return None
    path, workspace, demo = found
    with st.sidebar:
        engagement = _chosen_engagement(access, workspace)
    if engagement is None:
        return None
    config = workspace.engagement(engagement)
    access = access.in_engagement(engagement)
    store_url = os.environ.get("GLASSBOX_DB_URL") or _secret_db_url() or config.store_url
    tz = config.engagement.zone
    with st.sidebar:
        if len(access.views) <= 1:  # with several, the picker above names it
            st.markdown(f"**{escape_markdown(config.engagement.name)}**")
        if with_period:
            choice, custom = _period_control(tz)
        else:  # the page has its own window (Today: since the previous working day); the choice is kept
            choice, custom = st.session_state.get(_KEPT_PERIOD, DEFAULT_PERIOD), st.session_state.get(_KEPT_RANGE)
        view = _view_control(access)
        st.caption(f"Times in {config.engagement.timezone}")
        if demo:
            st.caption("Demo data")
        auth.show_identity(access)
    context = Context(loaders.source(str(path), store_url, engagement), config, _period(choice, tz, custom), view,
                      demo, workspace, access)
    st.session_state[_KEY] = context
    return context


def _period_control(tz: ZoneInfo) -> tuple[str, Any]:
    """The Period control (and a custom range's dates); the choice is kept for the pages that hide it,
    since Streamlit forgets a widget's state on a run that does not draw it."""
    kept = st.session_state.get(_KEPT_PERIOD, DEFAULT_PERIOD)
    choice = st.selectbox("Period", PERIODS, index=PERIODS.index(kept), key="period")
    custom = None
    if choice == "Custom range":
        today = datetime.now(tz).date()
        # Streamlit's default bounds are ten years either side of the value; engagements import
        # older tickets, so any day the periods accept (glassbox.periods) may be picked
        custom = st.date_input("From – to", value=st.session_state.get(_KEPT_RANGE) or (today - timedelta(days=13),
                                                                                        today),
                               key="custom_range", min_value=FIRST_DAY, max_value=LAST_DAY)
    st.session_state[_KEPT_PERIOD], st.session_state[_KEPT_RANGE] = choice, custom
    return choice, custom


def _view_control(access: auth.Access) -> View:
    """The view to show: the access's own when locked (no control drawn), else the person's pick."""
    if access.locked:
        st.caption(f"{access.view.capitalize()} view")
        return access.view
    label = st.segmented_control("View", list(VIEWS), default="Team", key="view",
                                 help="The client view leaves out everything labelled internal.")
    return VIEWS[label] if label else View.TEAM


def current() -> Context | None:
    """The context :func:`sidebar` resolved in this run, or ``None`` when there is nothing to show."""
    return st.session_state.get(_KEY)


def require() -> Context:
    """The current context, or an empty state saying what to configure (and the page stops there)."""
    found = current()
    if found is None:
        from dashboard.components import HOW_TO_CONFIGURE, empty_state

        st.title("Glassbox")
        empty_state("No engagement to show yet.", HOW_TO_CONFIGURE)
        st.stop()
    return found
