"""Releases on the staging target: recorded, health-gated with automatic rollback, reversible by
hand or by re-applying a commit, one deploy at a time, and a killed deploy recovered.

The releases come from commits of a clone of this repository (its HEAD as committed), deployed
with the usual command from the clone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.clone import Clone
from tests.support.staging import changed_operations, cli, healthy, psql

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def clone(staging_stack, tmp_path_factory):
    return Clone(tmp_path_factory.mktemp("releases") / "repo")


def releases_dir(catalog) -> Path:
    return Path(catalog.deploy_root, "releases")


def pointer(catalog, name: str) -> str:
    return (releases_dir(catalog) / name).read_text().strip()


def newest(catalog) -> str:
    return sorted(p.name for p in releases_dir(catalog).iterdir() if p.is_dir() and not p.name.startswith("."))[-1]


def target_files(catalog, paths) -> dict[str, str]:
    import hashlib

    return {p: hashlib.sha256(Path(catalog.deploy_root, p).read_bytes()).hexdigest() for p in paths}


def release_files(catalog, rid: str) -> dict[str, str]:
    lines = (releases_dir(catalog) / rid / "files.sha256").read_text().splitlines()
    return {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in lines}


def release_images(catalog, rid: str) -> dict[str, str]:
    lines = (releases_dir(catalog) / rid / "images").read_text().splitlines()
    return {line.split()[0]: line.split()[2] for line in lines}


def running_images(catalog) -> dict[str, str]:
    out = subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={catalog.project_name}"],
                         capture_output=True, text=True, check=True).stdout.split()
    fmt = '{{index .Config.Labels "com.docker.compose.service"}} {{.Image}}'
    lines = subprocess.run(["docker", "inspect", "-f", fmt, *out], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    return dict(line.split() for line in lines)


STAGING = "group_data/staging.py"
CONNECTOR_LIVE = ('        if path in ("/api/health", "/api/health/live"):\n'
                  '            status, body = health(with_integrations=path == "/api/health")')
BROKEN_LIVE = ('        if path in ("/api/health", "/api/health/live"):\n'
               '            status, body = 503, {"ok": False, "error": "release B is broken on purpose"}')


def test_a_good_release_is_recorded(staging_stack, clone):
    commit = clone.commit("release A: connector log level", append={
        STAGING: '\nservices = {"connector": {"env": {"LOG_LEVEL": "info"}}}\n'})
    result = clone.deploy()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    rid = newest(staging_stack)
    assert rid.endswith(commit[:7])
    assert pointer(staging_stack, "current") == pointer(staging_stack, "last-good") == rid
    assert (releases_dir(staging_stack) / rid / "status").read_text().strip() == "good"
    record = json.loads((releases_dir(staging_stack) / rid / "deploy.json").read_text())
    assert record["commit"] == commit and record["dirty"] is False
    assert record["who"] and record["host"] and record["since"]
    assert record["files"] == clone.rendered()
    assert release_files(staging_stack, rid) == target_files(staging_stack, release_files(staging_stack, rid))
    assert set(release_images(staging_stack, rid)) == set(staging_stack.services)
    assert release_images(staging_stack, rid) == running_images(staging_stack)
    audit = (releases_dir(staging_stack) / "audit.log").read_text()
    assert f"{rid} good" in audit
    listing = cli("releases", "staging")
    assert listing.returncode == 0 and rid in listing.stdout and "current last-good" in listing.stdout


def test_a_failing_release_is_rolled_back_automatically(staging_stack, clone):
    good = pointer(staging_stack, "last-good")
    psql(staging_stack, "CREATE TABLE IF NOT EXISTS e2e_release_rows (n int); TRUNCATE e2e_release_rows; "
                  "INSERT INTO e2e_release_rows SELECT generate_series(1, 25);")
    commit = clone.commit("release B: a connector that fails its health check", edits={
        "files/connector/connector.py": (CONNECTOR_LIVE, BROKEN_LIVE)}, append={
        STAGING: 'services = {"connector": {"env": {"LOG_LEVEL": "info"}, '
                 '"health": {"interval_s": 2, "retries": 2, "start_period_s": 2}}}\n'})
    result = clone.deploy()
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "gate: connector FAILED: unhealthy" in output
    assert "---- connector: last log lines" in output and "---- connector: last health check" in output
    assert f"rolled back: running now is release {good}, healthy" in output
    failed = newest(staging_stack)
    assert failed.endswith(commit[:7])
    assert (releases_dir(staging_stack) / failed / "status").read_text().strip() == f"rolled-back-to:{good}"
    assert pointer(staging_stack, "current") == pointer(staging_stack, "last-good") == good
    assert healthy(staging_stack)
    assert running_images(staging_stack) == release_images(staging_stack, good)
    assert target_files(staging_stack, release_files(staging_stack, good)) == release_files(staging_stack, good)
    assert psql(staging_stack, "SELECT count(*) FROM e2e_release_rows") == "25"
    clone.git("revert", "--no-edit", "HEAD")  # the next releases build on A again


def test_a_release_that_changes_an_apps_image_backs_up_its_database_first(staging_stack, clone):
    clone.commit("release C: a new connector build", edits={
        "files/connector/connector.py": ('"""Marketplace connector', '"""Marketplace connector (release C)')})
    result = clone.deploy()
    assert result.returncode == 0, result.stdout[-3000:]
    rid = newest(staging_stack)
    backup_id = (releases_dir(staging_stack) / rid / "backup").read_text().strip()
    manifest = json.loads((Path(staging_stack.backup_dir) / backup_id / "manifest.json").read_text())
    assert manifest["kind"] == "pre-release" and manifest["before_release"] == rid
    assert manifest["databases"] == ["marketplace"] and manifest["full"] is False
    dump = Path(staging_stack.backup_dir) / backup_id / "postgres" / "marketplace.dump"
    assert dump.stat().st_size > 0
    assert f"{rid} backup {backup_id} of marketplace" in (releases_dir(staging_stack) / "audit.log").read_text()
    assert pointer(staging_stack, "last-good") == rid
    # going back past it offers that backup (the data as the older release knew it)
    back = cli("rollback", "staging")
    assert back.returncode == 0, back.stdout + back.stderr
    assert f"make restore BACKUP={backup_id}" in back.stdout + back.stderr
    again = clone.deploy()  # and forward again: the releases after this one build on C
    assert again.returncode == 0, again.stdout[-3000:]


def test_a_concurrent_deploy_is_refused_naming_the_holder(staging_stack, clone):
    clone.commit("release D: kaui log level", append={
        STAGING: 'services = {"kaui": {"env": {"LOG_LEVEL": "info"}}}\n'})
    first = clone.start()
    lock = releases_dir(staging_stack) / ".lock" / "owner"
    deadline = time.monotonic() + 60
    while not lock.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert lock.exists(), "the first deploy never took the lock"
    holder = json.loads(lock.read_text())
    second = clone.deploy()
    assert second.returncode != 0
    refused = second.stdout + second.stderr
    assert f"deploy lock held by {holder['who']} (deploy {holder['id']}, pid {holder['pid']})" in refused
    assert f"since {holder['since']}" in refused and "nothing was touched" in refused
    out, _ = first.communicate(timeout=600)
    assert first.returncode == 0, out[-3000:]
    assert not (releases_dir(staging_stack) / ".lock").exists()


def test_a_lock_from_elsewhere_needs_make_unlock(staging_stack, clone):
    lock_dir = releases_dir(staging_stack) / ".lock"
    lock_dir.mkdir()
    (lock_dir / "owner").write_text(json.dumps({"id": "x", "who": "ops@other-host", "host": "other-host",
                                                "pid": 1, "since": "2026-11-23T01:02:03Z"}) + "\n")
    (lock_dir / "id").write_text("x\n")
    refused = clone.deploy()
    assert refused.returncode != 0 and "ops@other-host" in refused.stdout + refused.stderr
    unlocked = cli("unlock", "staging")
    assert unlocked.returncode == 0 and "released the lock of" in unlocked.stdout
    assert not lock_dir.exists()
    assert "released by hand (make unlock)" in (releases_dir(staging_stack) / "audit.log").read_text()
    again = clone.deploy()
    assert again.returncode == 0, again.stdout[-2000:]


def test_a_killed_deploy_leaves_no_half_written_file_and_the_next_run_converges(staging_stack, clone):
    before = clone.rendered()
    clone.commit("release E: condo log level and a new connector build", append={
        "files/connector/connector.py": "\n# release E\n",
        STAGING: 'services = {"condo": {"env": {"LOG_LEVEL": "info"}}}\n'})
    after = clone.rendered()
    proc = clone.start()
    release_root = releases_dir(staging_stack)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ids = [p for p in release_root.iterdir() if p.is_dir() and (p / "deploy.json").exists()]
        if (release_root / ".lock").exists() and any(p.name.endswith(clone.git("rev-parse", "HEAD")[:7]) for p in ids):
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for path, sha in target_files(staging_stack, [p for p in set(before) | set(after)
                                            if Path(staging_stack.deploy_root, p).exists()]).items():
        assert sha in {before.get(path), after.get(path)}, f"{path} is neither the old nor the new version"
    # The release runs detached: a command the cut connection had already sent may still start
    # it, and it then finishes on its own; the next deploy waits for that (it is refused while
    # the release runs).
    time.sleep(3)
    head = clone.git("rev-parse", "HEAD")[:7]
    deadline = time.monotonic() + 300
    while "release.sh apply" in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout \
            or any((p / "status").exists() and (p / "status").read_text().strip() == "applying"
                   for p in release_root.glob(f"2*-{head}")):
        assert time.monotonic() < deadline
        time.sleep(1)
    left_locked = (release_root / ".lock").exists()
    recovered = clone.deploy()
    assert recovered.returncode == 0, recovered.stdout[-3000:]
    if left_locked:  # else the release script finished on its own and released it
        assert "taking over the lock" in recovered.stdout + recovered.stderr
    assert healthy(staging_stack)
    rerun = clone.deploy()
    assert rerun.returncode == 0 and changed_operations(rerun.stdout + rerun.stderr) == 0


def test_make_rollback_and_reapplying_an_older_commit_converge_to_it(staging_stack, clone):
    clone.commit("release F: condo log level", append={
        STAGING: 'services = {"condo": {"env": {"LOG_LEVEL": "debug"}}}\n'})
    assert clone.deploy().returncode == 0  # at least two good releases, whatever ran before
    current = pointer(staging_stack, "current")
    previous = cli("rollback", "staging")
    assert previous.returncode == 0, previous.stdout + previous.stderr
    back = pointer(staging_stack, "current")
    assert back != current
    assert target_files(staging_stack, release_files(staging_stack, back)) == release_files(staging_stack, back)
    assert running_images(staging_stack) == release_images(staging_stack, back)
    assert healthy(staging_stack)
    # Straight to a named release.
    named = cli("rollback", "staging", current)
    assert named.returncode == 0 and pointer(staging_stack, "current") == current
    assert running_images(staging_stack) == release_images(staging_stack, current)
    # Re-applying an older commit: `git checkout <commit>`, then the usual deploy.
    head = clone.git("rev-parse", "HEAD")
    clone.git("checkout", "-q", "HEAD~1")
    older = clone.deploy()
    assert older.returncode == 0, older.stdout[-3000:]
    wanted = clone.rendered()
    assert target_files(staging_stack, wanted) == wanted
    clone.git("checkout", "-q", head)
    assert clone.deploy().returncode == 0
    wanted = clone.rendered()
    assert target_files(staging_stack, wanted) == wanted


def test_a_deploy_cut_off_during_its_release_leaves_it_to_finish_and_hears_of_it_later(staging_stack, clone):
    clone.commit("release F: a kaui setting", append={STAGING: 'services = {"kaui": {"env": {"RELEASE_F": "1"}}}\n'})
    head = clone.git("rev-parse", "HEAD")[:7]
    proc = clone.start()
    release_root = releases_dir(staging_stack)
    deadline = time.monotonic() + 180
    started = None
    while started is None:
        assert time.monotonic() < deadline, "the release never started"
        # its status is the release script's first write (apply.log is the launcher's, before it)
        started = next((p for p in release_root.glob(f"2*-{head}") if (p / "status").exists()), None)
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # the operator's laptop goes to sleep, say
    proc.wait(timeout=10)
    deadline = time.monotonic() + 300
    while (started / "status").read_text().strip() == "applying":
        assert time.monotonic() < deadline, "the release did not finish on its own"
        time.sleep(1)
    assert (started / "status").read_text().strip() == "good"
    deadline = time.monotonic() + 10  # the status is its last word; the unlock follows at its exit
    while (release_root / ".lock").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (release_root / ".lock").exists() and not (started / "reported").exists()
    assert healthy(staging_stack)
    told = clone.deploy()
    output = told.stdout + told.stderr
    assert told.returncode == 0, output[-3000:]
    assert f"release {started.name} ended while its deploy was not connected: good" in output
    assert changed_operations(output) == 0
