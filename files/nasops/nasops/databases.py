"""`nasops databases` (scripts/ensure_databases.sh): every database of the catalog exists with
its own user and current password, and an empty one gets its DDL (one transaction, as its user)
before its app first starts. Redis: each database is an ACL user of its server, set by the
server's admin user (rules and passwords replaced whole, users the catalog no longer has
removed, then ACL SAVE).

Idempotent: start_all.sh and a release run it once the database servers are healthy, before the
apps start; `make rotate` after a password changed. A rotated password waits in
secrets/values/NAME.next: it is set in the database here, then promoted, so the services only
ever get a password their database already takes. Passwords reach the tools on stdin or in the
exec's environment, never argv; names reach SQL as quoted identifiers and literals."""

from __future__ import annotations

import os
from pathlib import Path

from nasops import dockerexec
from nasops.backup.engines import Box, mysql_ident, pg_ident, sql_literal

REDIS_ERRORS = ("ERR", "WRONGPASS", "NOAUTH", "NOPERM", "WRONGTYPE")


class Failed(Exception):
    """What stopped it, said as `databases: ...`."""


class Secrets:
    """A secret's file (FILE, and FILE.next during a rotation): the value a database must have
    (the pending one first) and its promotion. Files are named relative to the deploy root."""

    def __init__(self, root: Path, say):
        self.folder = root
        self.say = say

    def candidates(self, name: str) -> list[str]:
        """The pending value, then the current one (what a server may have now), non-empty."""
        found = []
        for path in (self.folder / f"{name}.next", self.folder / name):
            try:
                value = path.read_text().rstrip("\n")
            except OSError:
                continue
            if value:
                found.append(value)
        return found

    def wanted(self, name: str) -> str:
        found = self.candidates(name)
        if not found:
            raise Failed(f"secret {Path(name).name} is missing ({name})")
        return found[0]

    def current(self, name: str) -> str:
        try:
            value = (self.folder / name).read_text().rstrip("\n")
        except OSError:
            value = ""
        if not value:
            raise Failed(f"secret {Path(name).name} is missing ({name})")
        return value

    def pending(self, name: str) -> str | None:
        try:
            return (self.folder / f"{name}.next").read_text().rstrip("\n") or None
        except OSError:
            return None

    def promote(self, name: str) -> None:
        """The database has taken the pending value: from now on the services get it."""
        pending = self.folder / f"{name}.next"
        if pending.is_file() and pending.stat().st_size:
            os.replace(pending, self.folder / name)
            self.say(f"databases: the database took the new {Path(name).name}")


def postgres_sql(admin_password: str, dbs: list[dict]) -> list[tuple[str | None, str]]:
    """The statements of one PostgreSQL server, as (database to run in, SQL); the DDL is decided
    after (it needs the table count)."""
    steps = [(None, f"ALTER ROLE postgres WITH PASSWORD {sql_literal(admin_password)};\n")]
    for db in dbs:
        user, name = db["user"], db["name"]
        steps.append((db["name"], (
            f"SELECT 'CREATE ROLE {pg_ident(user).replace(chr(39), chr(39) * 2)} LOGIN' "
            f"WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {sql_literal(user)})\\gexec\n"
            f"ALTER ROLE {pg_ident(user)} WITH LOGIN PASSWORD {sql_literal(db['password'])};\n"
            f"SELECT 'CREATE DATABASE {pg_ident(name).replace(chr(39), chr(39) * 2)} OWNER "
            f"{pg_ident(user).replace(chr(39), chr(39) * 2)}' "
            f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = {sql_literal(name)})\\gexec\n"
            f"REVOKE ALL ON DATABASE {pg_ident(name)} FROM PUBLIC;\n")))
    return steps


def ddl_transaction(user: str, files: list[bytes]) -> bytes:
    return (f"BEGIN;\nSET ROLE {pg_ident(user)};\n".encode() + b"".join(files) + b"\nCOMMIT;\n")


def mysql_sql(root_password: str, db: dict) -> str:
    user = sql_literal(db["user"])
    password = sql_literal(db["password"])
    return (f"ALTER USER 'root'@'localhost' IDENTIFIED BY {sql_literal(root_password)};\n"
            f"CREATE DATABASE IF NOT EXISTS {mysql_ident(db['name'])};\n"
            f"CREATE USER IF NOT EXISTS {user}@'%' IDENTIFIED BY {password};\n"
            f"ALTER USER {user}@'%' IDENTIFIED BY {password};\n"
            f"GRANT ALL ON {mysql_ident(db['name'])}.* TO {user}@'%';\nFLUSH PRIVILEGES;\n")


def redis_password_rule(value: str) -> str:
    """The rule >VALUE as one redis-cli argument ("..." with \\ and " escaped)."""
    return '">' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def redis_rules(values: list[str]) -> str:
    """The password rules of a secret: the current value, and during a rotation the pending one
    too (the services keep working until they get it)."""
    return " ".join(redis_password_rule(v) for v in values)


def redis_commands(admin_user: str, admin_rules: str, dbs: list[dict]) -> str:
    lines = [f"ACL SETUSER {admin_user} on {admin_rules}"]
    lines += [f"ACL SETUSER {db['user']} reset on {db['rules']} {db['acl']}" for db in dbs]
    return "\n".join(lines + ["ACL SAVE"]) + "\n"


def stale_users(listed: list[str], keep: list[str]) -> list[str]:
    return [u for u in listed if u and u not in keep]


