"""The README's first command, run the way the README says: `make deploy` on this machine
converges the local target (root over SSH, no DSM), then changes nothing the second time."""

from __future__ import annotations

import os
import subprocess

import pytest

from bench import changed_operations
from tests.support.staging import REPO

pytestmark = pytest.mark.e2e


def make_deploy() -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MARKETPLACE_TARGET", "MARKETPLACE_NAS",
                                                           "MARKETPLACE_SUDO_PASSWORD")}
    return subprocess.run(["make", "deploy"], cwd=REPO, env=env, capture_output=True, text=True)


def test_make_deploy_converges_the_local_target_and_then_changes_nothing():
    first = make_deploy()
    output = first.stdout + first.stderr
    assert first.returncode == 0, output[-3000:]
    table = first.stdout.split("SERVICE")[-1]
    assert "postgres" in table and "unhealthy" not in table and "exited" not in table
    again = make_deploy()
    assert again.returncode == 0 and changed_operations(again.stdout + again.stderr) == 0
