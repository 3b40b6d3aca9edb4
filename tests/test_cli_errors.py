"""Operational failures through the real command line: one line on stderr naming the store or path and
what to do, the exit status SPEC §2 gives (2 a config mistake, 1 anything else), never a traceback —
cron mails whatever a command prints, and a 117-line traceback on every run buries the one line that
matters. Also: a failed ``report --out`` keeps the previous report, and a symlink there is replaced,
not followed.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import PG_URL
from seed import seeded_engagement
from sqlalchemy.engine import make_url

from glassbox.cli import main
from glassbox.store import open_store

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = [["sync"], ["timeline"], ["report"], ["doctor"]]


def run_cli(*args: str, stdout: int | None = subprocess.PIPE, limit_file_bytes: int | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m glassbox ARGS`` in its own process, as cron runs it.

    ``limit_file_bytes`` caps the size of any file the process writes (RLIMIT_FSIZE), so a write fails
    midway with a real EFBIG, as on a disk that fills up; SIGXFSZ is ignored so it is an error, not death.
    """
    def limit() -> None:
        if limit_file_bytes is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_bytes, limit_file_bytes))

    environment = {key: value for key, value in os.environ.items() if key != "GLASSBOX_DB_URL"}
    environment.update(PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "glassbox", *args], cwd=ROOT, env=environment, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=120, preexec_fn=limit)


def one_line(stderr: str) -> str:
    """The one error line; ``doctor`` may first say that the config itself is fine."""
    assert "Traceback" not in stderr
    lines = [line for line in stderr.strip().splitlines() if not (line.startswith("config: ") and line.endswith(" ok"))]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    return lines[0]


def config_for(tmp_path: Path, store_url: str) -> str:
    path = tmp_path / "glassbox.toml"
    path.write_text(f'[store]\nurl = "{store_url}"\n\n[[git]]\npath = "clone"\n', encoding="utf-8")
    return str(path)


def free_port() -> int:
    """A port nothing listens on: bound once to find it, then closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- the store cannot be opened ----------------------------------------------------------------

@pytest.mark.parametrize("command", COMMANDS)
def test_postgres_down_is_one_line_naming_the_store_on_every_command(tmp_path: Path, command: list[str]) -> None:
    url = f"postgresql+psycopg://glassbox:s3cret-pw@127.0.0.1:{free_port()}/glassbox"
    done = run_cli(*command, "--config", config_for(tmp_path, url))
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert line.startswith("error: store postgresql+psycopg://glassbox:***@127.0.0.1:")
    assert "Connection refused" in line and "check that PostgreSQL is running" in line
    assert "s3cret-pw" not in done.stderr


@pytest.mark.parametrize(("change", "said", "hint"), [
    ({"database": "gb_no_such_database"}, 'database "gb_no_such_database" does not exist', "createdb"),
    ({"username": "gb_no_such_role"}, 'role "gb_no_such_role" does not exist', "createuser"),
])
def test_missing_postgres_database_or_role_says_which_and_what_to_do(
        tmp_path: Path, change: dict[str, str], said: str, hint: str) -> None:
    if not PG_URL:
        pytest.skip("PostgreSQL not configured: set GLASSBOX_TEST_PG_URL")
    url = make_url(PG_URL).set(**change).render_as_string(hide_password=False)
    assert main(["timeline", "--config", config_for(tmp_path, url)]) == 1
    done = run_cli("timeline", "--config", config_for(tmp_path, url))
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert said in line and hint in line and line.startswith("error: store postgresql+psycopg://")


def test_sqlite_folder_that_cannot_be_created_names_the_folder(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the store's folder should be\n")
    done = run_cli("sync", "--config", config_for(tmp_path, f"sqlite:///{tmp_path / 'data' / 'db' / 'glassbox.db'}"))
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert f"cannot create the folder {tmp_path / 'data' / 'db'} (Not a directory)" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_sqlite_folder_without_write_permission_names_the_store(tmp_path: Path) -> None:
    folder = tmp_path / "readonly"
    folder.mkdir(mode=0o500)
    done = run_cli("timeline", "--config", config_for(tmp_path, f"sqlite:///{folder / 'glassbox.db'}"))
    assert done.returncode == 1
    assert f"check that {folder} is a writable folder" in one_line(done.stderr)


def test_sqlite_store_in_an_unwritable_place_is_one_line(tmp_path: Path) -> None:
    """/proc takes no new files, even from root: SQLite's own "unable to open database file"."""
    done = run_cli("report", "--config", config_for(tmp_path, "sqlite:////proc/glassbox.db"))
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert line.startswith("error: store sqlite:////proc/glassbox.db: cannot open the database file")


