"""Release tasks on the staging target (a release phase: migrations and schema updates in one-off
containers before any app is switched), a failing one that leaves the previous release serving,
and the operator's `make run` (audited) and `make logs`, run the way the README says."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.clone import Clone
from tests.support.staging import ENV, REPO, containers, healthy, psql
from tests.test_e2e_releases import newest, pointer, releases_dir

pytestmark = pytest.mark.e2e
STAGING = "group_data/staging.py"


@pytest.fixture(scope="module")
def clone(staging_stack, tmp_path_factory):
    return Clone(tmp_path_factory.mktemp("tasks") / "repo")


def make(*args: str) -> subprocess.CompletedProcess:
    """A make target as the operator types it (staging, its sudo password from `make setup`)."""
    env = {**ENV, "TARGET": "staging"}
    env.pop("MAKE_RUN_CMD", None)
    return subprocess.run(["make", "-s", *args, "TARGET=staging"], cwd=REPO, env=env, capture_output=True,
                          text=True)


def test_a_release_runs_each_services_tasks_before_it_serves(staging_stack, clone):
    commit = clone.commit("release T: condo's log level", append={
        STAGING: '\nservices = {"condo": {"env": {"LOG_LEVEL": "info"}}}\n'})
    result = clone.deploy()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    rid = newest(staging_stack)
    assert rid.endswith(commit[:7]) and pointer(staging_stack, "current") == rid
    tasks = releases_dir(staging_stack) / rid / "tasks"
    assert sorted(p.name for p in tasks.iterdir()) == [
        "cocorico-schema-update.log", "condo-migrate.log", "killbill-ddl-check.log"]
    assert "[killbill-ddl-check stand-in task] DDL present" in (tasks / "killbill-ddl-check.log").read_text()
    assert "migrations:" in (tasks / "condo-migrate.log").read_text()
    assert psql(staging_stack, "SELECT name FROM standin_migrations", database="condo") == "0001_initial"
    applied = (releases_dir(staging_stack) / rid / "apply.log").read_text()  # the release's own output
    for task in ("killbill/ddl-check", "condo/migrate", "cocorico/schema-update"):
        assert f"release: task {task} ok" in applied
    # one-off containers only: none is left behind
    leftovers = subprocess.run(["docker", "ps", "-aq", "--filter", "label=com.docker.compose.oneoff=True",
                                "--filter", f"label=com.docker.compose.project={staging_stack.project_name}"],
                               capture_output=True, text=True).stdout.split()
    assert leftovers == []


def test_a_failing_release_task_leaves_the_previous_release_serving(staging_stack, clone):
    good = pointer(staging_stack, "current")
    before = containers(staging_stack)
    commit = clone.commit("release U: a broken migration", append={
        STAGING: 'services = {"condo": {"env": {"LOG_LEVEL": "debug"}, '
                 '"release_tasks": {"migrate": ["standin", "task", "fail"]}}}\n'})
    result = clone.deploy()
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "release: task condo/migrate FAILED (exit 3)" in output
    assert 'ERROR: relation "units" already exists' in output  # its own words, from its log
    assert f"before any app was switched: release {good} still serves, healthy" in output
    failed = newest(staging_stack)
    assert failed.endswith(commit[:7])
    assert (releases_dir(staging_stack) / failed / "status").read_text().strip() == "failed"
    assert "ERROR" in (releases_dir(staging_stack) / failed / "tasks" / "condo-migrate.log").read_text()
    assert pointer(staging_stack, "current") == pointer(staging_stack, "last-good") == good
    assert containers(staging_stack)["condo"] == before["condo"]  # never replaced, never restarted
    assert healthy(staging_stack)
    audit = (releases_dir(staging_stack) / "audit.log").read_text()
    assert f"{failed} FAILED: its release task condo/migrate (exit 3); no app was switched" in audit
    clone.git("revert", "--no-edit", "HEAD")


def test_make_run_runs_a_one_off_command_of_a_service_audited(staging_stack):
    run = make("run", "SERVICE=condo", "CMD=standin task condo-migrate")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "nothing to apply" in run.stdout  # its environment reached the database: already migrated
    broken = make("run", "SERVICE=condo", "CMD=standin task fail")
    assert broken.returncode != 0 and "ERROR" in broken.stdout + broken.stderr
    audit = (releases_dir(staging_stack) / "audit.log").read_text().splitlines()
    mine = [line for line in audit if " run condo by " in line][-4:]
    assert mine[0].endswith(": standin task condo-migrate") and mine[1].endswith(": exit 0")
    assert mine[2].endswith(": standin task fail") and mine[3].endswith(": exit 3")
    nosuch = make("run", "SERVICE=nosuch", "CMD=true")
    assert nosuch.returncode != 0 and "no service 'nosuch'" in nosuch.stderr
    usage = make("run", "SERVICE=condo")
    assert usage.returncode != 0 and "usage: make run" in usage.stderr


def test_make_logs_shows_a_services_log(staging_stack):
    logs = make("logs", "SERVICE=condo", "LINES=5")
    assert logs.returncode == 0, logs.stderr
    assert "condo" in logs.stdout and len([line for line in logs.stdout.splitlines() if line.strip()]) <= 6
    assert ENV["MARKETPLACE_SUDO_PASSWORD"] not in logs.stdout + logs.stderr
