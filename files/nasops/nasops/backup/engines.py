"""Each database engine's tools, run in a container of the stack's own image: counting, dumping
(in the live server), loading into a throwaway server (the verification) and restoring into the
live server. Values reach the tools on stdin or in the exec's environment, never in an argv."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from nasops import dockerexec
from nasops.backup import counts

MONGO_SHELL = "if command -v mongosh >/dev/null; then exec mongosh --quiet; else exec mongo --quiet; fi"
# mongodump/mongorestore read the password from a config file (never argv): written 0600 in the
# container from stdin, removed after
WRITE_CONF = 'umask 077; cat > "$1"'


@dataclass
class Box:
    """A container to run tools in: a live server, or a throwaway one of the same image."""

    api: object
    container_id: str
    service: str
    env: dict[str, str] = field(default_factory=dict)  # what every tool gets (MYSQL_PWD, ...)
    mongo_user: str = ""
    mongo_password: str = ""
    redis_cli: tuple[str, ...] = ("redis-cli",)

    def run(self, argv, stdin=None, stdout=None, check=True, env=None) -> dockerexec.Result:
        return dockerexec.run(self.api, self.container_id, list(argv), stdin=stdin, stdout=stdout,
                              env={**self.env, **(env or {})}, check=check)

    def first_line(self, argv) -> str:
        lines = self.run(argv).text.splitlines()
        return lines[0] if lines else ""


def wait_until(probe, seconds: float, every: float = 0.25, sleep=time.sleep, clock=time.monotonic) -> bool:
    end = clock() + seconds
    while True:
        try:
            if probe():
                return True
        except dockerexec.ExecError:
            pass
        if clock() >= end:
            return False
        sleep(every)


def pg_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def mysql_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


# -- PostgreSQL --

def pg_counts(box: Box, db: str) -> str:
    out = box.run(["psql", "-v", "ON_ERROR_STOP=1", "-qAtX", "-F", "\t", "-U", "postgres", "-d", db],
                  stdin=f"{counts.PG_COUNTS}\n\\gexec\n".encode())
    return counts.normalized(out.text)


def pg_sql(box: Box, sql: str) -> str:
    return box.run(["psql", "-v", "ON_ERROR_STOP=1", "-qAtX", "-U", "postgres", "-d", "postgres"],
                   stdin=f"SET client_min_messages = warning;\n{sql}".encode()).text


def pg_dump(box: Box, db: str, out) -> None:
    box.run(["pg_dump", "-U", "postgres", "-Fc", db], stdout=out)


def pg_tool(box: Box) -> str:
    return box.first_line(["pg_dump", "--version"])


def pg_ready(box: Box) -> bool:
    return box.run(["pg_isready", "-q", "-h", "127.0.0.1", "-U", "postgres"], check=False).rc == 0


def pg_load(box: Box, db: str, part: Path) -> None:
    """Into a throwaway server: a new database, the dump restored without owners or grants."""
    box.run(["createdb", "-U", "postgres", db])
    with open(part, "rb") as f:
        box.run(["pg_restore", "-U", "postgres", "-d", db, "--no-owner", "--no-acl", "--exit-on-error"], stdin=f)


def pg_swap_sql(db: str, owner: str) -> tuple[str, str, str]:
    """The live restore's SQL: (make the new database, swap it in by two renames; the database
    it restores into). The old one is dropped only once the new one holds the name."""
    tmp, old = f"{db}__restoring", f"{db}__before_restore"
    make = f"DROP DATABASE IF EXISTS {pg_ident(tmp)} WITH (FORCE);\nCREATE DATABASE {pg_ident(tmp)} OWNER {pg_ident(owner)};\n"
    swap = (f"DROP DATABASE IF EXISTS {pg_ident(old)} WITH (FORCE);\n"
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {sql_literal(db)};\n"
            f"ALTER DATABASE {pg_ident(db)} RENAME TO {pg_ident(old)};\n"
            f"ALTER DATABASE {pg_ident(tmp)} RENAME TO {pg_ident(db)};\n"
            f"REVOKE ALL ON DATABASE {pg_ident(db)} FROM PUBLIC;\n"
            f"DROP DATABASE {pg_ident(old)} WITH (FORCE);\n")
    return make, swap, tmp


# -- MySQL / MariaDB (MYSQL_PWD in the box's environment) --

def mysql_counts(box: Box, db: str) -> str:
    return counts.normalized(box.run(["mysql", "-uroot", "-N", "-B", db], stdin=counts.MYSQL_COUNTS.encode()).text)


def mysql_accepts(box: Box, password: str) -> bool:
    return box.run(["mysql", "-uroot", "-e", "SELECT 1"], env={"MYSQL_PWD": password}, check=False).rc == 0


def mysql_dump(box: Box, db: str, out) -> None:
    box.run(["mysqldump", "-uroot", "--single-transaction", "--quick", "--routines", "--triggers", "--events",
             "--hex-blob", "--no-tablespaces", db], stdout=out)


def mysql_tool(box: Box) -> str:
    return box.first_line(["mysqldump", "--version"])


def mysql_ready(box: Box) -> bool:
    """TCP answers only once the image's first-start setup is over (that runs without
    networking), then root's password must work."""
    return (box.run(["mysqladmin", "ping", "-h", "127.0.0.1", "--protocol=tcp", "--silent"], check=False).rc == 0
            and box.run(["mysql", "-uroot", "-e", "SELECT 1"], check=False).rc == 0)


