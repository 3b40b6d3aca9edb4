"""``python -m glassbox``: the command line of SPEC §2.

Handlers are thin: they parse options, open the config and store, call the core and print. Every
:class:`GlassboxError` becomes one line on stderr — configuration problems exit 2, source problems 1 —
and no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

from glassbox.config import Config
from glassbox.errors import ConfigError, GlassboxError
from glassbox.events import SOURCES
from glassbox.periods import Period, day_bounds, day_range, parse_day, parse_week
from glassbox.readmodel import rebuild
from glassbox.redaction import RedactingFilter, redact
from glassbox.store import Store, open_store
from glassbox.views import View
from glassbox.workspace import ALL, Workspace, load_workspace

log = logging.getLogger(__name__)

DEFAULT_DEMO_DIR = Path(".glassbox/demo")
_STDOUT_ERRNOS = frozenset({errno.ENOSPC, errno.EPIPE, errno.EIO, errno.EFBIG})  # stdout full or gone


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH",
                        help="config file (default: $GLASSBOX_CONFIG or config/glassbox.toml)")
    common.add_argument("--engagement", metavar="ID",
                        help="one engagement of a workspace (SPEC §6); sync and doctor default to every one")
    common.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")

    parser = argparse.ArgumentParser(
        prog="python -m glassbox",
        description="Glassbox: one timeline of an AI/ML engagement's commits, PRs, tickets and experiment runs.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sync = commands.add_parser("sync", parents=[common],
                               help="pull every configured source into the store, incrementally")
    sync.add_argument("--only", metavar="NAME",
                      help="one source: a kind (github, git, jira, mlflow), a key (github[1]) "
                           "or its repo/path/server/URI")
    sync.add_argument("--reset", metavar="NAME",
                      help="clear this source's cursors (NAME as for --only) instead of syncing, "
                           "so the next sync re-fetches it")

    timeline = commands.add_parser("timeline", parents=[common], help="print the unified timeline")
    timeline.add_argument("--from", dest="start", metavar="D", help="first day (YYYY-MM-DD, engagement time zone)")
    timeline.add_argument("--to", dest="end", metavar="D", help="last day, inclusive")
    timeline.add_argument("--source", action="append", choices=SOURCES, help="only this source (repeatable)")
    timeline.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    timeline.add_argument("--view", type=View, choices=list(View), default=View.TEAM)

    report = commands.add_parser("report", parents=[common], help="the weekly summary")
    report.add_argument("--week", metavar="W", help="ISO week (2026-W47), 'last' or 'this' (default: last)")
    report.add_argument("--from", dest="start", metavar="D", help="first day of a custom period")
    report.add_argument("--to", dest="end", metavar="D", help="last day of a custom period, inclusive")
    report.add_argument("--format", choices=("md", "html", "csv", "json", "pdf"), default="md")
    report.add_argument("--view", type=View, choices=list(View), default=View.TEAM)
    report.add_argument("--out", metavar="PATH", help="write here (a folder gets a dated file name) instead of stdout")

    demo = commands.add_parser("demo", parents=[common], help="build the demo engagement and its config")
    demo.add_argument("--dir", type=Path, default=DEFAULT_DEMO_DIR, metavar="D",
                      help=f"where (default {DEFAULT_DEMO_DIR}/)")

    renormalize = commands.add_parser("renormalize", parents=[common],
                                      help="re-run the normalizers over the stored payloads "
                                           "(after a ticket_pattern change)")
    renormalize.add_argument("--only", metavar="NAME", help="one source, as for sync --only")

    note = commands.add_parser("note", parents=[common],
                               help="set the week's note: the team's words shown first in its report")
    note.add_argument("--week", required=True, metavar="W", help="ISO week (2026-W47), 'last' or 'this'")
    note.add_argument("--file", required=True, metavar="F",
                      help="the note as UTF-8 text (- reads standard input; an empty file clears it)")

    notify = commands.add_parser("notify", parents=[common],
                                 help="send the digests, alerts and weekly reports that are due (SPEC §8)")
    notify.add_argument("--dry-run", action="store_true", help="print what would be sent, by name; record nothing")
    notify.add_argument("--now", metavar="ISO", help="the clock, e.g. 2026-11-23T08:45:00+01:00 (tests, backfills)")

    commands.add_parser("rebuild", parents=[common],
                        help="derive the read model (one row per latency wait) again from every stored event")

    engagements = commands.add_parser("engagements", parents=[common],
                                      help="list the workspace's engagements, their sources, events and last sync")
    engagements.add_argument("--format", choices=("table", "json"), default="table")

    commands.add_parser("doctor", parents=[common],
                        help="check the config and that every source answers and accepts its credentials")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    handler = {"sync": cmd_sync, "timeline": cmd_timeline, "report": cmd_report,
               "demo": cmd_demo, "doctor": cmd_doctor, "renormalize": cmd_renormalize,
               "note": cmd_note, "notify": cmd_notify, "rebuild": cmd_rebuild,
               "engagements": cmd_engagements}[args.command]
    try:
        status = handler(args)
        with _stdout_errors():
            sys.stdout.flush()  # here, so a full or closed stdout is one line, not an exit-time warning
        return status
    except ConfigError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except GlassboxError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM during a sync (glassbox.sync.Interrupted)
        print("interrupted — what was synced so far is kept; run the command again to resume", file=sys.stderr)
        return 128 + getattr(exc, "signum", signal.SIGINT)


@contextmanager
def _stdout_errors() -> Iterator[None]:
    """Around writes to stdout: a full, closed or oversized stdout becomes one :class:`GlassboxError`.

    What could not be written is dropped (stdout is pointed at the null device), so the interpreter's
    own final flush does not print a second, traceback-like warning.
    """
    try:
        yield
    except OSError as exc:
        if exc.errno not in _STDOUT_ERRNOS:
            raise
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 — lives until the process exits
        raise GlassboxError(f"cannot write to standard output ({exc.strerror}) — redirect it elsewhere"
                            " or use --out PATH") from None


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())


def _open(workspace: Workspace, config: Config, args: argparse.Namespace) -> Store:
    """The workspace's store, seen as ``config``'s engagement.

    A store from before workspaces is one engagement's: a single config's, or the one ``--engagement``
    names; a workspace of several that names none cannot say whose, and the store refuses to guess.
    """
    owns = workspace.single or args.engagement is not None
    return open_store(config.store_url, config.engagement_id, owns_legacy_rows=owns)


def cmd_sync(args: argparse.Namespace) -> int:
    from glassbox.lock import sync_lock
    from glassbox.sync import interruptible, reset_sources

    workspace = load_workspace(args.config)
    if args.reset is not None:
        if args.only is not None:
            raise ConfigError("give either --only or --reset, not both")
        config = workspace.one(args.engagement, "sync --reset")
        store = _open(workspace, config, args)
        with sync_lock(store):
            for line in reset_sources(config, store, args.reset):
                print(redact(line), file=sys.stderr)
        return 0
    configs = workspace.select(args.engagement)
    if len(configs) == 1:
        with interruptible():
            return _sync_engagement(configs[0], _open(workspace, configs[0], args), args.only, prefix="")
    if args.only is not None:
        configs = _with_source(workspace, configs, args.only)
    store = _open(workspace, configs[0], args)
    statuses = []
    with interruptible():
        for config in configs:  # each under its own lock; one failing never stops the next
            try:
                statuses.append(_sync_engagement(config, store.scoped(config.engagement_id), args.only,
                                                 prefix=f"{config.engagement_id}: "))
            except GlassboxError as exc:
                print(f"error: {config.engagement_id}: {redact(str(exc))}", file=sys.stderr)
                statuses.append(2 if isinstance(exc, ConfigError) else 1)
    return max(statuses)


def _sync_engagement(config: Config, store: Store, only: str | None, prefix: str) -> int:
    """Sync one engagement's sources under its lock: 0 all synced, 1 a source failed."""
    from glassbox.lock import sync_lock
    from glassbox.sync import settle_abandoned_runs, sync_sources
    from glassbox.sync_progress import progress_for

    progress = progress_for(sys.stderr, prefix)
    try:
        with sync_lock(store):
            settle_abandoned_runs(store, lock_held=True)
            summaries = sync_sources(config, store, only, progress=progress)
    finally:
        progress.close()
    return 0 if all(summary.ok for summary in summaries) else 1


