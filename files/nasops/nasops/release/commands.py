"""`nasops release apply ID [DB ...] | rollback [ID] | list | prune` (scripts/release.sh runs it;
the deploy runs `apply` detached from its connection, so a cut deploy still finishes or rolls
back). The deploy lock is taken by the deploy and released by scripts/release.sh."""

from __future__ import annotations

import sys

from nasops.engine import Engine
from nasops.release.apply import Release
from nasops.release.converge import Converge
from nasops.release.records import Releases

USAGE = "usage: release.sh apply ID [DB ...] | rollback [ID] | list | prune"


def listing(stack, records: Releases) -> str:
    """Every release, for `make releases`: id, status, its deploy.json on one line; the pointers;
    the lock's holder while one is held."""
    lines = []
    for rid in records.ids():
        record = records.read(rid, "deploy.json")
        if record:
            lines.append(f"{rid}\t{records.status(rid)}\t{record.replace(chr(10), '')}\n")
    lines.append(f"current\t{records.pointer('current')}\nlast-good\t{records.pointer('last-good')}\n")
    lock = stack.file(stack.raw["paths"]["lock_dir"])
    if lock.is_dir():
        try:
            holder = (lock / "owner").read_text().replace("\n", "")
        except OSError:
            holder = ""
        lines.append(f"lock\t{holder}\n")
    return "".join(lines)


def pre_release_backup(stack, client, release_id: str, names: list[str], log_path) -> str:
    """The backup (nasops.backup's dump, partial) of the databases a release changes; its
    progress in releases/ID/backup.log, its id the log's last line."""
    from nasops.backup.commands import Backups

    with open(log_path, "w") as log:
        backups = Backups(stack, client, out=log, err=log)
        with backups.store.lock(backups.say):
            backups.throwaways.cleanup()
            try:
                backup_id = backups.dump("pre-release", release_id, names)
            finally:
                backups.throwaways.cleanup()
        log.write(f"{backup_id}\n")
    return backup_id


def main(stack, args: list[str], client_factory, out=sys.stdout, err=sys.stderr) -> int:
    if not args or args[0] not in ("apply", "rollback", "list", "prune") or (args[0] == "apply" and len(args) < 2):
        err.write(f"{USAGE}\n")
        return 2
    cmd, rest = args[0], args[1:]
    records = Releases.of(stack)
    records.folder.mkdir(parents=True, exist_ok=True)
    if cmd == "list":
        out.write(listing(stack, records))
        return 0
    client = client_factory()
    release = Release(stack, records, Converge(stack, client, out, err), Engine(client, stack),
                      lambda rid, names: pre_release_backup(stack, client, rid, names, records.dir(rid) / "backup.log"),
                      out, err)
    if cmd == "prune":
        release.prune()
        return 0
    if cmd == "rollback":
        return release.rollback(rest[0] if rest else None, lambda: listing(stack, records))
    return release.apply(rest[0], rest[1:])