def mysql_load(box: Box, db: str, part: Path, fresh: bool = False) -> None:
    """The dump into database `db`, made new (fresh: dropped first, the live restore)."""
    drop = f"DROP DATABASE IF EXISTS {mysql_ident(db)};\n" if fresh else ""
    box.run(["mysql", "-uroot"], stdin=f"{drop}CREATE DATABASE {mysql_ident(db)};\n".encode())
    with open(part, "rb") as f:
        box.run(["mysql", "-uroot", db], stdin=f)


# -- MongoDB (the root user's credentials from the server's environment) --

def mongo_counts(box: Box, db: str) -> str:
    script = (f"db.getSiblingDB(\"admin\").auth({json.dumps(box.mongo_user)}, {json.dumps(box.mongo_password)});\n"
              f"var DB = {json.dumps(db)};\n{counts.MONGO_COUNTS}\n")
    return counts.normalized(box.run(["sh", "-c", MONGO_SHELL], stdin=script.encode()).text)


def mongo_has_dump(box: Box) -> bool:
    return box.run(["sh", "-c", "command -v mongodump"], check=False).rc == 0


def _mongo_conf(box: Box) -> str:
    path = "/tmp/.nasops-mongo.conf"
    box.run(["sh", "-c", WRITE_CONF, "sh", path], stdin=f"password: {json.dumps(box.mongo_password)}\n".encode())
    return path


def mongo_dump(box: Box, db: str, out) -> None:
    conf = _mongo_conf(box)
    try:
        box.run(["mongodump", "--quiet", "--archive", "--gzip", "--db", db, "-u", box.mongo_user,
                 "--authenticationDatabase", "admin", "--config", conf], stdout=out)
    finally:
        box.run(["rm", "-f", conf], check=False)


def mongo_tool(box: Box) -> str:
    return box.first_line(["mongodump", "--version"])


def mongo_ready(box: Box) -> bool:
    return "1" in box.run(["sh", "-c", MONGO_SHELL], stdin=b"db.runCommand({ping: 1}).ok\n", check=False).text


def mongo_load(box: Box, db: str, part: Path, live: bool = False) -> None:
    """The archive restored (live: only `db`'s collections, each dropped first)."""
    conf = _mongo_conf(box)
    scope = ["--drop", "--nsInclude", f"{db}.*"] if live else []
    try:
        with open(part, "rb") as f:
            box.run(["mongorestore", "--quiet", *scope, "--archive", "--gzip", "-u", box.mongo_user,
                     "--authenticationDatabase", "admin", "--config", conf], stdin=f)
    finally:
        box.run(["rm", "-f", conf], check=False)


# -- Redis (the admin user's password in the server's own environment, REDISCLI_AUTH) --

def redis_counts(box: Box) -> str:
    return counts.redis_keyspace(box.run([*box.redis_cli, "INFO", "keyspace"]).text)


def redis_cli(box: Box, *args: str) -> str:
    return box.run([*box.redis_cli, *args]).text.strip()


def redis_dump(box: Box, out, sleep=time.sleep, clock=time.time) -> None:
    """A fresh RDB: BGSAVE once the clock has passed the last save's second, wait for it, then
    the server's dump file (redis-cli --rdb would wait repl-diskless-sync-delay, 5 s)."""
    last = redis_cli(box, "LASTSAVE")
    while int(clock()) <= int(last or 0):
        sleep(0.2)
    answer = redis_cli(box, "BGSAVE")
    if "started" not in answer and "scheduled" not in answer:
        raise dockerexec.ExecError(["BGSAVE"], dockerexec.Result(1, b"", f"BGSAVE refused: {answer}".encode()))
    while True:
        info = redis_cli(box, "INFO", "persistence").replace("\r", "")
        if redis_cli(box, "LASTSAVE") != last and "rdb_bgsave_in_progress:0" in info:
            break
        sleep(0.1)
    if "rdb_last_bgsave_status:ok" not in info:
        raise dockerexec.ExecError(["BGSAVE"], dockerexec.Result(1, b"", b"BGSAVE failed"))
    folder = redis_cli(box, "CONFIG", "GET", "dir").splitlines()[-1]
    name = redis_cli(box, "CONFIG", "GET", "dbfilename").splitlines()[-1]
    box.run(["cat", f"{folder}/{name}"], stdout=out)


def redis_tool(box: Box) -> str:
    return box.first_line([box.redis_cli[0], "--version"])


def redis_ready(box: Box) -> bool:
    return "PONG" in box.run([*box.redis_cli, "ping"], check=False).text


def redis_restore_files(data: Path, rdb: Path, backup_id: str) -> Path:
    """The RDB as the base of a new append-only file in the (stopped) server's data folder; the
    previous one kept beside it. Returns where the previous one went."""
    aof = data / "appendonlydir"
    kept = data / f"appendonlydir.before-restore-{backup_id}"
    n = 1
    while kept.exists():  # restored from the same backup before: each previous state kept
        n += 1
        kept = data / f"appendonlydir.before-restore-{backup_id}.{n}"
    if aof.is_dir():
        aof.rename(kept)
    aof.mkdir(mode=0o700)
    shutil.copyfile(rdb, aof / "appendonly.aof.1.base.rdb")
    (aof / "appendonly.aof.manifest").write_text("file appendonly.aof.1.base.rdb seq 1 type b\n")
    return kept


PART = {"postgres": ("postgres", ".dump"), "mysql": ("mysql", ".sql"), "mongodb": ("mongodb", ".archive.gz"),
        "redis": ("redis", ".rdb")}


def part_name(engine: str, name: str) -> str:
    folder, suffix = PART[engine]
    return f"{folder}/{name}{suffix}"