def _with_source(workspace: Workspace, configs: list[Config], only: str) -> list[Config]:
    """``sync --only NAME`` over a workspace: the engagements that have such a source (at least one must)."""
    from glassbox.sources import configured_sources

    having = [config for config in configs if configured_sources(config, only)]
    if not having:
        raise ConfigError(f"{workspace.path}: --only {only!r} matches no source of any engagement")
    return having


def cmd_timeline(args: argparse.Namespace) -> int:
    from glassbox.timeline import load_timeline, to_csv, to_jsonl

    workspace = load_workspace(args.config)
    config = workspace.one(args.engagement, "timeline")
    tz = config.engagement.zone
    start, end = day_bounds(parse_day(args.start, "--from") if args.start else None,
                            parse_day(args.end, "--to") if args.end else None, tz)
    store = _open(workspace, config, args)
    frame = load_timeline(store, config, start=start, end=end, sources=args.source, view=args.view)
    render = to_jsonl if args.format == "jsonl" else to_csv
    with _stdout_errors():
        sys.stdout.write(render(frame, tz))
    return 0


def report_period(args: argparse.Namespace, config: Config) -> Period:
    """The period ``report`` covers: ``--week`` or ``--from/--to``; last full week by default."""
    tz = config.engagement.zone
    today = datetime.now(tz).date()
    if args.week and (args.start or args.end):
        raise ConfigError("give either --week or --from/--to, not both")
    if args.start or args.end:
        if not (args.start and args.end):
            raise ConfigError("--from and --to go together")
        return day_range(parse_day(args.start, "--from"), parse_day(args.end, "--to"), tz)
    return parse_week(args.week or "last", tz, today)


