"""The backups' logic without Docker: retention as data, the verification's comparison, the
configuration part (round trip, tampering, and a part the earlier shell wrote with GNU tar and
openssl), the folder's records and lock, the restore's plan and refusals, the swap's order, and a
dump and a verification through a fake at the exec boundary."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import shutil
import subprocess
import threading

import pytest

from nasops import dockerexec
from nasops.backup import commands, config_part, counts, engines, retention
from nasops.backup.store import Refused, Store
from tests.nasops_fixtures import catalog_with, stack_in

# -- retention --

def held(days_ago: int, status="verified", full=True, hour=3, has_manifest=True, today=dt.datetime(2026, 12, 6)):
    when = today.replace(hour=hour) - dt.timedelta(days=days_ago)
    return retention.Held(when.strftime("%Y%m%dT%H%M%SZ"), status, full, has_manifest)


def test_retention_keeps_the_daily_the_weekly_and_the_last_good_one():
    days = [held(d) for d in range(1, 41)]
    failed_old = held(3, "failed: marketplace", hour=2)
    failed_new = held(0, "failed: marketplace", hour=4)
    partial = [held(2, "unverified", full=False, hour=h) for h in range(1, 8)]
    under_way = held(0, "dumping", hour=5)
    kept = retention.keep_set(days + [failed_old, failed_new, under_way] + partial, days[0].id, 7, 4, 5)
    dailies = {b.id for b in days[:7]}
    weeks = {}
    for b in days:  # newest first: the first seen of each ISO week is its newest
        weeks.setdefault(retention.iso_week(b.id), b.id)
    weeklies = set(list(weeks.values())[:4])
    assert kept == dailies | weeklies | {failed_new.id, under_way.id} | {b.id for b in sorted(partial, key=lambda b: b.id)[-5:]}
    assert failed_old.id not in kept and days[-1].id not in kept


def test_retention_keeps_one_a_day_and_never_loses_the_last_verified():
    a, b = held(1, hour=3), held(1, hour=9)  # two the same day: the newest counts
    old = held(30)
    assert retention.keep_set([a, b, old], old.id, 1, 0, 0) == {b.id, old.id}
    assert retention.keep_set([held(1, "unverified", full=False, has_manifest=False)], None, 7, 4, 5) == set()
    assert retention.keep_set([held(1, "unverified")], None, 7, 4, 5) == {held(1).id}  # nothing verified yet


# -- the comparison --

@pytest.mark.parametrize("before,after,restored,ok,lines", [
    ("a\t3\nb\t1\n", "a\t3\nb\t1\n", "a\t3\nb\t1\n", True, ["  ok: 2 table(s), 4 row(s), as in the source"]),
    ("a\t3\n", "a\t5\n", "a\t4\n", True, ["  a: written during the backup (3 -> 5), 4 restored",
                                        "  ok: 1 table(s), 4 row(s), as in the source"]),
    ("a\t3\n", "a\t3\n", "a\t2\n", False, ["  a: 2 restored, 3 in the source"]),
    ("a\t3\nb\t1\n", "a\t3\nb\t1\n", "a\t3\n", False, ["  b: missing in the restore"]),
    ("a\t3\n", "a\t3\n", "a\t3\nz\t9\n", False, ["  z: not in the source"]),
    ("", "", "", True, ["  ok: 0 table(s), 0 row(s), as in the source"]),
])
def test_a_restore_matches_its_source_or_says_what_differs(before, after, restored, ok, lines):
    assert counts.compare(before, after, restored) == (ok, lines)


def test_the_tools_output_becomes_sorted_count_files():
    assert counts.normalized("public.b\t2\npublic.a\t10\n\n") == "public.a\t10\npublic.b\t2\n"
    info = "# Keyspace\r\ndb1:keys=4,expires=0,avg_ttl=0\r\ndb0:keys=12,expires=1,avg_ttl=5\r\n"
    assert counts.redis_keyspace(info) == "db0\t12\ndb1\t4\n"
    assert counts.totals("a\t3\nb\t4\n") == (2, 7)


# -- the configuration part --

@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    (r / "secrets/values").mkdir(parents=True)
    (r / "secrets/values/db_password").write_text("s3cret-value-never-in-clear")
    (r / "secrets/values/half.deploy-tmp").write_text("a write under way")
    (r / ".env").write_text("A=1\n")
    (r / "docker-compose.yml").write_text("services: {}\n")
    (r / "releases/R1/files").mkdir(parents=True)
    (r / "releases/R1/deploy.json").write_text("{}")
    (r / "releases/R1/snapshots").mkdir()
    (r / "releases/R1/snapshots/big.dump").write_text("not kept")
    (r / "pass").write_text("correct horse battery staple\n")
    return r


PATHS = {"secrets": "secrets", "temp_suffix": ".deploy-tmp", "env_file": ".env", "compose_file": "docker-compose.yml",
         "releases": "releases"}


def test_the_part_holds_the_secrets_and_the_current_release_but_no_snapshot_nor_half_write(root):
    assert config_part.files_to_keep(root, PATHS, "R1") == [
        ".env", "docker-compose.yml", "releases/R1/deploy.json", "secrets/values/db_password"]


@pytest.mark.parametrize("encrypted", [False, True])
def test_the_part_reads_back_and_a_changed_file_is_caught(root, tmp_path, encrypted):
    out = tmp_path / "out"
    out.mkdir()
    files = config_part.files_to_keep(root, PATHS, "R1")
    record = config_part.make(root, out, files, root / "pass" if encrypted else None, "R1")
    part = out / record["part"]
    assert record["part"] == ("config.tar.enc" if encrypted else "config.tar") and record["files"] == 4
    assert record["encrypted"] is encrypted and record["sha256"] == config_part.sha256_file(part)
    assert (b"s3cret-value-never-in-clear" in part.read_bytes()) is not encrypted
    assert config_part.verify(part, root / "pass", record["content_sha256"]) == (True, ["  4 files, every checksum matches"])
    assert config_part.verify(part, root / "pass", "0" * 64)[1] == ["  its list of files is not the one the backup recorded"]
    if encrypted:
        (tmp_path / "wrong").write_text("not the passphrase\n")
        assert config_part.verify(part, tmp_path / "wrong", record["content_sha256"])[0] is False
        assert config_part.verify(part, None, record["content_sha256"])[1] == [
            "  encrypted, and no passphrase is configured to read it"]


def test_a_part_the_shell_wrote_with_gnu_tar_and_openssl_still_verifies(root, tmp_path):
    """Backups taken before this program (scripts/backup.sh's tar | openssl) stay readable."""
    files = config_part.files_to_keep(root, PATHS, "R1")
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run(["sha256sum", *files], cwd=root, check=True, stdout=open(work / "SHA256SUMS", "wb"))
    (work / "list").write_text("".join(f + "\n" for f in files))
    tar = subprocess.Popen(["tar", "-cf", "-", "-C", str(work), "SHA256SUMS", "-C", str(root), "-T", str(work / "list")],
                           stdout=subprocess.PIPE)
    with open(tmp_path / "config.tar.enc", "wb") as f:
        subprocess.run(["openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-iter", "200000", "-salt", "-pass",
                        f"file:{root / 'pass'}"], stdin=tar.stdout, stdout=f, check=True)
    tar.wait()
    want = hashlib.sha256((work / "SHA256SUMS").read_bytes()).hexdigest()
    assert config_part.verify(tmp_path / "config.tar.enc", root / "pass", want) == (True, ["  4 files, every checksum matches"])
    # and what the program writes, openssl and GNU tar read back
    out = tmp_path / "out"
    out.mkdir()
    config_part.make(root, out, files, root / "pass", "R1")
    plain = subprocess.run(["openssl", "enc", "-d", "-aes-256-cbc", "-pbkdf2", "-iter", "200000", "-pass",
                            f"file:{root / 'pass'}"], stdin=open(out / "config.tar.enc", "rb"), capture_output=True, check=True)
    listing = subprocess.run(["tar", "-tf", "-"], input=plain.stdout, capture_output=True, check=True).stdout.decode().split()
    assert listing == ["SHA256SUMS", *files]


# -- the folder --

def test_the_folder_names_its_backups_by_time_and_keeps_their_records(tmp_path):
    store = Store(tmp_path / "b")
    store.root.mkdir()
    clock = iter([1_800_000_000.2, 1_800_000_000.7, 1_800_000_001.0])
    first = store.new(now=lambda: 1_800_000_000.0)
    second = store.new(now=lambda: next(clock), sleep=lambda s: None)  # the same second is taken: the next
    assert first == "20270115T080000Z" and second == "20270115T080001Z"
    assert (store.dir(first) / "counts").is_dir() and store.dir(first).stat().st_mode & 0o777 == 0o700
    assert store.ids() == [second, first] and store.status(first) == "missing"
    store.set_status(first, "verified")
    store.set_last_verified(first, 1_800_000_000)
    assert store.status(first) == "verified" and store.last_verified() == first
    shutil.rmtree(store.dir(first))
    assert store.last_verified() is None  # a pointer to a pruned backup counts for nothing


def test_one_backup_or_restore_at_a_time(tmp_path):
    store = Store(tmp_path / "b")
    said = []
    inside, release = threading.Event(), threading.Event()

    def holder():
        with store.lock(said.append):
            inside.set()
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    inside.wait(5)
    with pytest.raises(Refused, match="has run for 0 minutes; not waiting longer"):
        with store.lock(said.append, wait_s=10, sleep=lambda s: None):
            pass
    release.set()
    t.join()
    with store.lock(said.append, wait_s=0):  # free again: a holder's end (or death) releases it
        pass
    assert len(said) == 1 and said[0].startswith("waiting for the backup or restore of ")


# -- the restore's plan, its refusals and its swap --

@pytest.fixture
def stack(tmp_path):
    return stack_in(tmp_path, catalog_with(tmp_path, target="staging"))


def made(stack, status="verified", parts=None):
    store = Store(stack.backup["dir"])
    store.root.mkdir(parents=True, exist_ok=True)
    backup_id = store.new()
    parts = parts if parts is not None else [
        {"part": "postgres/marketplace.dump", "engine": "postgres", "database": "marketplace", "sha256": "x"},
        {"part": "postgres/condo.dump", "engine": "postgres", "database": "condo", "sha256": "x"},
        {"part": "mysql/cocorico.sql", "engine": "mysql", "database": "cocorico", "sha256": "x"},
        {"part": "redis/redis.rdb", "engine": "redis", "database": "redis", "sha256": "x"}]
    store.write_manifest(backup_id, {"id": backup_id, "full": True, "parts": parts})
    store.set_status(backup_id, status)
    return backup_id


def backups_of(stack, **kw):
    return commands.Backups(stack, FakeClient(), out=io.StringIO(), err=io.StringIO(), send_event=lambda *a: None, **kw)


def test_a_whole_restore_takes_every_part_and_stops_every_user(stack):
    b = backups_of(stack)
    wanted, users, servers = b.restore_plan(made(stack), [])
    assert wanted == ["marketplace", "condo", "cocorico", "redis:redis"]
    assert servers == ["redis"]
    assert set(users) == {"connector", "condo", "cocorico"} and "postgres" not in users  # never the servers


@pytest.mark.parametrize("only,status,message", [
    (["connector_cache"], "verified", "keeps one keyspace for all of them"),
    (["nope"], "verified", "nope is not a database of the catalog"),
    (["killbill"], "verified", "has no part for killbill (marketplace condo)"),
    ([], "failed: marketplace", "failed its verification (failed: marketplace): not restoring it"),
    ([], "verifying", "is not complete"),
])
def test_a_restore_is_refused_before_anything_is_touched(stack, only, status, message):
    b = backups_of(stack)
    with pytest.raises(Refused, match=message.replace("(", r"\(").replace(")", r"\)")):
        b.restore_plan(made(stack, status), only)
    assert b.client.calls == []  # no container was looked at


def test_the_postgres_swap_renames_only_once_the_new_database_is_whole():
    make, swap, tmp = engines.pg_swap_sql('we"ird', "owner")
    assert tmp == 'we"ird__restoring'
    assert make == 'DROP DATABASE IF EXISTS "we""ird__restoring" WITH (FORCE);\nCREATE DATABASE "we""ird__restoring" OWNER "owner";\n'
    steps = swap.splitlines()
    assert steps[1] == "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'we\"ird';"
    assert steps.index('ALTER DATABASE "we""ird" RENAME TO "we""ird__before_restore";') < \
        steps.index('ALTER DATABASE "we""ird__restoring" RENAME TO "we""ird";') < \
        steps.index('DROP DATABASE "we""ird__before_restore" WITH (FORCE);')


# -- a dump and a verification through a fake at the exec boundary --

class FakeContainer:
    def __init__(self, cid, service, project="marketplace-staging", env=(), image="sha256:img"):
        self.id, self.name = cid, f"{project}-{service}-1"
        self.attrs = {"Image": image, "Config": {"Labels": {"com.docker.compose.project": project,
                                                            "com.docker.compose.service": service}, "Env": list(env)},
                      "State": {"Status": "running"}}

    def stop(self):
        self.attrs["State"]["Status"] = "exited"

    def start(self):
        self.attrs["State"]["Status"] = "running"


class FakeClient:
    def __init__(self, containers=()):
        self.calls = []
        client = self

        class Containers:
            def list(self, all=False, filters=None):  # noqa: A002 - the SDK's names
                client.calls.append(("list", filters))
                return [c for c in containers if "verify" not in json.dumps(filters)]

            def get(self, cid):
                return next(c for c in containers if c.id == cid)

        self.containers = Containers()
        self.api = object()


class Tools:
    """What the live servers answer, keyed by the program run; records every exec."""

    def __init__(self, dumped=b"DUMP"):
        self.ran = []
        self.dumped = dumped

    def __call__(self, api, cid, argv, stdin=None, stdout=None, env=None, check=False):
        self.ran.append((cid, argv[0], tuple(argv), dict(env or {})))
        out, rc = b"", 0
        if argv[0] == "psql":
            out = b"public.t\t25\n"
        elif argv[0] == "mysql" and argv[1:3] == ["-uroot", "-e"]:
            rc = 0 if env.get("MYSQL_PWD") == "root-pw" else 1
        elif argv[0] == "mysql":
            out = b"items\t3\n"
        elif argv[0] in ("pg_dump", "mysqldump") and "--version" in argv:
            out = f"{argv[0]} 16.4\n".encode()
        elif argv[0] in ("pg_dump", "mysqldump"):
            stdout.write(self.dumped)
        elif argv[:2] == ["sh", "-c"] and "mongodump" in argv[2]:
            rc = 1  # the stand-in's image has no mongodump
        elif argv[0] == "redis-cli" and "--version" in argv:
            out = b"redis-cli 7.0.15\n"
        elif argv[0] == "redis-cli":
            out = {"LASTSAVE": b"100\n", "BGSAVE": b"Background saving started\n",
                   "INFO": b"rdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\ndb0:keys=2,expires=0\r\n",
                   "CONFIG": b"dir\n/data\n" if "dir" in argv else b"dbfilename\ndump.rdb\n"}.get(argv[4], b"")
            if argv[4] == "LASTSAVE" and any(a[1] == "redis-cli" and "BGSAVE" in a[2] for a in self.ran):
                out = b"101\n"
        elif argv[0] == "cat":
            stdout.write(b"REDIS0011")
        result = dockerexec.Result(rc, out, b"boom" if rc else b"")
        if check and rc:
            raise dockerexec.ExecError(list(argv), result)
        return result


def live_stack(stack):
    services = {"postgres", "redis", "cocorico-mysql", "cocorico-mongo"}
    return [FakeContainer(f"id-{s}", s, env=["MONGO_INITDB_ROOT_USERNAME=root", "MONGO_INITDB_ROOT_PASSWORD=m"])
            for s in services]


def test_a_dump_writes_every_part_its_counts_and_the_manifest(stack, monkeypatch, tmp_path):
    tools = Tools()
    monkeypatch.setattr(dockerexec, "run", tools)
    secret = stack.file(stack.backup["servers"]["cocorico-mysql"]["admin_password_file"])
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("root-pw\n")
    (stack.file(stack.backup["passphrase_file"])).write_text("pass\n")
    (stack.path("releases")).mkdir(parents=True, exist_ok=True)
    (stack.path("releases") / "current").write_text("R9\n")
    b = commands.Backups(stack, FakeClient(live_stack(stack)), out=io.StringIO(), err=io.StringIO(),
                         send_event=lambda *a: None)
    b.store.root.mkdir(parents=True)
    backup_id = b.dump("daily")
    m = b.store.manifest(backup_id)
    assert list(m) == ["id", "kind", "time", "epoch", "target", "project", "release", "before_release", "full",
                       "databases", "seconds", "parts", "skipped"]
    assert (m["kind"], m["release"], m["full"]) == ("daily", "R9", True)
    assert [p["database"] for p in m["parts"]] == sorted(p["database"] for p in m["parts"][:-1]) + ["secrets-and-config"]
    pg = next(p for p in m["parts"] if p["database"] == "marketplace")
    assert pg == {"part": "postgres/marketplace.dump", "engine": "postgres", "database": "marketplace",
                  "service": "postgres", "size": 4, "sha256": hashlib.sha256(b"DUMP").hexdigest(),
                  "tool": "pg_dump 16.4", "tables": 1, "rows": 25}
    assert m["skipped"] == [{"engine": "mongodb", "database": "cocorico_docs",
                             "why": "the image of cocorico-mongo has no mongodump"}]
    assert (b.store.dir(backup_id) / "counts/postgres-marketplace.before").read_text() == "public.t\t25\n"
    assert b.store.status(backup_id) == "unverified"
    # one RDB for the Redis server's users; secrets never in an argv
    assert sum(1 for p in m["parts"] if p["engine"] == "redis") == 1
    assert not [r for r in tools.ran if any("root-pw" in a for a in r[2])]
    assert all(r[3].get("MYSQL_PWD") == "root-pw" for r in tools.ran if r[1] in ("mysqldump",))
    assert b.store.dir(backup_id).stat().st_mode & 0o777 == 0o700


def test_a_failed_dump_is_recorded_alerted_and_refused(stack, monkeypatch):
    tools = Tools()
    monkeypatch.setattr(dockerexec, "run", tools)
    alerts = []
    b = commands.Backups(stack, FakeClient([c for c in live_stack(stack) if c.id != "id-postgres"]),
                         out=io.StringIO(), err=io.StringIO(), send_event=lambda s, title, body: alerts.append(title))
    b.store.root.mkdir(parents=True)
    stack.path("releases").mkdir(parents=True, exist_ok=True)
    secret = stack.file(stack.backup["servers"]["cocorico-mysql"]["admin_password_file"])
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("root-pw\n")
    with pytest.raises(Refused, match="the dump of .*marketplace.* failed"):
        b.dump("manual", "", ["marketplace", "cocorico"])
    backup_id = b.store.ids()[0]
    assert b.store.status(backup_id).startswith("failed: dump of marketplace")
    assert alerts == [f"backup {backup_id} FAILED: the dump of marketplace"]
    assert "FAILED: the dump of marketplace" in stack.file(stack.paths["audit_log"]).read_text()


def test_a_changed_part_fails_the_verification_before_any_restore(stack, monkeypatch):
    monkeypatch.setattr(dockerexec, "run", lambda *a, **k: pytest.fail("restored a damaged backup"))
    stack.path("releases").mkdir(parents=True, exist_ok=True)
    alerts = []
    b = commands.Backups(stack, FakeClient(), out=io.StringIO(), err=io.StringIO(),
                         send_event=lambda s, title, body: alerts.append((title, body)))
    backup_id = made(stack, "unverified", [{"part": "postgres/marketplace.dump", "engine": "postgres",
                                            "database": "marketplace", "sha256": hashlib.sha256(b"DUMP").hexdigest()}])
    (b.store.dir(backup_id) / "postgres").mkdir()
    (b.store.dir(backup_id) / "postgres/marketplace.dump").write_bytes(b"DUMQ")
    assert b.verify(backup_id) is False
    assert b.store.status(backup_id) == "failed: checksums"
    assert "postgres/marketplace.dump: its SHA-256 is not the manifest's (changed on disk)" in b.out.getvalue()
    assert f"{backup_id} FAILED its verification (checksums); the last good backup is still none" in b.err.getvalue()
    assert alerts[0][0] == f"backup {backup_id} FAILED its verification (checksums)"
    assert "changed on disk" in (b.store.dir(backup_id) / "verify.log").read_text()


def test_redis_is_restored_as_the_base_of_a_new_append_only_file_every_time(tmp_path):
    data = tmp_path / "data"
    (data / "appendonlydir").mkdir(parents=True)
    (data / "appendonlydir/appendonly.aof.1.incr.aof").write_text("the live writes")
    rdb = tmp_path / "redis.rdb"
    rdb.write_bytes(b"REDIS0011")
    first = engines.redis_restore_files(data, rdb, "B1")
    second = engines.redis_restore_files(data, rdb, "B1")  # the same backup again
    assert first.name == "appendonlydir.before-restore-B1" and second.name == "appendonlydir.before-restore-B1.2"
    assert (first / "appendonly.aof.1.incr.aof").read_text() == "the live writes"
    assert (data / "appendonlydir/appendonly.aof.1.base.rdb").read_bytes() == b"REDIS0011"
    assert (data / "appendonlydir/appendonly.aof.manifest").read_text() == "file appendonly.aof.1.base.rdb seq 1 type b\n"
    assert (data / "appendonlydir").stat().st_mode & 0o777 == 0o700


def test_a_restore_that_fails_starts_again_everything_it_stopped(stack, monkeypatch):
    monkeypatch.setattr(dockerexec, "run", Tools())
    live = live_stack(stack) + [FakeContainer("id-connector", "connector"), FakeContainer("id-condo", "condo")]
    b = commands.Backups(stack, FakeClient(live), out=io.StringIO(), err=io.StringIO(), send_event=lambda *a: None)
    stack.path("releases").mkdir(parents=True, exist_ok=True)
    rdb = hashlib.sha256(b"REDIS0011").hexdigest()
    backup_id = made(stack, parts=[{"part": "redis/redis.rdb", "engine": "redis", "database": "redis", "sha256": rdb}])
    (b.store.dir(backup_id) / "redis").mkdir()
    (b.store.dir(backup_id) / "redis/redis.rdb").write_bytes(b"REDIS0011")
    # the server's data folder is not there: the restore fails after Redis was stopped
    with pytest.raises(Refused):
        b.restore(backup_id, [], gate_run=lambda *a: pytest.fail("gated a failed restore"))
    assert {c.attrs["State"]["Status"] for c in live} == {"running"}
    assert "FAILED at redis:redis" in b.err.getvalue()
    assert f"backup {backup_id} restore FAILED at redis:redis" in stack.file(stack.paths["audit_log"]).read_text()


def test_a_restore_stops_the_users_restores_then_gates(stack, monkeypatch):
    monkeypatch.setattr(dockerexec, "run", Tools())
    live = live_stack(stack) + [FakeContainer("id-connector", "connector"), FakeContainer("id-condo", "condo"),
                                FakeContainer("id-kaui", "kaui")]
    b = commands.Backups(stack, FakeClient(live), out=io.StringIO(), err=io.StringIO(), send_event=lambda *a: None)
    stack.path("releases").mkdir(parents=True, exist_ok=True)
    data = stack.file(stack.backup["servers"]["redis"]["data"])
    data.mkdir(parents=True)
    rdb = hashlib.sha256(b"REDIS0011").hexdigest()
    backup_id = made(stack, parts=[{"part": "redis/redis.rdb", "engine": "redis", "database": "redis", "sha256": rdb}])
    (b.store.dir(backup_id) / "redis").mkdir()
    (b.store.dir(backup_id) / "redis/redis.rdb").write_bytes(b"REDIS0011")
    states = []
    for c in live:
        c.reload = lambda: None
    b.restore(backup_id, [], gate_run=lambda *a: states.append({c.id: c.attrs["State"]["Status"] for c in live}) or [])
    assert states == [{c.id: "running" for c in live}]  # gated once everything runs again
    assert (data / "appendonlydir/appendonly.aof.1.base.rdb").read_bytes() == b"REDIS0011"
    out = b.out.getvalue()
    assert "stopping while it runs: condo connector and redis" in out and "down for" in out
    assert "state before this restore" not in out  # Redis alone: no pre-restore dump (one keyspace)
