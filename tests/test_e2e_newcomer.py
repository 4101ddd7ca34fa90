"""A newcomer's first hour, in a fresh clone on a machine where another checkout already ran: the
README's commands, in the order a newcomer tries them, with nothing of this checkout's state (no
SSH key, no sudo password file, no password in the environment). Each must work the first time,
or say in one line what to run; none may end in a traceback."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.clone import Clone
from tests.support.staging import ENV, REPO

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def newcomer(staging_stack, tmp_path_factory):
    root = tmp_path_factory.mktemp("newcomer")
    clone = Clone(root / "repo")
    # the venv is this checkout's (installing one is pip's business, not what is tested here)
    (clone.path / ".venv").symlink_to(REPO / ".venv")
    (REPO / ".venv" / ".installed").touch()
    env = {k: v for k, v in ENV.items() if not k.startswith("MARKETPLACE_")}
    env["MARKETPLACE_STATE"] = str(root / "state")

    def make(*args: str) -> subprocess.CompletedProcess:
        run = subprocess.run(["make", *args], cwd=clone.path, env=env, capture_output=True, text=True)
        run.output = run.stdout + run.stderr
        return run
    return make


def test_the_readme_commands_work_the_first_time_in_the_order_a_newcomer_tries_them(newcomer):
    valid = newcomer("validate", "TARGET=staging")
    assert valid.returncode == 0 and "Traceback" not in valid.output, valid.output[-2000:]

    # before any setup: one line saying what to run, nothing touched
    for command in ("preflight", "plan", "status"):
        early = newcomer(command, "TARGET=staging")
        assert early.returncode != 0 and "Traceback" not in early.output, early.output[-2000:]
        assert "make setup" in early.output and "does not exist" in early.output, early.output[-2000:]

    route = newcomer("route", "URL=https://boma.localhost/api/health", "TARGET=local")
    assert route.returncode == 0 and "target local:" in route.output and "target staging" not in route.output

    # the first deploy provisions this machine's side and works at once (no second run)
    first = newcomer("deploy", "TARGET=staging")
    assert first.returncode == 0, first.output[-3000:]
    assert "secrets: secrets:" not in first.output and "Traceback" not in first.output

    plan = newcomer("plan", "TARGET=staging")
    assert plan.returncode == 0 and "nothing to change" in plan.output, plan.output[-2000:]
    preflight = newcomer("preflight", "TARGET=staging")
    assert preflight.returncode == 0 and "FAIL" not in preflight.output, preflight.output[-2000:]
    status = newcomer("status", "TARGET=staging")
    assert status.returncode == 0 and "connector" in status.output, status.output[-2000:]


def test_make_plan_shows_a_change_and_its_reason_and_touches_nothing(newcomer, staging_stack):
    held = f"{staging_stack.deploy_root}/scripts/healthcheck.sh"
    original = open(held).read()
    with open(held, "a") as fh:
        fh.write("# drift\n")
    try:
        plan = newcomer("plan", "TARGET=staging")
        assert plan.returncode != 0 and "Traceback" not in plan.output
        assert "upload: scripts/healthcheck.sh: content differs" in plan.output, plan.output[-2000:]
        assert open(held).read() == original + "# drift\n"  # nothing touched
    finally:
        with open(held, "w") as fh:
            fh.write(original)
