"""nasops health [table|services|report] | monitor [event TITLE] | status [json] | gate [FILE] | backup ...
| databases | tenant | sync NAME | shared-tunnel | release apply|rollback|list|prune
| stack deploy [FAILED_FILE] [--databases] | secrets [rotate NAME] | schedule [run KEY]

Run from the deploy root (scripts/ops.sh runs it there, in its container)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from nasops import alerts, channels, checks, clock, gate, housekeeping, metrics, status_page
from nasops.engine import Engine, EngineUnreachable, connect
from nasops.observe import observe
from nasops.probe import Prober
from nasops.stack import DescriptionError, Stack


def _observe(stack, memory=False):
    return observe(stack, Engine(connect(), stack), Prober(stack.edge_url), memory=memory)


def health(stack, mode: str) -> int:
    """The checks: a table (`make status`; `services`: the backup and the disks shown, not
    judged), or one line per check for a reader (`report`). Exit 1 on a judged failure."""
    rows = checks.checks(stack, _observe(stack), judge_all=mode != "services")
    if mode == "report":
        sys.stdout.write(checks.report(rows))
    else:
        sys.stdout.write(checks.table(rows))
        if mode == "table" and stack.monitoring:
            m = stack.monitoring
            print(f"\nstatus page: {m['page_url']} (user {m['user']}; the password is on the target: "
                  f"sudo cat {m['password_file']})")
    return 1 if checks.failing(rows) else 0


def _checks(stack):
    return checks.checks(stack, _observe(stack))


def monitor(stack, event_title: str | None, rows_of=_checks, now=clock.now, post=channels.post_json) -> int:
    """Alerts on a change of the checks' state, and the ops logs' rotation (DSM's health task).
    rows_of, now, post: the checks, the clock and the webhooks' transport (a test's fakes)."""
    folder = stack.path("monitor")
    folder.mkdir(parents=True, exist_ok=True)
    log = channels.AlertLog(folder / "alerts.log", now)
    outbox = folder / "dsm-outbox"
    if event_title is not None:
        channels.notify(stack, alerts.event(stack.project, event_title, sys.stdin.read().rstrip("\n")), log, outbox, post)
        return 0
    hk = stack.housekeeping
    housekeeping.rotate(stack.root, hk["folders"], hk["log_max_kib"], hk["log_keep"])
    rows = rows_of(stack)
    state_file = folder / "state"
    try:
        was = alerts.parse_state(state_file.read_text())
    except OSError:
        was = {}
    state, note = alerts.step(stack.project, was, [(r.name, not r.ok, f"{r.state} {r.health} {r.what}") for r in rows],
                              now(), stack.alerts["repeat_min"])
    if note:
        channels.notify(stack, note, log, outbox, post)
    _replace(state_file, alerts.format_state(state))
    return 1 if any(not r.ok for r in rows) else 0


def status(stack, as_json: bool) -> int:
    """The status page's snapshot, written (quiet), or its JSON printed."""
    seen = _observe(stack, memory=True)
    rows = checks.checks(stack, seen)
    folder = stack.path("monitor")
    folder.mkdir(parents=True, exist_ok=True)
    since_file = folder / "health-since"
    try:
        was = since_file.read_text()
    except OSError:
        was = ""
    since, text = status_page.track_since(was, seen, [s.name for s in stack.services])
    _replace(since_file, text)
    releases = stack.path("releases")
    recent = stack.monitoring["recent_alerts"] if stack.monitoring else 10
    page = status_page.build(stack, seen, rows, since, status_page.read_release(releases, "current"),
                             status_page.read_release(releases, "last-good"),
                             status_page.read_sync_jobs(stack.path("integration"), stack.sync_jobs),
                             status_page.read_alerts(folder / "alerts.log", recent))
    data = status_page.as_json(page)
    if as_json:
        print(json.dumps(data, indent=1))
        return 0
    if stack.monitoring:
        status_page.publish(stack.path("status_dir"), {
            "status.json": (json.dumps(data, indent=1) + "\n").encode(),
            "metrics": metrics.exposition(page),
            "index.html": status_page.html(page).encode()})
    return 0


