"""The demo engagement's cast and calendar: who works on "Acme churn model", and when things happen.

Every date in the demo is computed from the moment it is built, so "today" and "this week" always
show activity. The story is written in *working days back* on the team's clock (Ho Chi Minh City),
with the client's New York office hours falling in the team's evening: a client remark at
"22:00" team time is mid-morning in New York, and the team answers the next working morning.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

TEAM_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CLIENT_TZ = ZoneInfo("America/New_York")
ENGAGEMENT = "Acme churn model"
REPO = "acme/churn"
JIRA_SERVER = "https://acme.atlassian.net"
PROJECT = "CHURN"
EXPERIMENT = "churn"
KPI_METRIC = "val_auc"
KPI_TARGET = 0.85
KPI_ALERT_DROP = 0.05
SEED = 20240611


@dataclass(frozen=True)
class Member:
    """One person with every identity they have: git e-mail, GitHub login, Jira accountId, MLflow user."""

    name: str
    side: str
    email: str
    login: str
    github_id: int
    mlflow_user: str | None = None

    @property
    def account_id(self) -> str:
        """A Jira Cloud accountId, stable across builds (derived from the e-mail)."""
        return "712020:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{self.email}"))

    @property
    def ids(self) -> list[str]:
        found = [self.email, self.login, self.account_id]
        return found + ([self.mlflow_user] if self.mlflow_user else [])


LINH = Member("Linh Nguyen", "team", "linh.nguyen@lotusdata.example", "linh-ng", 51023841, "linh.nguyen")
MINH = Member("Minh Tran", "team", "minh.tran@lotusdata.example", "minhtran-ml", 60219377, "minh.tran")
HOA = Member("Hoa Pham", "team", "hoa.pham@lotusdata.example", "hoapham", 44871902, "hoa.pham")
QUANG = Member("Quang Le", "team", "quang.le@lotusdata.example", "quangle-pm", 38120455)
CAROL = Member("Carol Reyes", "client", "carol.reyes@acme.example", "carol-acme", 71230018)
DAN = Member("Dan Okafor", "client", "dan.okafor@acme.example", "dokafor-acme", 70551236)
CI_BOT = Member("github-actions[bot]", "bot", "41898282+github-actions[bot]@users.noreply.github.com",
                "github-actions[bot]", 41898282)

PEOPLE = (CAROL, DAN, LINH, MINH, HOA, QUANG)


@dataclass(frozen=True)
class Clock:
    """Turns the story's "working day N back, at HH:MM team time" into aware UTC moments.

    ``at(0, …)`` is refused: today's events are placed with :meth:`ago`, minutes before the
    build, so they can never lie in the future whatever the hour.
    """

    now: datetime

    @classmethod
    def starting_now(cls) -> Clock:
        return cls(datetime.now(UTC).replace(second=0, microsecond=0))

    def working_day(self, back: int) -> date:
        """The ``back``-th working day (Mon-Fri) before today on the team's clock."""
        day = self.now.astimezone(TEAM_TZ).date()
        remaining = back
        while remaining:
            day -= timedelta(days=1)
            if day.weekday() < 5:
                remaining -= 1
        return day

    def at(self, back: int, hhmm: str) -> datetime:
        """Team-local ``hhmm`` on working day ``back``; hours past 24 run into the next morning."""
        if back < 1:
            raise ValueError("use Clock.ago for today's events")
        hours, minutes = (int(part) for part in hhmm.split(":"))
        midnight = datetime.combine(self.working_day(back), time(0), TEAM_TZ)
        moment = (midnight + timedelta(hours=hours, minutes=minutes)).astimezone(UTC)
        if hours >= 24 and back < 2:
            raise ValueError("only days two or more back may run past midnight")
        return moment

    def ago(self, minutes: int) -> datetime:
        return self.now - timedelta(minutes=minutes)
