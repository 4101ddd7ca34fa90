"""The deploy lock's commands (templates/commands/lock.sh.j2, lib/lock.sh.j2), rendered and run
for real with sh in a scratch deploy root."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess

import pytest

from deploys.target import commands, lock
from deploys.target.state import parse_state


@pytest.fixture
def scratch(local_catalog, tmp_path):
    """The local catalog with its deploy root in a scratch folder."""
    return dataclasses.replace(local_catalog, deploy_root=str(tmp_path))


def run(catalog, **values) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", commands.command(catalog, "lock", **values)], capture_output=True,
                          text=True)


def take(catalog, me, stale_id=None):
    return run(catalog, action="take", me=me, stale_id=stale_id)


@pytest.fixture
def me():
    return lock.owner("20261123T000000Z-abcdef0", "abcdef0123")


def test_take_then_a_second_deploy_is_refused_naming_the_holder(scratch, tmp_path, me):
    assert take(scratch, me).returncode == 0
    holder = json.loads((tmp_path / "releases/.lock/owner").read_text())
    assert holder["who"] == me["who"] and holder["pid"] == os.getpid()
    other = lock.owner("20261123T000001Z-1234567", "1234567")
    refused = take(scratch, other)
    assert refused.returncode == 3
    assert "deploy lock held by" in refused.stderr and me["id"] in refused.stderr and me["since"] in refused.stderr


def test_a_stale_lock_is_taken_over_and_audited(scratch, tmp_path, me):
    take(scratch, me)
    new = lock.owner("20261123T000002Z-7654321", "7654321")
    assert take(scratch, new, stale_id=me["id"]).returncode == 0
    assert (tmp_path / "releases/.lock/id").read_text().strip() == new["id"]
    assert f"lock of {me['id']} taken over by {new['id']}" in (tmp_path / "releases/audit.log").read_text()


def test_a_lock_is_not_taken_over_from_another_deploy_than_the_stale_one(scratch, me):
    take(scratch, me)
    new = lock.owner("20261123T000002Z-7654321", "7654321")
    assert take(scratch, new, stale_id="20261123T000009Z-someone").returncode == 3


def test_release_only_removes_our_own_lock(scratch, tmp_path, me):
    take(scratch, me)
    run(scratch, action="release", me={"id": "someone-else"})
    assert (tmp_path / "releases/.lock").exists()
    run(scratch, action="release", me=me)
    assert not (tmp_path / "releases/.lock").exists()


def test_unlock_by_hand_says_whose_lock_it_was(scratch, tmp_path, me):
    take(scratch, me)
    out = run(scratch, action="unlock").stdout
    assert "released the lock of" in out and me["who"] in out
    assert "released by hand (make unlock)" in (tmp_path / "releases/audit.log").read_text()
    assert "no deploy lock is held" in run(scratch, action="unlock").stdout


def test_an_owner_with_quotes_and_dollars_is_written_literally(scratch, tmp_path):
    me = {"id": "x-1", "who": "o'neil $(touch pwned) `id`@nas", "pid": 1}
    assert take(scratch, me).returncode == 0
    assert json.loads((tmp_path / "releases/.lock/owner").read_text()) == me
    assert not (tmp_path / "pwned").exists()


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