def cmd_report(args: argparse.Namespace) -> int:
    workspace = load_workspace(args.config)
    if args.engagement == ALL and ALL not in workspace.engagements:
        return _report_all(workspace, args)
    config = workspace.one(args.engagement, "report")
    period = report_period(args, config)
    from glassbox.reports import write_report  # heavy (charts, PDF): imported only when reporting
    from glassbox.sync_progress import working

    store = _open(workspace, config, args)
    shown_here = args.out is None and sys.stdout.isatty()  # a spinner would land inside the report
    spinner = nullcontext() if shown_here else working(sys.stderr, f"Building the {args.format} report"
                                                                   f" of {period.label}…")
    with _stdout_errors() if args.out is None else nullcontext(), spinner:
        written = write_report(store, config, period, fmt=args.format, view=args.view,
                               out=Path(args.out) if args.out else None, stdout=sys.stdout)
    if written is not None:
        print(f"wrote {written}", file=sys.stderr)
    return 0


def _report_all(workspace: Workspace, args: argparse.Namespace) -> int:
    """``report --engagement all --out DIR``: one file per engagement, its id in the name."""
    from glassbox.reports import file_name, write_report

    if args.out is None or Path(args.out).is_file():
        raise ConfigError("report --engagement all writes one file per engagement — give --out DIR (a folder)")
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    configs = list(workspace.engagements.values())
    store = _open(workspace, configs[0], args)
    for config in configs:
        period = report_period(args, config)
        target = folder / file_name(period, args.format, args.view, engagement=config.engagement_id)
        written = write_report(store.scoped(config.engagement_id), config, period, fmt=args.format,
                               view=args.view, out=target, stdout=sys.stdout)
        print(f"wrote {written}", file=sys.stderr)
    return 0


def cmd_engagements(args: argparse.Namespace) -> int:
    """SPEC §6: id, name, sources, event count and the last sync of every engagement."""
    import json

    from glassbox.workspace_status import engagement_rows, rows_table

    workspace = load_workspace(args.config)
    configs = workspace.select(args.engagement)
    store = _open(workspace, configs[0], args)
    rows = engagement_rows(store, configs)
    with _stdout_errors():
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n" if args.format == "json"
                         else rows_table(rows))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from demo import build_demo
    from glassbox.sync_progress import progress_for

    progress = progress_for(sys.stderr)
    try:
        config_file = build_demo(args.dir, progress)
    finally:
        progress.close()
    print(f"demo engagement ready: {config_file}\n"
          f"  dashboard: GLASSBOX_CONFIG={config_file} streamlit run dashboard/app.py\n"
          f"  timeline:  python -m glassbox timeline --config {config_file}", file=sys.stderr)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    workspace = load_workspace(args.config)
    configs = workspace.select(args.engagement)
    if not workspace.single:
        print(f"workspace: {workspace.path} ok ({len(workspace.engagements)} engagements)", file=sys.stderr)
    store = _open(workspace, configs[0], args)
    return max(_doctor(config, store.scoped(config.engagement_id)) for config in configs)


