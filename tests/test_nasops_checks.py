"""The checks (nasops health) from a fixed Observation, the backup's age and the disks from
files, the engine's view through a fake at the Docker SDK's boundary, and the description the
deploy renders for it."""

from __future__ import annotations

import os

import pytest

from deploys import layout
from deploys.catalog import load
from deploys.render import render
from nasops import checks
from nasops.engine import Engine, Running, memory_used
from nasops.observe import BackupAge, Disk, Observation, backup_age, disks
from tests.nasops_fixtures import stack_in

T0 = 1_800_000_000
GIB = 1 << 30


def all_well(stack, **change) -> Observation:
    codes = {(s.health_host, s.health_path): s.http_status for s in stack.services if s.health_path}
    codes |= {(r.hostname, r.path): r.expect or 200 for r in stack.routes}
    base = dict(at=T0, services={s.name: Running(s.name, "running", "healthy", T0 - 60) for s in stack.services},
                codes=codes, backup=BackupAge("20261205T0300Z", 3600),
                disks=(Disk("deploy_root", "/v/web", "/v/web", 50 * GIB, 100 * GIB, 4096 << 20),
                       Disk("backup_dir", "/v/backups", "/v", 50 * GIB, 100 * GIB, 2048 << 20)))
    return Observation(**{**base, **change})


@pytest.fixture
def stack(tmp_path):
    return stack_in(tmp_path)


def test_all_well_is_exit_0_and_a_table_with_every_check(stack):
    rows = checks.checks(stack, all_well(stack))
    assert checks.failing(rows) == []
    assert [r.name for r in rows] == [s.name for s in stack.services] + ["backup", "disk:deploy_root", "disk:backup_dir"]
    table = checks.table(rows).splitlines()
    assert table[0] == f"{'SERVICE':<16} {'STATE':<10} {'HEALTH':<12} ROUTE (HTTP STATUS)"
    connector = next(line for line in table if line.startswith("connector "))
    svc = next(s for s in stack.services if s.name == "connector")
    port = stack.edge_url.rsplit(":", 1)[1]
    assert connector == f"{'connector':<16} {'running':<10} {'healthy':<12} http://{svc.health_host}:{port}{svc.health_path} (200)"


def test_a_stopped_service_a_wrong_status_and_a_missing_one_fail(stack):
    svc = {s.name: s for s in stack.services}
    seen = all_well(stack)
    services = dict(seen.services)
    services["connector"] = Running("connector", "exited", "none", T0)
    del services["redis"]
    codes = dict(seen.codes)
    codes[(svc["kaui"].health_host, svc["kaui"].health_path)] = 502
    rows = {r.name: r for r in checks.checks(stack, all_well(stack, services=services, codes=codes))}
    assert set(checks.failing(list(rows.values()))) == {"redis", "connector", "kaui"}
    assert (rows["redis"].state, rows["redis"].health) == ("missing", "-")
    assert rows["kaui"].what.endswith("(502) expected 200")
    assert "\tfailing\texited none" in checks.report(list(rows.values()))


def test_a_late_backup_and_a_full_disk_fail_judged_and_are_only_shown_in_a_deploys_table(stack):
    seen = all_well(stack, backup=BackupAge("20261201T0300Z", 27 * 3600 + 120),
                    disks=(Disk("deploy_root", "/v/web", "/v/web", 1 << 30, 100 * GIB, 4096 << 20),))
    rows = {r.name: r for r in checks.checks(stack, seen)}
    assert rows["backup"].failing and rows["backup"].state == "STALE"
    assert rows["backup"].what == ("last verified 20261201T0300Z, 27 h 2 min ago: older than 26 h "
                                   "(make backup; make backups)")
    assert rows["disk:deploy_root"].failing and rows["disk:deploy_root"].what == "1024 MiB free in /v/web (needs 4096)"
    shown = checks.checks(stack, seen, judge_all=False)
    assert checks.failing(shown) == [] and {r.name for r in shown if not r.ok} == {"backup", "disk:deploy_root"}


def test_the_backup_age_is_the_last_verified_ones_else_the_stacks(stack, tmp_path):
    assert backup_age(stack, T0) == BackupAge(None, 0)  # nothing yet: as old as now
    release = tmp_path / "releases/20261201T000000Z-1"
    release.mkdir(parents=True)
    (release / "deploy.json").write_text("{}\n")
    os.utime(release / "deploy.json", (T0 - 7200, T0 - 7200))
    assert backup_age(stack, T0) == BackupAge(None, 7200)
    (tmp_path / "backups").mkdir()
    (tmp_path / "backups/last-verified").write_text(f"20261205T0300Z {T0 - 600}\n")
    assert backup_age(stack, T0) == BackupAge(None, 7200)  # its folder is gone: not a backup
    (tmp_path / "backups/20261205T0300Z").mkdir()
    assert backup_age(stack, T0) == BackupAge("20261205T0300Z", 600)
    row = next(r for r in checks.checks(stack, all_well(stack, backup=BackupAge(None, 7200))) if r.name == "backup")
    assert row.ok and row.what == "none yet (the stack is 2 h old)"


def test_a_disk_not_made_yet_is_measured_where_it_will_be(stack, tmp_path):
    measured = {d.name: d for d in disks(stack)}
    assert measured["backup_dir"].measured == str(tmp_path)  # backups/ does not exist yet
    st = os.statvfs(tmp_path)
    # the same file system, measured a moment apart (other writers may move it a little)
    assert abs(measured["deploy_root"].free_bytes - st.f_bavail * st.f_frsize) < 64 << 20
    assert measured["deploy_root"].size_bytes == st.f_blocks * st.f_frsize


