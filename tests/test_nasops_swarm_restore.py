"""A restore on a swarm: the users of the databases are scaled to 0 (their tasks on every node),
the data restored, each scaled back to the replicas it had and gated; a restore that fails scales
back what it stopped. Through fakes at the SDK's services and tasks."""

from __future__ import annotations

import hashlib
import io

import pytest

from deploys.catalog import load
from nasops import dockerexec
from nasops.backup import commands
from nasops.backup.store import Refused
from nasops.backup.swarm_scale import SwarmServices
from tests.nasops_fixtures import stack_in
from tests.test_nasops_backup import FakeContainer, Tools, made


class FakeService:
    def __init__(self, project, name, replicas):
        self.id, self.name, self.replicas = f"svc-{name}", name, replicas
        self.scaled = []
        self.attrs = {"Spec": {"Mode": {"Replicated": {"Replicas": replicas}},
                               "TaskTemplate": {"ContainerSpec": {"Labels": {"marketplace.service": name}}},
                               "Labels": {"com.docker.stack.namespace": project}}}

    def scale(self, n):
        self.replicas = n
        self.scaled.append(n)
        self.attrs["Spec"]["Mode"]["Replicated"]["Replicas"] = n

    def reload(self):
        pass


class FakeSwarm:
    """Services whose tasks run as soon as they are scaled (on any node: none is a container here
    but the database servers')."""

    def __init__(self, project, replicas, containers):
        self.services_by_name = {n: FakeService(project, n, r) for n, r in replicas.items()}
        client = self

        class Services:
            def list(self, filters=None):
                return list(client.services_by_name.values())

        class Api:
            def tasks(self, filters=None):
                found = [s for s in client.services_by_name.values() if s.id == filters.get("service", s.id)]
                return [{"ServiceID": svc.id, "Status": {"State": "running"}} for svc in found for _ in range(svc.replicas)]

        class Containers:
            def list(self, all=False, filters=None):  # noqa: A002
                return list(containers)

            def get(self, cid):
                return next(c for c in containers if c.id == cid)

        self.services, self.api, self.containers = Services(), Api(), Containers()


@pytest.fixture
def stack(tmp_path):
    return stack_in(tmp_path, load("swarm"))


def swarm_containers(project):
    found = []
    for s in ("postgres", "redis", "cocorico-mysql", "cocorico-mongo"):
        c = FakeContainer(f"id-{s}", s, project=project)
        c.attrs["Config"]["Labels"] = {"com.docker.stack.namespace": project, "marketplace.service": s}
        found.append(c)
    return found


def redis_backup(stack, b):
    data = stack.file(stack.backup["servers"]["redis"]["data"])
    data.mkdir(parents=True, exist_ok=True)
    rdb = hashlib.sha256(b"REDIS0011").hexdigest()
    backup_id = made(stack, parts=[{"part": "redis/redis.rdb", "engine": "redis", "database": "redis", "sha256": rdb}])
    (b.store.dir(backup_id) / "redis").mkdir()
    (b.store.dir(backup_id) / "redis/redis.rdb").write_bytes(b"REDIS0011")
    return backup_id, data


def test_the_users_are_scaled_to_zero_on_every_node_and_back_to_their_replicas(stack, monkeypatch):
    monkeypatch.setattr(dockerexec, "run", Tools())
    swarm = FakeSwarm(stack.project, {"killbill": 2, "condo": 1, "connector": 1, "kaui": 1, "redis": 1, "edge": 2},
                      swarm_containers(stack.project))
    b = commands.Backups(stack, swarm, out=io.StringIO(), err=io.StringIO(), send_event=lambda *a: None)
    assert isinstance(b.swarm, SwarmServices)
    stack.path("releases").mkdir(parents=True, exist_ok=True)
    backup_id, data = redis_backup(stack, b)
    gated = []
    b.restore(backup_id, [], gate_run=lambda *a: gated.append({n: s.replicas for n, s in swarm.services_by_name.items()}) or [])
    users = set(stack.backup["redis_users"]) | {"redis"}
    for name, svc in swarm.services_by_name.items():
        assert svc.scaled == ([0, svc.replicas] if name in users else []), name
    assert gated == [{"killbill": 2, "condo": 1, "connector": 1, "kaui": 1, "redis": 1, "edge": 2}]
    assert (data / "appendonlydir/appendonly.aof.1.base.rdb").read_bytes() == b"REDIS0011"
    assert "every service healthy" in b.out.getvalue()


def test_a_failed_restore_scales_back_what_it_stopped(stack, monkeypatch):
    monkeypatch.setattr(dockerexec, "run", Tools())
    swarm = FakeSwarm(stack.project, {"condo": 1, "connector": 1, "redis": 1}, swarm_containers(stack.project))
    b = commands.Backups(stack, swarm, out=io.StringIO(), err=io.StringIO(), send_event=lambda *a: None)
    stack.path("releases").mkdir(parents=True, exist_ok=True)
    backup_id, data = redis_backup(stack, b)
    data.rmdir()  # the server's data folder is gone: the restore fails once Redis is stopped
    with pytest.raises(Refused):
        b.restore(backup_id, [], gate_run=lambda *a: pytest.fail("gated a failed restore"))
    assert {n: s.replicas for n, s in swarm.services_by_name.items()} == {"condo": 1, "connector": 1, "redis": 1}
    assert "FAILED at redis:redis" in b.err.getvalue()
