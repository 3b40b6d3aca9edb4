"""The engagement's TOML config (SPEC §1), validated into pydantic models.

Every mistake a user can make in the file — malformed TOML, an unknown key, a wrong type, a bad
time zone — becomes one :class:`ConfigError` line naming the key and the file. Secrets never live in
the file: sections name environment variables, read only when a command needs them.
Relative paths (git clones, sqlite files) are resolved against the config file's folder, so a config
and its data can move together.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from glassbox import redaction
from glassbox.errors import ConfigError
from glassbox.events import DEFAULT_TICKET_PATTERN
from glassbox.notify.kinds import Send
from glassbox.views import View
from glassbox.vocabulary import LATENCY_LABELS

DEFAULT_CONFIG_PATH = Path("config/glassbox.toml")
DEFAULT_STORE_URL = "sqlite:///data/glassbox.db"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as 'Europe/Berlin')") from None
    return value


class _Zoned(_Section):
    """A section with a ``timezone``: the IANA name as written, and ``zone``, the one ``ZoneInfo`` built from it.

    Why here: the name is checked once, when the file is read (a bad one is a config error naming
    the key), and everything that needs local days takes ``zone`` instead of rebuilding it from text.
    """

    timezone: str = "UTC"
    _zone: ZoneInfo = PrivateAttr()

    _tz = field_validator("timezone")(_check_timezone)

    def model_post_init(self, __context: object) -> None:
        self._zone = ZoneInfo(self.timezone)

    @property
    def zone(self) -> ZoneInfo:
        return self._zone
def resolve_path(value: str, folder: Path) -> Path:
    """A path from the file, relative ones taken from the config file's ``folder``."""
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else (folder / candidate).resolve()


def resolve_sqlite_url(url: str, folder: Path) -> str:
    """Rewrite ``sqlite:///relative.db`` so it is relative to the config file's ``folder``, not the shell."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str(resolve_path(url[len(prefix):], folder))
    return url


def _keep_userinfo_secret(value: str) -> str:
    """A source URL may carry ``user:password@``: masked from the moment the config is read."""
    redaction.register_userinfo(value)
    return value


ENGAGEMENT_ID = re.compile(r"[a-z0-9][a-z0-9-]*")  # SPEC §6: safe in a URL, a file name and a lock's name


def stem_id(path: Path) -> str:
    """A file's stem as an engagement id: ``Acme Churn.toml`` is ``acme-churn`` (``default`` if nothing is left)."""
    return re.sub(r"[^a-z0-9-]+", "-", path.stem.lower()).strip("-") or "default"