@pytest.mark.parametrize("url", ["mysql://glassbox:s3cret-pw@db.internal/glassbox", "mongodb://db.internal/glassbox"])
def test_unsupported_database_url_is_a_config_error(tmp_path: Path, url: str) -> None:
    done = run_cli("timeline", "--config", config_for(tmp_path, url))
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert "unsupported database" in line and "postgresql+psycopg://" in line and "s3cret-pw" not in line


# -- dates out of range or in the wrong order --------------------------------------------------

@pytest.fixture
def store_config(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'glassbox.db'}"
    open_store(url).engine.dispose()
    return config_for(tmp_path, url)


@pytest.mark.parametrize(("args", "named"), [
    (["timeline", "--from", "0001-01-01", "--to", "9999-12-31"], "--from 0001-01-01: out of range"),
    (["timeline", "--to", "9999-12-31"], "--to 9999-12-31: out of range"),
    (["report", "--from", "0001-01-01", "--to", "9999-12-31"], "--from 0001-01-01: out of range"),
    (["report", "--from", "2026-01-01", "--to", "9999-12-31"], "--to 9999-12-31: out of range"),
    (["report", "--week", "9999-W52"], "--week '9999-W52': out of range"),
    (["timeline", "--from", "2026-11-20", "--to", "2026-11-10"], "--to 2026-11-10 is before --from 2026-11-20"),
    (["report", "--from", "2026-11-20", "--to", "2026-11-10"], "--to 2026-11-10 is before --from 2026-11-20"),
])
def test_bad_date_ranges_are_config_errors(store_config: str, args: list[str], named: str) -> None:
    done = run_cli(*args, "--config", store_config)
    assert done.returncode == 2
    assert named in one_line(done.stderr)


def test_the_widest_accepted_range_reports_and_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """1970-01-01..2199-12-31 on a seeded store: every pandas timestamp, the previous period's too, fits."""
    config = str(seeded_engagement(tmp_path, weeks=1))
    assert main(["report", "--from", "1970-01-01", "--to", "2199-12-31", "--format", "json",
                 "--config", config]) == 0
    assert main(["timeline", "--from", "1970-01-01", "--to", "2199-12-31", "--config", config]) == 0
    assert "Traceback" not in capsys.readouterr().err


# -- where the output goes ---------------------------------------------------------------------

@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_report_out_to_a_full_device_is_one_line(store_config: str) -> None:
    done = run_cli("report", "--format", "md", "--out", "/dev/full", "--config", store_config)
    assert done.returncode == 1
    assert one_line(done.stderr).startswith("error: /dev/full: cannot write (No space left on device)")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_stdout_on_a_full_device_is_one_line(store_config: str) -> None:
    with open("/dev/full", "w") as full:
        done = run_cli("report", "--format", "md", "--config", store_config, stdout=full.fileno())
    assert done.returncode == 1
    assert "cannot write to standard output (No space left on device)" in one_line(done.stderr)


def test_a_failed_report_write_keeps_the_previous_report(tmp_path: Path) -> None:
    # One week of events ending on the Monday after ISO week 47, and that week's report: "last week"
    # of the clock would hold only what the seed left in it, too little on a Sunday evening
    config = str(seeded_engagement(tmp_path / "engagement", weeks=1, now=datetime(2026, 11, 23, 12, tzinfo=UTC)))
    target = tmp_path / "out" / "weekly.html"
    target.parent.mkdir()
    target.write_text("<p>last week's report</p>\n")
    # The seeded week's HTML report is about 90 KB; files are capped at 48 KiB (above SQLite's 32 KiB
    # shared-memory file), so the write starts and fails midway, as on a disk that fills up.
    done = run_cli("report", "--week", "2026-W47", "--format", "html", "--out", str(target), "--config", config,
                   limit_file_bytes=48 * 1024)
    assert done.returncode == 1
    assert one_line(done.stderr).startswith(f"error: {target}: cannot write (File too large)")
    assert target.read_text() == "<p>last week's report</p>\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["weekly.html"]  # no partial file left


def test_report_out_replaces_a_symlink_instead_of_writing_through_it(store_config: str, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("not a report\n")
    link = tmp_path / "report.md"
    link.symlink_to(victim)
    assert main(["report", "--format", "md", "--out", str(link), "--config", store_config]) == 0
    assert victim.read_text() == "not a report\n"
    assert not link.is_symlink() and link.read_text().startswith("#")
    assert oct(link.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def test_report_out_still_writes_into_a_stream(store_config: str, tmp_path: Path) -> None:
    """``--out /dev/stdout`` (a symlink to a stream) is written into, not replaced."""
    done = run_cli("report", "--format", "md", "--out", "/dev/stdout", "--config", store_config)
    assert done.returncode == 0 and done.stdout.startswith("#")
    assert Path("/dev/stdout").is_symlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