def _doctor(config: Config, store: Store) -> int:
    from glassbox.lock import sync_running
    from glassbox.sources import build_connector, configured_sources, source_keys
    from glassbox.sync import FAILED_STATES, settle_abandoned_runs, sync_state

    print(f"config: {config.path} ok (engagement {config.engagement_id})", file=sys.stderr)
    print(f"store: {store.engine.url.render_as_string(hide_password=True)} ok ({store.count_events()} events)",
          file=sys.stderr)
    settle_abandoned_runs(store)
    history, running_now = store.sync_runs(source_keys(config)), sync_running(store)
    failures = 0
    specs = configured_sources(config)
    if not specs:
        print("sources: none configured — add [[github]], [[git]], [[jira]] or [[mlflow]] sections", file=sys.stderr)
    for spec in specs:
        try:
            connector = build_connector(spec, config)
            print(f"{connector.label}: ok — {connector.check()}", file=sys.stderr)
        except GlassboxError as exc:
            failures += 1
            print(f"{spec.key}: {redact(str(exc))}", file=sys.stderr)
        origin = spec.section.origin(config.folder)
        runs = history.loc[(history["source"] == spec.kind) & (history["origin"] == origin)]
        state = sync_state(runs, running_now)
        if state in FAILED_STATES:
            failures += 1
            print(f"{spec.key}: last sync {state} — {redact(runs.iloc[0]['message'] or '')}", file=sys.stderr)
    return 1 if failures else 0


def cmd_renormalize(args: argparse.Namespace) -> int:
    from glassbox.lock import sync_lock
    from glassbox.renormalize import renormalize

    workspace = load_workspace(args.config)
    config = workspace.one(args.engagement, "renormalize")
    store = _open(workspace, config, args)
    with sync_lock(store):  # a sync writing the same events meanwhile would race the rewrite
        for summary in renormalize(config, store, args.only):
            print(redact(summary.line()), file=sys.stderr)
        rebuild(store, config)  # refs may have changed without any event's content changing
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    from glassbox.lock import sync_lock

    workspace = load_workspace(args.config)
    config = workspace.one(args.engagement, "rebuild")
    store = _open(workspace, config, args)
    with sync_lock(store):  # a sync's incremental updates meanwhile would race the rebuild
        waits = rebuild(store, config)
    print(f"read model rebuilt from {store.count_events()} events: {waits} waits", file=sys.stderr)
    return 0


def cmd_note(args: argparse.Namespace) -> int:
    from glassbox.notes import clean_note, read_note_file

    workspace = load_workspace(args.config)
    config = workspace.one(args.engagement, "note")
    week = parse_week(args.week, config.engagement.zone, datetime.now(config.engagement.zone).date())
    text = clean_note(read_note_file(args.file), f"--file {args.file}")
    saved = _open(workspace, config, args).set_week_note(week.label, text)
    print(f"{week.label}: note saved ({len(saved.text):,} characters)" if saved else f"{week.label}: note cleared",
          file=sys.stderr)
    return 0


def cmd_notify(args: argparse.Namespace) -> int:
    from glassbox.notify.run import run_notify

    workspace = load_workspace(args.config)
    config = workspace.one(args.engagement, "notify")
    now = _parse_now(args.now)
    store = _open(workspace, config, args)
    return run_notify(config, store, now, dry_run=args.dry_run, say=lambda line: print(redact(line), file=sys.stderr))


def _parse_now(text: str | None) -> datetime:
    """``--now``: an ISO instant with its offset (a clock without a zone would be ambiguous)."""
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--now {text!r}: expected an ISO time such as 2026-11-23T08:45:00+01:00") from None
    if moment.tzinfo is None:
        raise ConfigError(f"--now {text!r}: give its UTC offset, e.g. 2026-11-23T08:45:00+01:00")
    return moment