class Databases:
    def __init__(self, stack, client, out, err):
        self.stack = stack
        self.client = client
        self.out, self.err = out, err
        self.spec = stack.databases
        self.secrets = Secrets(stack.root, self.say)

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def box(self, service: str) -> Box:
        label = self.stack.labels["service"]
        for c in self.client.containers.list(filters={"label": f"{self.stack.labels['project']}={self.stack.project}"}):
            labels = c.attrs.get("Config", {}).get("Labels") or {}
            if labels.get(label) == service and labels.get("com.docker.compose.oneoff") != "True":
                return Box(self.client.api, c.id, service)
        raise Failed(f"no running container of {service} on this node")

    def ensure(self) -> None:
        for server in self.spec["postgres"]:
            self.postgres(server)
        if self.spec["postgres"]:
            names = [db["name"] for s in self.spec["postgres"] for db in s["databases"]]
            self.say(f"databases: postgres {', '.join(names)} ready")
        for db in self.spec["mysql"]:
            self.mysql(db)
        for server in self.spec["redis"]:
            self.redis(server)

    # -- PostgreSQL: psql as the superuser inside the container (local trust), SQL on stdin --

    def postgres(self, server: dict) -> None:
        box = self.box(server["service"])

        def psql(database: str, sql: bytes) -> str:
            return box.run(["psql", "-v", "ON_ERROR_STOP=1", "-q", "-At", "-U", "postgres", "-d", database],
                           stdin=sql).text

        dbs = [{**db, "password": self.secrets.wanted(db["password_file"])} for db in server["databases"]]
        steps = postgres_sql(self.secrets.wanted(server["admin_password_file"]), dbs)
        psql("postgres", steps[0][1].encode())
        self.secrets.promote(server["admin_password_file"])
        for db, (_, sql) in zip(server["databases"], steps[1:]):
            psql("postgres", sql.encode())
            self.secrets.promote(db["password_file"])
            if db["ddl"]:
                tables = psql(db["name"], b"SELECT count(*) FROM pg_tables WHERE schemaname = 'public';\n").strip()
                if tables == "0":
                    psql(db["name"], ddl_transaction(db["user"], [self.stack.file(p).read_bytes() for p in db["ddl"]]))
                    self.say(f"databases: loaded the DDL of {db['name']} ({len(db['ddl'])} file(s))")

    # -- MySQL: as root, with the root password the server has now (pending, else current) --

    def mysql(self, db: dict) -> None:
        box = self.box(db["service"])
        root = db["admin_password_file"]
        sql = mysql_sql(self.secrets.wanted(root), {**db, "password": self.secrets.wanted(db["password_file"])})
        last = None
        for password in self.secrets.candidates(root):
            last = box.run(["mysql", "-uroot"], stdin=sql.encode(), env={"MYSQL_PWD": password}, check=False)
            if last.rc == 0:
                break
        else:
            raise Failed(f"mysql {db['name']}: root takes neither the pending nor the current password "
                         f"({last.why() if last else 'no password'})")
        self.secrets.promote(root)
        self.secrets.promote(db["password_file"])
        self.say(f"databases: mysql {db['name']} ready")

    # -- Redis: redis-cli as the server's admin user, logged in with the pending password, else
    #    the current one (REDISCLI_AUTH in the exec's environment) --

    def redis_admin(self, box: Box, server: dict, commands: str) -> list[str]:
        admin = server["admin_user"]
        last = ""
        for password in self.secrets.candidates(server["admin_password_file"]):
            result = box.run(["redis-cli", "--no-auth-warning", "--user", admin],
                             stdin=f"ACL WHOAMI\n{commands}".encode(), env={"REDISCLI_AUTH": password}, check=False)
            lines = (result.out + result.err).decode(errors="replace").splitlines()
            last = "\n".join(lines[-3:])
            if result.rc != 0 or not lines or lines[0] != admin:
                continue
            errors = [line for line in lines if line.startswith(REDIS_ERRORS)]
            if errors:
                raise Failed(f"redis {server['service']} refused: {' / '.join(errors[:3])}")
            return lines[1:]
        raise Failed(f"redis {server['service']}: its admin user takes neither the pending nor the current "
                     f"password ({last})")

    def redis(self, server: dict) -> None:
        box = self.box(server["service"])

        def rules(secret: str) -> str:
            values = [self.secrets.current(secret)]
            pending = self.secrets.pending(secret)
            return redis_rules(values + ([pending] if pending else []))

        dbs = [{**db, "rules": rules(db["password_file"])} for db in server["databases"]]
        self.redis_admin(box, server, redis_commands(server["admin_user"], rules(server["admin_password_file"]), dbs))
        self.secrets.promote(server["admin_password_file"])
        for db in server["databases"]:
            self.secrets.promote(db["password_file"])
        keep = list(server["reserved_users"]) + [db["user"] for db in server["databases"]]
        stale = stale_users(self.redis_admin(box, server, "ACL USERS\n"), keep)
        if stale:
            self.redis_admin(box, server, "".join(f"ACL DELUSER {u}\n" for u in stale) + "ACL SAVE\n")
            self.say(f"databases: redis {server['service']}: removed users the catalog no longer has: {' '.join(stale)}")
        self.say(f"databases: redis {', '.join(db['name'] for db in server['databases'])} ready")


def main(stack, client_factory, out, err) -> int:
    try:
        Databases(stack, client_factory(), out, err).ensure()
    except (Failed, dockerexec.ExecError) as e:
        err.write(f"databases: {e}\n")
        return 1
    return 0
