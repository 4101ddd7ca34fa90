"""The deploy lock's shell, run for real with sh in a scratch deploy root."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest

from deploys import lock
from deploys.facts import parse_state


def run(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True)


@pytest.fixture
def me():
    return lock.owner("20261123T000000Z-abcdef0", "abcdef0123")


def test_take_then_a_second_deploy_is_refused_naming_the_holder(tmp_path, me):
    assert run(lock.take_script(str(tmp_path), me)).returncode == 0
    holder = json.loads((tmp_path / "releases/.lock/owner").read_text())
    assert holder["who"] == me["who"] and holder["pid"] == os.getpid()
    other = lock.owner("20261123T000001Z-1234567", "1234567")
    refused = run(lock.take_script(str(tmp_path), other))
    assert refused.returncode == 3
    assert "deploy lock held by" in refused.stderr and me["id"] in refused.stderr and me["since"] in refused.stderr


def test_a_stale_lock_is_taken_over_and_audited(tmp_path, me):
    run(lock.take_script(str(tmp_path), me))
    new = lock.owner("20261123T000002Z-7654321", "7654321")
    assert run(lock.take_script(str(tmp_path), new, stale_id=me["id"])).returncode == 0
    assert (tmp_path / "releases/.lock/id").read_text().strip() == new["id"]
    assert f"lock of {me['id']} taken over by {new['id']}" in (tmp_path / "releases/audit.log").read_text()


def test_release_only_removes_our_own_lock(tmp_path, me):
    run(lock.take_script(str(tmp_path), me))
    run(lock.release_script(str(tmp_path), "someone-else"))
    assert (tmp_path / "releases/.lock").exists()
    run(lock.release_script(str(tmp_path), me["id"]))
    assert not (tmp_path / "releases/.lock").exists()


def test_unlock_by_hand_says_whose_lock_it_was(tmp_path, me):
    run(lock.take_script(str(tmp_path), me))
    out = run(lock.release_script(str(tmp_path))).stdout
    assert "released the lock of" in out and me["who"] in out
    assert "released by hand (make unlock)" in (tmp_path / "releases/audit.log").read_text()
    assert "no deploy lock is held" in run(lock.release_script(str(tmp_path))).stdout


def test_stale_means_this_machine_and_a_gone_process():
    here = socket.gethostname()
    assert lock.is_stale({"host": here, "pid": 2 ** 22 + 12345})
    assert not lock.is_stale({"host": here, "pid": os.getpid()})
    assert not lock.is_stale({"host": "elsewhere", "pid": 2 ** 22 + 12345})


def test_the_state_reads_the_lock_holder():
    owner = {"id": "x", "who": "ops@nas"}
    state = parse_state(["@dirs", "@lock", json.dumps(owner), "@end"])
    assert state.lock == owner
    assert parse_state(["@dirs", "@lock", "@end"]).lock is None