def gate_stack(stack, failed_file: str | None, engine=None, prober=None) -> int:
    """The release's health gate (nasops.gate); the failed services' names go to failed_file,
    one a line (written empty first), their logs and health output to stderr. Exit 1: failed."""
    if failed_file:
        Path(failed_file).write_text("")
    engine = engine or Engine(connect(), stack)
    failed = gate.run(stack, engine, prober or Prober(stack.edge_url), sys.stdout, sys.stderr)
    if not failed:
        return 0
    if failed_file:
        Path(failed_file).write_text("".join(f"{name}\n" for name in failed))
    gate.report(engine, failed, sys.stderr)
    return 1


def _replace(path: Path, text: str) -> None:
    part = path.with_name(f".{path.name}.tmp")
    part.write_text(text)
    os.replace(part, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="nasops", description="the marketplace's NAS side")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("health", help="the checks").add_argument("mode", nargs="?", default="table",
                                                            choices=["table", "services", "report"])
    mon = sub.add_parser("monitor", help="alert on a change of the checks, rotate the logs")
    mon.add_argument("event", nargs="?", choices=["event"])
    mon.add_argument("title", nargs="?")
    sub.add_parser("status", help="the status page's snapshot").add_argument("mode", nargs="?", choices=["json"])
    sub.add_parser("gate", help="the release's health gate").add_argument("failed_file", nargs="?")
    sub.add_parser("backup", help="backups: run|dump|verify|restore|prune|list|age|show|offsite-restore|offsite-key",
                   add_help=False).add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("release", help="releases: apply ID [DB ...]|rollback [ID]|list|prune",
                   add_help=False).add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("stack", help="swarm: deploy [FAILED_FILE] [--databases]",
                   add_help=False).add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("secrets", help="every missing secret made, the secret env files written: [rotate NAME]",
                   add_help=False).add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("databases", help="every database with its user, password and DDL")
    sub.add_parser("tenant", help="Kill Bill's tenant, and Kaui told of it")
    sub.add_parser("sync", help="one integration sync job (the Connector's)").add_argument("job")
    sub.add_parser("schedule", help="swarm: run the jobs of dsm_tasks on their schedule: [run KEY] (one now)",
                   add_help=False).add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("shared-tunnel", help="our block into the other site's cloudflared, kept only if it gets ready")
    args = parser.parse_args(argv)
    os.umask(0o077)  # what it writes (state, logs) is its owner's; the page's files say otherwise
    try:
        stack = Stack.load()
        if args.command == "health":
            return health(stack, args.mode)
        if args.command == "monitor":
            if args.event and not args.title:
                parser.error("usage: monitor event TITLE (the body on stdin)")
            return monitor(stack, args.title if args.event else None)
        if args.command == "backup":
            from nasops.backup import commands as backup

            return backup.main(stack, args.args, connect)
        if args.command == "release":
            from nasops.release import commands as release

            return release.main(stack, args.args, connect)
        if args.command == "stack":
            from nasops import swarm_stack

            return swarm_stack.main(stack, args.args, connect)
        if args.command == "schedule":
            from nasops import schedule

            return schedule.main(stack, args.args)
        if args.command == "secrets":
            from nasops import secrets

            return secrets.main(stack, args.args)
        if args.command == "databases":
            from nasops import databases

            return databases.main(stack, connect, sys.stdout, sys.stderr)
        if args.command == "shared-tunnel":
            from nasops import shared_tunnel

            return shared_tunnel.run(stack, connect(), sys.stdout, sys.stderr)
        if args.command == "sync":
            from nasops import sync

            return sync.run(stack, args.job, connect())
        if args.command == "tenant":
            from nasops import tenant

            return tenant.main(stack, sys.stdout, sys.stderr)
        if args.command == "gate":
            return gate_stack(stack, args.failed_file)
        return status(stack, args.mode == "json")
    except DescriptionError as e:
        print(f"nasops: {e}", file=sys.stderr)
        return 2
    except EngineUnreachable as e:
        print(f"nasops: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
