"""Config loading: every mistake is one line naming the key and the file, exit status 2."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from glassbox.cli import main
from glassbox.config import load_config
from glassbox.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "glassbox.example.toml"


def test_example_config_covers_every_section_and_loads() -> None:
    config = load_config(EXAMPLE)
    assert config.engagement.timezone == "America/New_York"
    assert config.team.weekday_numbers == frozenset({0, 1, 2, 3, 4})
    assert [p.side for p in config.people] == ["client", "team"]
    assert config.github[0].repo == "acme/churn" and config.jira[0].waiting_statuses
    assert config.kpi[0].target == 0.85


def test_defaults_apply_to_an_empty_file(write_config) -> None:
    config = load_config(write_config(""))
    assert config.engagement.timezone == "UTC"
    assert config.team.working_days == ["Mon", "Tue", "Wed", "Thu", "Fri"]


def test_relative_paths_resolve_against_the_config_folder(write_config, tmp_path: Path) -> None:
    config = load_config(write_config('[store]\nurl = "sqlite:///data/x.db"\n[[git]]\npath = "../repo"\n'))
    assert config.store_url == f"sqlite:///{tmp_path / 'data' / 'x.db'}"
    assert config.resolve_path(config.git[0].path) == (tmp_path / ".." / "repo").resolve()


def test_database_url_from_the_environment_overrides_the_file(write_config, monkeypatch) -> None:
    monkeypatch.setenv("GLASSBOX_DB_URL", "postgresql+psycopg://u@db/glassbox")
    assert load_config(write_config("")).store_url == "postgresql+psycopg://u@db/glassbox"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[engagement]\nnmae = 'x'\n", "unknown key 'engagement.nmae'"),
        ("[[github]]\nrepo = 42\n", "key 'github[0].repo'"),
        ("[[github]]\nrepo = 'not a repo'\n", "expected 'owner/name'"),
        ("[[github]]\ntoken_env = 'X'\n", "missing key 'github[0].repo'"),
        ("[team]\nworking_hours = '9-5'\n", "key 'team.working_hours': expected HH:MM-HH:MM"),
        ("[team]\nworking_days = ['Funday']\n", "key 'team.working_days[0]'"),
        ("[engagement]\ntimezone = 'Mars/Olympus'\n", "unknown time zone 'Mars/Olympus'"),
        ("[[kpi]]\nexperiment = 'e'\nmetric = 'm'\ngoal = 'up'\n", "key 'kpi[0].goal'"),
        ("[[kpi]]\nexperiment = 'e'\nmetric = 'm'\nalias = 3\n", "key 'kpi[0].alias'"),
        ("[engagement\nname = 'x'\n", "malformed TOML"),
        ("surprise = 1\n", "unknown key 'surprise'"),
    ],
)
def test_config_mistakes_name_the_key_and_the_file(write_config, text: str, expected: str) -> None:
    path = write_config(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert expected in message and str(path.name) in message and "\n" not in message


def test_missing_file_says_how_to_provide_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found — pass --config"):
        load_config(tmp_path / "nope.toml")


def test_missing_secret_names_the_variable_and_the_key(write_config, monkeypatch) -> None:
    monkeypatch.delenv("GB_TEST_TOKEN", raising=False)
    config = load_config(write_config("[[github]]\nrepo = 'a/b'\ntoken_env = 'GB_TEST_TOKEN'\n"))
    with pytest.raises(ConfigError, match=r"github\[0\].token_env names the environment variable GB_TEST_TOKEN"):
        config.secret("GB_TEST_TOKEN", "github[0].token_env")


def test_secret_value_never_shows_in_its_repr(monkeypatch, write_config) -> None:
    monkeypatch.setenv("GB_TEST_TOKEN", "ghp_supersecret")
    secret = load_config(write_config("")).secret("GB_TEST_TOKEN", "x")
    assert "ghp_supersecret" not in repr(secret) and secret.get_secret_value() == "ghp_supersecret"


@pytest.mark.parametrize("command", ["sync", "timeline", "report", "doctor"])
def test_bad_config_exits_2_with_one_line_and_no_traceback(write_config, capsys, command: str) -> None:
    path = write_config("[engagement]\ntimezone = 3\n")
    assert main([command, "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "engagement.timezone" in err and "Traceback" not in err


def test_config_found_through_the_environment_variable(write_config, monkeypatch, capsys) -> None:
    monkeypatch.setenv("GLASSBOX_CONFIG", str(write_config("[engagement]\nbogus = 1\n", "env.toml")))
    assert main(["timeline"]) == 2
    assert "env.toml" in capsys.readouterr().err


def test_zones_are_zoneinfo_built_once_by_the_config(write_config) -> None:
    """Everything that needs local days takes ``zone``; the config is the one place that builds it."""
    config = load_config(write_config('[engagement]\ntimezone = "America/New_York"\n'
                                      '[team]\ntimezone = "Asia/Ho_Chi_Minh"\n'))
    assert config.engagement.zone == ZoneInfo("America/New_York")
    assert config.team.zone == ZoneInfo("Asia/Ho_Chi_Minh")
    assert load_config(write_config("", "empty.toml")).engagement.zone == ZoneInfo("UTC")


def test_an_unknown_team_zone_is_one_line_naming_the_key_and_the_file(write_config, capsys) -> None:
    path = write_config('[team]\ntimezone = "Mars/Olympus_Mons"\n', "mars.toml")
    assert main(["timeline", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mars.toml" in err and "team.timezone" in err and "unknown time zone" in err


def test_no_code_outside_the_config_rebuilds_a_zone_from_its_name() -> None:
    """``ZoneInfo(...)`` from a string elsewhere is a second, unchecked parse of the config's zone.

    The demo generator has its own fixed zones; the report renderers still read the zone name back
    from a report dict (``reports/content.py``'s ``_local``) until the report model carries the zone.
    """
    root = Path(__file__).resolve().parents[1]
    allowed = {"glassbox/config.py", "demo/story.py", "glassbox/reports/content.py"}
    found = {path.relative_to(root).as_posix()
             for folder in ("glassbox", "dashboard") for path in (root / folder).rglob("*.py")
             if "ZoneInfo(" in path.read_text(encoding="utf-8")}
    assert found <= allowed, found - allowed
