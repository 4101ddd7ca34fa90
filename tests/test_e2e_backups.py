"""Backups on the staging target, taken, verified and restored the way the README says (make
backup, make backups, make restore): known rows come back exactly, per engine; a damaged backup
fails its verification and never counts; retention prunes as configured; DSM's task runs one;
`make status` fails on a stale one; the off-NAS copy (restic over SFTP to a second SSH account on
this machine) restores."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.clone import Clone
from tests.support.staging import NAS, REPO, STATE, healthy, psql, secret_values, sh

pytestmark = pytest.mark.e2e
STAGING = "group_data/staging.py"


def mysql(catalog, sql: str) -> str:
    """SQL as MySQL's root inside the live server (the password from the container's env)."""
    return sh("docker", "exec", f"{catalog.project_name}-cocorico-mysql-1", "sh", "-c",
              'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mysql -uroot -N -B cocorico -e "$1"', "sh", sql).stdout.strip()


def redis(catalog, *args: str) -> str:
    return sh("docker", "exec", f"{catalog.project_name}-redis-1", "redis-cli", "--no-auth-warning",
              "--user", "admin", *args).stdout.strip()


def backups(catalog) -> Path:
    return Path(catalog.backup_dir)


def last_verified(catalog) -> str:
    return (backups(catalog) / "last-verified").read_text().split()[0]


def manifest(catalog, backup_id: str) -> dict:
    return json.loads((backups(catalog) / backup_id / "manifest.json").read_text())


def status(catalog, backup_id: str) -> str:
    return (backups(catalog) / backup_id / "status").read_text().strip()


def backup_script(catalog, *args: str) -> subprocess.CompletedProcess:
    """scripts/backup.sh as root from the deploy root (what DSM's task and the ops commands run)."""
    return subprocess.run(["bash", "scripts/backup.sh", *args], cwd=catalog.deploy_root, capture_output=True, text=True)


def make(*args: str) -> subprocess.CompletedProcess:
    from tests.support.staging import ENV

    return subprocess.run(["make", "-s", *args, "TARGET=staging"], cwd=REPO, env=ENV, capture_output=True, text=True)


def write_known_rows(catalog) -> None:
    psql(catalog, "DROP TABLE IF EXISTS e2e_backup, e2e_after; CREATE TABLE e2e_backup (id int PRIMARY KEY, v text);"
                  "INSERT INTO e2e_backup SELECT g, 'known-' || g FROM generate_series(1, 500) g;"
                  "ALTER TABLE e2e_backup OWNER TO connector;")
    mysql(catalog, "DROP TABLE IF EXISTS e2e_backup; CREATE TABLE e2e_backup (id int PRIMARY KEY, v text);"
                   "INSERT INTO e2e_backup VALUES (1, 'one'), (2, 'two'), (3, 'three');")
    redis(catalog, "SET", "e2e:backup", "known")


def damage(catalog) -> None:
    psql(catalog, "DELETE FROM e2e_backup WHERE id > 250; UPDATE e2e_backup SET v = 'changed';"
                  "INSERT INTO e2e_backup VALUES (9999, 'new'); CREATE TABLE e2e_after (x int);")
    mysql(catalog, "DELETE FROM e2e_backup WHERE id = 2; UPDATE e2e_backup SET v = 'changed';")
    redis(catalog, "SET", "e2e:backup", "changed")


def pg_state(catalog) -> str:
    return psql(catalog, "SELECT count(*), count(*) FILTER (WHERE v = 'known-' || id), max(id) FROM e2e_backup")


@pytest.fixture(scope="module")
def known(staging_stack):
    """Known rows in each engine, then one backup taken with `make backup`."""
    write_known_rows(staging_stack)
    run = make("backup")
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    backup_id = last_verified(staging_stack)
    assert f"backup: {backup_id} verified" in run.stdout
    return backup_id


def test_a_backup_holds_every_database_with_its_manifest_and_is_verified(staging_stack, known):
    m = manifest(staging_stack, known)
    assert status(staging_stack, known) == "verified"
    parts = {(p["engine"], p["database"]): p for p in m["parts"]}
    for name, db in staging_stack.databases.items():
        if db["engine"] == "postgres" or db["engine"] == "mysql":
            assert (db["engine"], name) in parts, name
    assert ("redis", "redis") in parts and ("config", "secrets-and-config") in parts
    # the stand-in MongoDB has no mongodump: said in the manifest, not silently skipped
    assert m["skipped"] == [{"engine": "mongodb", "database": "cocorico_docs",
                            "why": "the image of cocorico-mongo has no mongodump"}]
    assert parts[("postgres", "marketplace")]["rows"] >= 500 and parts[("mysql", "cocorico")]["rows"] >= 3
    assert m["release"] == (Path(staging_stack.deploy_root) / "releases/current").read_text().strip()
    for part in m["parts"]:
        path = backups(staging_stack) / known / part["part"]
        assert path.stat().st_size == part["size"] and part["tool"]
        assert path.stat().st_mode & 0o077 == 0, part  # never readable by anyone but root
    assert (backups(staging_stack) / known).stat().st_mode & 0o077 == 0
    # the secrets and the configuration: encrypted with the passphrase, no value readable in it
    config = parts[("config", "secrets-and-config")]
    assert config["part"] == "config.tar.enc" and config["encrypted"] is True and config["files"] > 20
    sealed = (backups(staging_stack) / known / "config.tar.enc").read_bytes()
    assert not [k for k, v in secret_values(staging_stack).items() if len(v) >= 16 and v.encode() in sealed]
    log = (backups(staging_stack) / known / "verify.log").read_text()
    assert "every checksum matches" in log and log.count("ok: ") >= 6
    # the throwaway containers are gone; the live ones were never touched
    assert "verify" not in sh("docker", "ps", "-a", "--format", "{{.Names}}").stdout
    listing = make("backups")
    row = next(line for line in listing.stdout.splitlines() if line.startswith(known))
    assert "verified" in row and m["release"] in row


def test_a_restore_brings_back_exactly_the_known_rows_per_engine(staging_stack, known):
    before = pg_state(staging_stack)
    assert before == "500|500|500"
    damage(staging_stack)
    assert pg_state(staging_stack) != before
    run = make("restore", f"BACKUP={known}")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert pg_state(staging_stack) == "500|500|500"
    assert psql(staging_stack, "SELECT to_regclass('e2e_after') IS NULL") == "t"  # made after: gone
    assert mysql(staging_stack, "SELECT id, v FROM e2e_backup ORDER BY id") == "1\tone\n2\ttwo\n3\tthree"
    assert redis(staging_stack, "GET", "e2e:backup") == "known"
    assert healthy(staging_stack)
    # the state it replaced is a backup of its own: the restore can be undone
    pre = output.split("the state before this restore is backup ")[1].split()[0]
    assert manifest(staging_stack, pre)["kind"] == "pre-restore"
    assert "down for" in output


def test_only_one_database_is_restored_and_only_its_users_stop(staging_stack, known):
    from tests.support.staging import containers

    damage(staging_stack)
    changed_pg = pg_state(staging_stack)
    before = containers(staging_stack)
    run = make("restore", f"BACKUP={known}", "ONLY=cocorico")
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert mysql(staging_stack, "SELECT id, v FROM e2e_backup ORDER BY id") == "1\tone\n2\ttwo\n3\tthree"
    assert pg_state(staging_stack) == changed_pg  # PostgreSQL untouched
    after = containers(staging_stack)
    restarted = {name for name in before if before[name] != after.get(name)}
    assert restarted == {"cocorico"}, restarted
    refused = make("restore", f"BACKUP={known}", "ONLY=connector_cache")
    assert refused.returncode != 0 and "one keyspace" in refused.stderr
    assert make("restore", f"BACKUP={known}").returncode == 0  # back to the known rows


def test_a_damaged_backup_fails_verification_and_never_counts(staging_stack, known):
    good = last_verified(staging_stack)
    dumped = backup_script(staging_stack, "dump")
    assert dumped.returncode == 0, dumped.stderr
    bad = dumped.stdout.split()[-1]
    dump = backups(staging_stack) / bad / "postgres" / "marketplace.dump"
    # a changed byte: caught by the checksums before anything is restored
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    run = backup_script(staging_stack, "verify", bad)
    assert run.returncode == 1 and "changed on disk" in run.stdout
    assert status(staging_stack, bad).startswith("failed")
    # a dump cut short with a manifest that agrees: caught by the restore itself
    dump.write_bytes(bytes(data[: len(data) // 3]))
    m = (backups(staging_stack) / bad / "manifest.json").read_text()
    old = next(p for p in manifest(staging_stack, bad)["parts"] if p["part"] == "postgres/marketplace.dump")
    new_sha = subprocess.run(["sha256sum", str(dump)], capture_output=True, text=True).stdout.split()[0]
    (backups(staging_stack) / bad / "manifest.json").write_text(m.replace(old["sha256"], new_sha))
    run = backup_script(staging_stack, "verify", bad)
    assert run.returncode == 1 and f"{bad} FAILED its verification (marketplace)" in run.stderr, run.stdout + run.stderr
    assert status(staging_stack, bad) == "failed: marketplace"
    assert last_verified(staging_stack) == good  # the previous good one still counts
    assert healthy(staging_stack)
    refused = make("restore", f"BACKUP={bad}")
    assert refused.returncode != 0 and "failed its verification" in refused.stderr
    row = next(line for line in make("backups").stdout.splitlines() if line.startswith(bad))
    assert "failed" in row


def test_retention_keeps_the_daily_and_weekly_backups_and_the_last_good_one(staging_stack, known):
    """Backups of the past 40 days (one a day, verified), failed ones and partial ones: pruning
    keeps exactly what backup.keep says."""
    root = backups(staging_stack)
    keep = staging_stack.backup["keep"]
    today = dt.datetime.now(dt.timezone.utc).replace(hour=3, minute=0, second=0, microsecond=0)
    made = []

    def fake(when: dt.datetime, state: str, full: bool = True) -> str:
        bid = when.strftime("%Y%m%dT%H%M%SZ")
        shutil.rmtree(root / bid, ignore_errors=True)  # left by an earlier run of this test
        (root / bid).mkdir(mode=0o700)
        (root / bid / "manifest.json").write_text(json.dumps(
            {"id": bid, "kind": "daily" if full else "pre-release", "epoch": int(when.timestamp()), "full": full,
             "databases": ["marketplace"], "parts": []}, indent=2))
        (root / bid / "status").write_text(state + "\n")
        made.append(bid)
        return bid

    days = [fake(today - dt.timedelta(days=d), "verified") for d in range(1, 41)]
    old_failed = fake(today - dt.timedelta(days=3, hours=1), "failed: marketplace")
    partial = [fake(today - dt.timedelta(days=2, minutes=m), "unverified", full=False) for m in range(1, 8)]
    present = {p.name: (status(staging_stack, p.name), manifest(staging_stack, p.name)["full"])
               for p in root.iterdir() if p.is_dir() and p.name[0].isdigit()}
    last = last_verified(staging_stack)
    run = backup_script(staging_stack, "prune")
    assert run.returncode == 0, run.stderr
    kept = {p.name for p in root.iterdir() if p.is_dir() and p.name[0].isdigit()}
    # expected, as backup.keep documents it: the last verified backup; every backup under way;
    # the newest `partial` partial ones; failed or unverified full ones newer than the last
    # verified; and the newest verified full backup of each of the last `daily` days and of
    # each of the last `weekly` ISO weeks
    expected, seen_days, seen_weeks, partials = {last}, [], [], 0
    for b in sorted(present, reverse=True):
        state, full = present[b]
        if not full:
            if partials < keep["partial"]:
                expected.add(b)
                partials += 1
        elif state != "verified":
            if b > last:
                expected.add(b)
        else:
            day, week = b[:8], dt.date(int(b[:4]), int(b[4:6]), int(b[6:8])).isocalendar()[:2]
            if day not in seen_days and len(seen_days) < keep["daily"]:
                seen_days.append(day)
                expected.add(b)
            if week not in seen_weeks and len(seen_weeks) < keep["weekly"]:
                seen_weeks.append(week)
                expected.add(b)
    assert kept == expected, (sorted(kept - expected), sorted(expected - kept))
    assert len(seen_days) == keep["daily"] and len(seen_weeks) == keep["weekly"]
    assert len([b for b in kept if not manifest(staging_stack, b)["full"]]) == keep["partial"]
    assert old_failed not in kept and days[-1] not in kept and last in kept
    for bid in made:  # the made-up ones go; the real ones stay
        shutil.rmtree(root / bid, ignore_errors=True)


def test_the_nightly_task_runs_a_verified_backup_through_dsm(staging_stack):
    from tests.test_e2e_dsm import scheduled

    task = scheduled()[f"{staging_stack.project_name}: backup"]
    before = last_verified(staging_stack)
    run = subprocess.run(["docker", "exec", NAS, "/usr/syno/bin/synoschedtask", "--run", f"id={task['id']}"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    now = last_verified(staging_stack)
    assert now > before and manifest(staging_stack, now)["kind"] == "daily"
    log = (Path(staging_stack.deploy_root) / "logs/tasks/backup.log").read_text()
    assert f"backup: {now} verified" in log


def test_status_fails_when_the_last_verified_backup_is_too_old(staging_stack, known):
    pointer = backups(staging_stack) / "last-verified"
    saved = pointer.read_text()
    bid = saved.split()[0]
    try:
        pointer.write_text(f"{bid} {int(dt.datetime.now().timestamp()) - 27 * 3600}\n")
        run = make("status")
        assert run.returncode != 0
        assert "STALE" in run.stdout and f"older than {staging_stack.backup['max_age_hours']} h" in run.stdout
    finally:
        pointer.write_text(saved)
    run = make("status")
    assert run.returncode == 0 and f"last verified {bid}" in run.stdout


# -- off the NAS: restic over SFTP to a second SSH account on this machine (make setup made it) --

OFFSITE_HOME = Path("/var/lib/marketplace-offsite")


@pytest.fixture(scope="module")
def offsite_clone(staging_stack, tmp_path_factory):
    """A checkout whose staging catalog copies backups off the NAS, deployed."""
    from tests.support.staging import Deploy

    repo = OFFSITE_HOME / "e2e"
    shutil.rmtree(repo, ignore_errors=True)
    known_hosts = (STATE / "ssh" / "known_hosts").read_text().strip()
    clone = Clone(tmp_path_factory.mktemp("offsite") / "repo")
    clone.commit("copy backups off the NAS", append={STAGING: (
        '\nbackup = {"offsite": {"repository": "sftp:marketplace-offsite@127.0.0.1:%s", "port": 2222,'
        ' "known_hosts": [%r], "build": "files/images/restic"}}\n' % (repo, known_hosts))})
    run = clone.deploy()
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    yield clone
    assert Deploy().rc == 0  # staging back to its own catalog
    shutil.rmtree(repo, ignore_errors=True)


def test_the_offsite_copy_restores_after_the_nas_lost_it(staging_stack, offsite_clone):
    from tests.support.staging import ENV, VENV_BIN

    def clone_cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(VENV_BIN / "python"), "-m", "deploys.ops.cli", *args], cwd=offsite_clone.path,
                              env=ENV, capture_output=True, text=True)

    key = clone_cli("backup-key", "staging")
    assert key.returncode == 0 and key.stdout.startswith("ssh-rsa "), key.stdout + key.stderr
    (OFFSITE_HOME / "authorized_keys").write_text(key.stdout)
    write_known_rows(staging_stack)
    run = clone_cli("backup", "staging")
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    bid = last_verified(staging_stack)
    assert f"offsite: {bid} is restic snapshot" in run.stdout
    assert (backups(staging_stack) / bid / "offsite").exists()
    assert (OFFSITE_HOME / "e2e" / "config").exists()  # the repository, on the remote
    shutil.rmtree(backups(staging_stack) / bid)  # the NAS lost it
    damage(staging_stack)
    # this catalog's `backup` replaces staging's whole (a module variable): restores need CONFIRM
    refused = clone_cli("restore", "staging", bid, "--from-offsite")
    assert refused.returncode == 2 and "CONFIRM=yes" in refused.stderr
    back = clone_cli("restore", "staging", bid, "--from-offsite", "--confirm", "yes")
    output = back.stdout + back.stderr
    assert back.returncode == 0, output[-4000:]
    assert f"brought {bid} back" in output
    assert pg_state(staging_stack) == "500|500|500"
    assert mysql(staging_stack, "SELECT id, v FROM e2e_backup ORDER BY id") == "1\tone\n2\ttwo\n3\tthree"
    assert healthy(staging_stack)