def test_a_shared_tunnel_that_is_not_ready_fails(tmp_path):
    stack = stack_in(tmp_path, tunnel={"container": "wattsun-cloudflared", "ready_url": "http://127.0.0.1:2000/ready"})
    row = checks.checks(stack, all_well(stack, tunnel_code=503))[-1]
    assert (row.name, row.state, row.failing) == ("tunnel", "NOT-READY", True)
    assert row.what == "wattsun-cloudflared http://127.0.0.1:2000/ready (503)"


# -- the engine, through a fake Docker SDK client --

class FakeContainer:
    def __init__(self, cid, service, status="running", health=None, created="2026-12-05T00:00:00Z",
                 oneoff=False, memory=0, usage=None):
        self.id = cid
        labels = {"com.docker.compose.project": "marketplace", "com.docker.compose.service": service}
        if oneoff:
            labels["com.docker.compose.oneoff"] = "True"
        state = {"Status": status, "StartedAt": "2026-12-05T01:02:03.123456789Z"}
        if health:
            state["Health"] = {"Status": health}
        self.attrs = {"Created": created, "Config": {"Labels": labels}, "State": state, "HostConfig": {"Memory": memory}}
        self.usage = usage

    def stats(self, stream, one_shot=None):
        return {"memory_stats": {"usage": self.usage, "stats": {"inactive_file": 1000}}}


class FakeClient:
    def __init__(self, containers):
        self.seen_filters = []

        class Containers:
            def list(inner, all=False, filters=None):  # noqa: A002,N805 - the SDK's names
                self.seen_filters.append(filters)
                return [c for c in containers if all or c.attrs["State"]["Status"] == "running"]

        self.containers = Containers()


def test_the_engine_reads_each_services_container_and_skips_one_off_runs(stack):
    client = FakeClient([
        FakeContainer("a1", "connector", "exited", created="2026-12-05T00:00:00Z"),
        FakeContainer("a2", "connector", "running", "healthy", created="2026-12-05T00:00:01Z", memory=256 << 20, usage=5000),
        FakeContainer("b1", "postgres", "running", "starting"),
        FakeContainer("c1", "condo", "exited", oneoff=True),
    ])
    engine = Engine(client, stack)
    found = engine.services()
    assert set(found) == {"connector", "postgres"}
    assert found["connector"] == Running("connector", "running", "healthy", 1796432523, 256 << 20, "a2")
    assert not found["postgres"].ok
    assert client.seen_filters[0] == {"label": "com.docker.compose.project=marketplace"}
    assert engine.memory() == {"connector": 4000}


def test_memory_is_counted_as_docker_stats_does():
    assert memory_used({"usage": 10_000, "stats": {"inactive_file": 3000}}) == 7000  # cgroup v2
    assert memory_used({"usage": 10_000, "stats": {"total_inactive_file": 4000}}) == 6000  # v1
    assert memory_used({}) is None  # a stopped container has no figure


# -- the description the deploy renders for it --

@pytest.mark.parametrize("target", ["local", "staging", "swarm"])
def test_the_description_is_rendered_with_the_stack_and_names_only_secret_files(target):
    catalog = load(target)
    files = render(catalog)
    text = files[layout.STACK_DESCRIPTION].content.decode()
    from nasops.stack import Stack
    import json

    stack = Stack.from_dict(json.loads(text))
    assert [s.name for s in stack.services] == list(catalog.services)
    assert {r.name for r in stack.routes} == {r.name for r in catalog.routes}
    assert stack.path("monitor") == stack.root / layout.MONITOR
    assert all(f"{layout.BUILD}/nasops/{name}" in files for name in ("Dockerfile", "nasops/__main__.py"))
    # a secret is named in the secrets section (what `secrets` makes) and elsewhere only by its file
    raw = json.loads(text)
    section = raw.pop("secrets")
    rest = json.dumps(raw)
    for secret in catalog.secrets:
        assert f'"{secret}"' not in rest or f"secrets/values/{secret}" in rest
    assert {s["name"] for s in section["secrets"]} == set(catalog.used_secrets)
    assert all("{secret:" in template or "secret" not in template
               for lines in section["env_files"].values() for _, template in lines)


def test_a_description_of_another_format_is_refused_with_what_to_do(tmp_path):
    from nasops.stack import DescriptionError, Stack

    (tmp_path / "stack.json").write_text('{"format": 99}')
    with pytest.raises(DescriptionError, match="format 99, this program reads 1: .*redeploy"):
        Stack.load(tmp_path / "stack.json")
    with pytest.raises(DescriptionError, match="no stack description .*make deploy"):
        Stack.load(tmp_path / "missing.json")


def test_a_swarms_scheduler_is_a_check_a_missing_one_fails(tmp_path):
    swarm = stack_in(tmp_path, load("swarm"))
    seen = all_well(swarm)
    running = {**seen.services, "scheduler": Running("scheduler", "running", "healthy")}
    rows = {r.name: r for r in checks.checks(swarm, all_well(swarm, services=running))}
    assert rows["scheduler"].ok and "the jobs of dsm_tasks (6)" in rows["scheduler"].what
    rows = {r.name: r for r in checks.checks(swarm, seen)}
    assert checks.failing(list(rows.values())) == ["scheduler"]
