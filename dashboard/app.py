"""The Glassbox dashboard: ``streamlit run dashboard/app.py``.

This file only sets the page up, checks who is looking (a visitor who must sign in or may not look
stops here, before any page exists), draws the global controls and hands over to the page the user
picked; each page lives in ``dashboard/views/`` and reads the store through ``dashboard.loaders``.
A visitor who may see more than one engagement also gets the Portfolio page, and lands on it.
The folder is deliberately not called ``pages/``: Streamlit treats a ``pages/`` folder beside the
main script as a legacy multipage app and would run a page without this file on a direct URL.
"""

from __future__ import annotations

import streamlit as st

from dashboard import context

st.set_page_config(page_title="Glassbox", page_icon=":material/visibility:", layout="wide")

access = context.sign_in()
portfolio = len(access.views) > 1
PAGES = [
    *([st.Page("views/portfolio.py", title="Portfolio", icon=":material/dashboard:", default=True)] if portfolio
      else []),
    st.Page("views/today.py", title="Today", icon=":material/today:", default=not portfolio),
    st.Page("views/timeline.py", title="Timeline", icon=":material/view_timeline:"),
    st.Page("views/experiments.py", title="Experiments", icon=":material/science:"),
    st.Page("views/story.py", title="Ticket story", icon=":material/history_edu:", url_path="story"),
    st.Page("views/feedback.py", title="Feedback loops", icon=":material/sync_alt:"),
    st.Page("views/weekly_report.py", title="Weekly report", icon=":material/summarize:"),
]
page = st.navigation(PAGES)
context.sidebar(access, with_period=page.title != "Today")  # Today covers since the previous working day
page.run()
