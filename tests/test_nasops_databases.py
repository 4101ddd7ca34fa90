"""`nasops databases` without Docker: the SQL and ACL commands it sends (quoted names, hostile
values), the pending password set before it is promoted, the fallback to the current one, stale
Redis users removed; through a fake at the exec boundary that records every exec."""

from __future__ import annotations

import io

import pytest

from nasops import databases, dockerexec
from tests.nasops_fixtures import catalog_with, stack_in
from tests.test_nasops_backup import FakeClient, FakeContainer


def test_the_sql_quotes_every_name_and_value():
    steps = databases.postgres_sql("p'w", [{"name": 'we"ird', "user": "o'neil", "password": "x'y"}])
    assert steps[0] == (None, "ALTER ROLE postgres WITH PASSWORD 'p''w';\n")
    sql = steps[1][1]
    assert "SELECT 'CREATE ROLE \"o''neil\" LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'o''neil')\\gexec" in sql
    assert "ALTER ROLE \"o'neil\" WITH LOGIN PASSWORD 'x''y';" in sql
    assert "REVOKE ALL ON DATABASE \"we\"\"ird\" FROM PUBLIC;" in sql
    mysql = databases.mysql_sql("r'", {"name": "co`co", "user": "u", "password": "p"})
    assert "CREATE DATABASE IF NOT EXISTS `co``co`;" in mysql and "IDENTIFIED BY 'r''';" in mysql
    assert databases.redis_password_rule('a"b\\c') == '">a\\"b\\\\c"'
    assert databases.ddl_transaction("kaui", [b"CREATE TABLE t();"]) == b'BEGIN;\nSET ROLE "kaui";\nCREATE TABLE t();\nCOMMIT;\n'


class Servers:
    """The database servers as the tools see them: which passwords they take, what they hold."""

    def __init__(self, mysql_root="current-root", redis_admin="current-admin", tables="0", acl_users=("admin", "default", "connector", "condo", "gone")):
        self.mysql_root, self.redis_admin, self.tables, self.acl_users = mysql_root, redis_admin, tables, acl_users
        self.ran = []

    def __call__(self, api, cid, argv, stdin=None, stdout=None, env=None, check=False):
        data = stdin if isinstance(stdin, bytes) else b""
        self.ran.append((cid, tuple(argv), data.decode(errors="replace"), dict(env or {})))
        out, rc = b"", 0
        if argv[0] == "psql" and b"pg_tables" in data:
            out = self.tables.encode() + b"\n"
        elif argv[0] == "mysql":
            rc = 0 if env.get("MYSQL_PWD") == self.mysql_root else 1
        elif argv[0] == "redis-cli":
            if env.get("REDISCLI_AUTH") != self.redis_admin:
                out = b"AUTH failed: WRONGPASS invalid username-password pair\n"
            else:
                out = b"admin\n" + (("\n".join(self.acl_users) + "\n").encode() if b"ACL USERS" in data else b"OK\n")
        result = dockerexec.Result(rc, out, b"denied" if rc else b"")
        if check and rc:
            raise dockerexec.ExecError(list(argv), result)
        return result


@pytest.fixture
def stack(tmp_path):
    s = stack_in(tmp_path, catalog_with(tmp_path, target="staging"))
    values = s.root / "secrets/values"
    values.mkdir(parents=True)
    for path in [srv["admin_password_file"] for engine in ("postgres", "redis") for srv in s.databases[engine]] + [
            db["password_file"] for engine in ("postgres", "redis") for srv in s.databases[engine] for db in srv["databases"]] + [
            db["password_file"] for db in s.databases["mysql"]]:
        s.file(path).write_text(f"current-{path.rsplit('/', 1)[1]}\n")
    (values / "cocorico_mysql_root_password").write_text("current-root\n")
    (values / "redis_admin_password").write_text("current-admin\n")
    for srv in s.databases["postgres"]:
        for db in srv["databases"]:
            for path in db["ddl"]:
                s.file(path).parent.mkdir(parents=True, exist_ok=True)
                s.file(path).write_text(f"-- DDL of {db['name']}\n")
    return s


@pytest.fixture
def run(monkeypatch):
    def run(stack, servers):
        containers = [FakeContainer(f"id-{s}", s) for s in ("postgres", "cocorico-mysql", "redis")]
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr(dockerexec, "run", servers)
        rc = databases.main(stack, lambda: FakeClient(containers), out, err)
        return rc, out.getvalue(), err.getvalue()
    return run


def test_every_database_is_made_with_its_user_and_its_ddl(stack, run):
    servers = Servers()
    rc, out, err = run(stack, servers)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines.index("databases: postgres marketplace, killbill, kaui, condo ready") < \
        lines.index("databases: mysql cocorico ready") < lines.index("databases: redis connector_cache, condo_cache ready")
    assert "databases: loaded the DDL of kaui (2 file(s))" in out
    ddl = [r for r in servers.ran if r[2].startswith("BEGIN;")]
    assert [r[1][-1] for r in ddl] == ["killbill", "kaui"] and "-- DDL of kaui" in ddl[1][2]
    assert "removed users the catalog no longer has: gone" in out
    # no secret in any argv
    values = [p.read_text().strip() for p in (stack.root / "secrets/values").iterdir()]
    assert not [r for r in servers.ran if any(v in " ".join(r[1]) for v in values)]


def test_a_loaded_database_gets_no_ddl_again(stack, run):
    servers = Servers(tables="12")
    rc, out, _ = run(stack, servers)
    assert rc == 0 and "loaded the DDL" not in out
    assert not [r for r in servers.ran if r[2].startswith("BEGIN;")]


def test_a_pending_password_is_set_then_promoted_and_redis_takes_both_meanwhile(stack, run):
    values = stack.root / "secrets/values"
    (values / "db_condo_cache_password.next").write_text("new-condo\n")
    (values / "db_kaui_password.next").write_text("new-kaui\n")
    servers = Servers()
    rc, out, _ = run(stack, servers)
    assert rc == 0
    assert (values / "db_kaui_password").read_text() == "new-kaui\n" and not (values / "db_kaui_password.next").exists()
    assert "databases: the database took the new db_kaui_password" in out
    kaui_sql = next(r[2] for r in servers.ran if "ALTER ROLE \"kaui\"" in r[2])
    assert "PASSWORD 'new-kaui'" in kaui_sql
    acl = next(r[2] for r in servers.ran if "ACL SETUSER condo" in r[2])
    assert '">current-db_condo_cache_password" ">new-condo"' in acl  # the old keeps working until condo has the new


def test_a_server_that_has_taken_a_rotated_root_password_is_still_reached(stack, run):
    values = stack.root / "secrets/values"
    (values / "cocorico_mysql_root_password.next").write_text("new-root\n")
    servers = Servers(mysql_root="current-root")  # an interrupted rotation: not yet set
    rc, _, err = run(stack, servers)
    assert rc == 0, err
    tried = [r[3]["MYSQL_PWD"] for r in servers.ran if r[1][0] == "mysql"]
    assert tried == ["new-root", "current-root"]  # the pending one first
    assert (values / "cocorico_mysql_root_password").read_text() == "new-root\n"


def test_a_redis_admin_taking_no_password_fails_naming_the_server(stack, run):
    rc, _, err = run(stack, Servers(redis_admin="something-else"))
    assert rc == 1 and "databases: redis redis: its admin user takes neither the pending nor the current password" in err