class Engagement(_Zoned):
    id: str | None = None  # SPEC §6; default the config file's stem (Config.engagement_id)
    name: str = "Engagement"
    internal_labels: list[str] = Field(default_factory=lambda: ["internal"])
    ticket_pattern: str = DEFAULT_TICKET_PATTERN
    dashboard_url: str | None = None  # SPEC §8: notifications link here; none without it

    @field_validator("ticket_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @field_validator("id")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        if value is not None and not ENGAGEMENT_ID.fullmatch(value):
            raise ValueError("expected lower-case letters, digits and '-', starting with a letter or digit")
        return value


Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
WORKDAYS: tuple[Weekday, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri")


class Team(_Zoned):
    working_hours: str = "09:00-18:00"
    working_days: list[Weekday] = Field(default_factory=lambda: list(WORKDAYS))

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        match = re.fullmatch(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})", value)
        if not match:
            raise ValueError("expected HH:MM-HH:MM, e.g. '09:00-18:00'")
        start = time(int(match[1]), int(match[2]))
        end = time(int(match[3]), int(match[4]))
        if not start < end:
            raise ValueError("the working day must end after it starts")
        return value

    @property
    def hours(self) -> tuple[time, time]:
        start, end = self.working_hours.split("-")
        return time.fromisoformat(start), time.fromisoformat(end)

    @property
    def weekday_numbers(self) -> frozenset[int]:
        """Working days as ``datetime.weekday()`` numbers (Monday is 0)."""
        return frozenset(WEEKDAYS.index(day) for day in self.working_days)


class StoreSection(_Section):
    url: str = DEFAULT_STORE_URL


class Person(_Section):
    name: str
    side: Literal["client", "team", "bot"]
    ids: list[str] = Field(default_factory=list)


class GitHubSource(_Section):
    repo: str
    base_url: str = "https://api.github.com"
    token_env: str = "GITHUB_TOKEN"
    internal: bool = False

    _userinfo = field_validator("base_url")(_keep_userinfo_secret)

    @property
    def api_root(self) -> str:
        """``base_url`` without credentials: PyGithub ignores them anyway (it sends the token)."""
        return redaction.without_userinfo(self.base_url).rstrip("/")

    def origin(self, folder: Path) -> str:
        """The ``origin`` this source's events carry: the repository."""
        return self.repo

    @field_validator("repo")
    @classmethod
    def _owner_name(cls, value: str) -> str:
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", value):
            raise ValueError("expected 'owner/name'")
        return value


class GitSource(_Section):
    path: str
    internal: bool = False

    def origin(self, folder: Path) -> str:
        """The ``origin`` this source's events carry: the clone's absolute path."""
        return str(resolve_path(self.path, folder))


class JiraSource(_Section):
    server: str
    jql: str = ""
    user_env: str = "JIRA_USER"
    token_env: str = "JIRA_TOKEN"
    waiting_statuses: list[str] = Field(default_factory=lambda: ["Waiting for Customer"])
    internal_projects: list[str] = Field(default_factory=list)

    _userinfo = field_validator("server")(_keep_userinfo_secret)

    @property
    def site(self) -> str:
        """The Jira site as stored and shown, without credentials (the client signs in with the variables)."""
        return redaction.without_userinfo(self.server).rstrip("/")

    def origin(self, folder: Path) -> str:
        """The ``origin`` this source's events carry: the site, without credentials."""
        return self.site


class MlflowSource(_Section):
    tracking_uri: str
    experiments: list[str] = Field(default_factory=lambda: ["*"])
    internal: bool = False

    _userinfo = field_validator("tracking_uri")(_keep_userinfo_secret)

    def origin(self, folder: Path) -> str:
        """The ``origin`` this source's events carry: the tracking URI, sqlite paths absolute, no credentials."""
        return redaction.without_userinfo(resolve_sqlite_url(self.tracking_uri, folder))


class Kpi(_Section):
    experiment: str
    metric: str
    goal: Literal["max", "min"] = "max"
    target: float | None = None
    alert_drop: float = 0.05
    description: str | None = None  # what the metric means to the client, in one line ("share of churners found")
    # the registry aliases that mark the model in use, in order of preference (SPEC §9); a string is one alias
    alias: tuple[str, ...] = ("champion",)

    @field_validator("alias", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value


class Agreement(_Section):
    """A working agreement (SPEC §7): the share of one latency's waits that should end within a limit.

    Exactly one of ``within_hours`` (calendar) and ``within_working_hours`` (the team's working time):
    a limit in two units would be two agreements, and none at all is no agreement.
    """

    latency: str
    within_hours: float | None = Field(default=None, gt=0)
    within_working_hours: float | None = Field(default=None, gt=0)
    target_share: float = Field(default=1.0, gt=0, le=1)

    @field_validator("latency")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in LATENCY_LABELS:
            raise ValueError(f"not a latency; expected one of {', '.join(LATENCY_LABELS)}")
        return value

    @model_validator(mode="after")
    def _one_limit(self) -> Agreement:
        if (self.within_hours is None) == (self.within_working_hours is None):
            raise ValueError("give exactly one of within_hours or within_working_hours")
        return self

    @property
    def limit(self) -> float:
        """The limit in its own unit (calendar or working hours)."""
        return float(self.within_hours if self.within_hours is not None else self.within_working_hours or 0)

    @property
    def working(self) -> bool:
        """Whether the limit counts working hours only."""
        return self.within_working_hours is not None


DIGEST_AT = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


class Notify(_Section):
    """A notification target (SPEC §8). The Apprise URLs are a secret, read from ``to_env`` only when sending."""

    name: str = Field(min_length=1)
    to_env: str
    view: View = View.CLIENT
    send: list[Send] = Field(default_factory=lambda: list(Send))
    digest_at: str = "08:30"

    @field_validator("digest_at")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not DIGEST_AT.fullmatch(value):
            raise ValueError("expected HH:MM (24-hour local time), e.g. '08:30'")
        return value

    @property
    def digest_time(self) -> time:
        return time.fromisoformat(self.digest_at)


class Config(_Section):
    """The whole file. ``path`` is where it was read from (set by :func:`load_config`)."""

    engagement: Engagement = Field(default_factory=Engagement)
    team: Team = Field(default_factory=Team)
    store: StoreSection = Field(default_factory=StoreSection)
    people: list[Person] = Field(default_factory=list)
    github: list[GitHubSource] = Field(default_factory=list)
    git: list[GitSource] = Field(default_factory=list)
    jira: list[JiraSource] = Field(default_factory=list)
    mlflow: list[MlflowSource] = Field(default_factory=list)
    kpi: list[Kpi] = Field(default_factory=list)
    agreement: list[Agreement] = Field(default_factory=list)
    notify: list[Notify] = Field(default_factory=list)
    path: Path = Path("glassbox.toml")

    @property
    def folder(self) -> Path:
        return self.path.parent

    @field_validator("notify")
    @classmethod
    def _unique_names(cls, value: list[Notify]) -> list[Notify]:
        names = [target.name for target in value]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"notify names must be unique; {', '.join(repeated)} appears more than once")
        return value

    def resolve_path(self, value: str) -> Path:
        """A path from the file, relative ones taken from the config file's folder."""
        return resolve_path(value, self.folder)

    def resolve_sqlite_url(self, url: str) -> str:
        """Rewrite ``sqlite:///relative.db`` so it is relative to the config file, not the shell."""
        return resolve_sqlite_url(url, self.folder)

    @property
    def store_url(self) -> str:
        """The store URL: ``$GLASSBOX_DB_URL`` when set, else the file's, relative paths resolved."""
        return os.environ.get("GLASSBOX_DB_URL") or self.resolve_sqlite_url(self.store.url)

    @property
    def engagement_id(self) -> str:
        """SPEC §6: ``[engagement] id``, else the file's stem (``engagements/acme.toml`` is ``acme``)."""
        return self.engagement.id or stem_id(self.path)

    def internal_labels(self) -> frozenset[str]:
        return frozenset(label.lower() for label in self.engagement.internal_labels)

    def secret(self, env_name: str, key: str) -> SecretStr:
        """The value of the environment variable ``env_name`` that the config names at ``key``."""
        value = os.environ.get(env_name)
        if not value:
            raise ConfigError(
                f"{self.path}: {key} names the environment variable {env_name}, which is not set"
                f" — export {env_name} before running this command"
            )
        redaction.register(value)
        return SecretStr(value)


def config_path(explicit: str | os.PathLike[str] | None) -> Path:
    """Where the config is: ``--config``, else ``$GLASSBOX_CONFIG``, else ``config/glassbox.toml``."""
    if explicit:
        return Path(explicit)
    if os.environ.get("GLASSBOX_CONFIG"):
        return Path(os.environ["GLASSBOX_CONFIG"])
    return DEFAULT_CONFIG_PATH


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the config; every problem becomes a one-line :class:`ConfigError`."""
    file = config_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{file}: config file not found — pass --config PATH, set GLASSBOX_CONFIG,"
            " or copy config/glassbox.example.toml"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read the config file ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: malformed TOML: {exc}") from None
    if "path" in data:
        raise ConfigError(f"{file}: unknown key 'path'")
    try:
        return Config.model_validate({**data, "path": file.resolve()})
    except ValidationError as exc:
        raise ConfigError(f"{file}: {_first_problem(exc)}") from None


def _first_problem(exc: ValidationError) -> str:
    """One line naming the offending key as a dotted path (``github[0].repo``) and what is wrong."""
    error = exc.errors()[0]
    key = ""
    for part in error["loc"]:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    if error["type"] == "extra_forbidden":
        return f"unknown key '{key}'"
    if error["type"] == "missing":
        return f"missing key '{key}'"
    message = error["msg"].removeprefix("Value error, ")
    return f"key '{key}': {message} (got {error.get('input')!r})"
