"""Zero-gap replacements (nasops.release.switch), with a fake at the Docker SDK boundary and at
Compose's: which containers a converge replaces, the order of a switch (new beside old,
healthy, the edge pointed at it, drained, old stopped, the edge back to the service name), and
a new container that never becomes healthy (removed; the old one untouched)."""

from __future__ import annotations

import io
import subprocess
from types import SimpleNamespace

import pytest

from nasops.release.switch import Switch, health_of, recreated
from tests.nasops_fixtures import stack_in

PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"


DRY_RUN = """ DRY-RUN MODE -  Container p-postgres-1  Recreate
 DRY-RUN MODE -  Container p-connector-1  Recreate
 DRY-RUN MODE -  Container p-edge-1  Running
 DRY-RUN MODE -  Container p-kaui-1  Running
 DRY-RUN MODE -  Container p-new-1  Creating
"""


class FakeContainer:
    def __init__(self, engine, name, service, config_hash, health="healthy", image="sha256:img"):
        self.engine, self.name, self.id = engine, name, f"id-{name}"
        self.health_after = [health] if isinstance(health, str) else list(health)
        self.attrs = {"Config": {"Labels": {PROJECT: engine.project, SERVICE: service,
                                            "com.docker.compose.config-hash": config_hash},
                                 "Image": f"{service}:tag"},
                      "Image": image, "State": {"Status": "running", "Health": {"Status": "starting", "Log": []}}}
        self.workers = ["1", "2"]

    def reload(self):
        status = self.health_after.pop(0) if len(self.health_after) > 1 else self.health_after[0]
        self.attrs["State"]["Health"]["Status"] = status
        if status == "unhealthy":
            self.attrs["State"]["Health"]["Log"] = [{"ExitCode": 1, "Output": "curl: (22) 503"}]

    def stop(self):
        self.engine.events.append(("stop", self.name))

    def remove(self):
        self.engine.events.append(("remove", self.name))
        self.engine.containers_by_name.pop(self.name)

    def logs(self, tail):
        return b"broken on purpose\n"

    def exec_run(self, argv):
        self.engine.events.append(("edge", " ".join(argv)))
        if argv[:2] == ["nginx", "-s"]:  # a reload: new workers, the old ones gone
            self.workers = [str(int(p) + 10) for p in self.workers]
        return 0, b""

    def top(self):
        return {"Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
                "Processes": [["root", "9", "0", "0", "", "", "", "nginx: master process nginx"]]
                + [["101", p, "9", "0", "", "", "", "nginx: worker process"] for p in self.workers]}


class FakeEngine:
    def __init__(self, project):
        self.project, self.events, self.containers_by_name = project, [], {}
        self.containers = SimpleNamespace(list=lambda filters: list(self.containers_by_name.values()))
        self.images = SimpleNamespace(get=lambda ref: SimpleNamespace(id="sha256:img"))

    def add(self, *args, **kw):
        c = FakeContainer(self, *args, **kw)
        self.containers_by_name[c.name] = c
        return c


@pytest.fixture
def stack(tmp_path):
    s = stack_in(tmp_path)
    s.raw["labels"] = {"project": PROJECT, "service": SERVICE}
    s.raw["release"]["switch"] = {
        "zero_gap": [{"service": "connector", "routed": True}, {"service": "cloudflared", "routed": False}],
        "gap": {"postgres": "it is a postgres server (two must not share its data)"},
        "edge": {"service": "edge", "folder": "edge/conf.d/switch", "inside": "/etc/nginx/conf.d/switch"},
        "drain_timeout_s": 5}
    return s


def world(stack, new_health="healthy", dry_run=DRY_RUN):
    """The engine before the converge (connector and postgres changed in the files), and a
    Compose whose `up --scale` starts the new containers beside the old ones."""
    engine = FakeEngine(stack.project)
    engine.add("p-connector-1", "connector", "old")
    engine.add("p-postgres-1", "postgres", "old")
    engine.add("p-edge-1", "edge", "same")
    engine.add("p-kaui-1", "kaui", "same")
    calls = []

    def compose(*args, capture=False):
        calls.append(list(args))
        if args[0] == "--dry-run":  # Compose says what it would recreate, on stderr
            return subprocess.CompletedProcess(args, 0, "", dry_run)
        if args[0] == "up":
            switch_file = stack.root / "edge/conf.d/switch/connector.conf"
            engine.events.append(("up", " ".join(args), switch_file.exists()))
            engine.add("p-connector-2", "connector", "new", health=new_health)
        return subprocess.CompletedProcess(args, 0, "", "")

    return engine, compose, calls


def test_what_compose_would_recreate_is_read_from_its_dry_run():
    assert recreated(DRY_RUN) == {"p-postgres-1", "p-connector-1"}
    assert recreated("") == set()


def test_health_of_a_container():
    assert health_of({"State": {"Status": "exited"}}) == "exited"
    assert health_of({"State": {"Status": "running"}}) == "none"
    assert health_of({"State": {"Status": "running", "Health": {"Status": "healthy"}}}) == "healthy"


def test_a_changed_stateless_service_is_switched_without_a_gap(stack, tmp_path):
    engine, compose, calls = world(stack, new_health=["starting", "healthy"])
    out, err = io.StringIO(), io.StringIO()
    switch = Switch(stack, engine, compose, out, err, sleep=lambda s: None)
    assert switch(tmp_path / "failed")
    ups = [c for c in calls if c[0] == "up"]
    assert ups == [["up", "-d", "--no-recreate", "--scale", "connector=2", "connector"]]
    edge = [e for e in engine.events if e[0] != "up"]
    # the edge pinned to the old container, the new one started beside it and healthy, the
    # edge pointed at the new one, the old one stopped and removed, the edge back to the name
    reload = [("edge", "nginx -t -q"), ("edge", "nginx -s reload")]
    assert edge == [*reload, *reload, ("stop", "p-connector-1"), ("remove", "p-connector-1"), *reload]
    assert [e for e in engine.events if e[0] == "up"] == [("up", "up -d --no-recreate --scale connector=2 connector", True)]
    assert not (stack.root / "edge/conf.d/switch/connector.conf").exists()
    assert set(engine.containers_by_name) == {"p-connector-2", "p-postgres-1", "p-edge-1", "p-kaui-1"}
    text = out.getvalue()
    assert "release: postgres is replaced with a gap: it is a postgres server" in text
    assert "release: connector replaced without a gap" in text and "the edge switched" in text
    assert "kaui" not in text  # unchanged: not touched
    assert err.getvalue() == ""


def test_the_edge_names_the_new_container_while_the_old_one_drains(stack, tmp_path):
    engine, compose, _ = world(stack)
    seen = {}
    edge = engine.containers_by_name["p-edge-1"]
    real_exec = edge.exec_run

    def exec_run(argv):
        if argv[:2] == ["nginx", "-s"]:
            pin = stack.root / "edge/conf.d/switch/connector.conf"
            seen.setdefault("files", []).append(pin.read_text() if pin.exists() else None)
            seen.setdefault("old_running", []).append("p-connector-1" in engine.containers_by_name)
        return real_exec(argv)

    edge.exec_run = exec_run
    assert Switch(stack, engine, compose, io.StringIO(), io.StringIO(), sleep=lambda s: None)(tmp_path / "failed")
    # the old container by name before the new one exists, the new one by name while the old
    # one still runs (its requests drain)
    assert seen["files"] == ["set $upstream p-connector-1;\n", "set $upstream p-connector-2;\n", None]
    assert seen["old_running"] == [True, True, False]


def test_a_new_container_that_never_becomes_healthy_is_removed_and_the_old_one_serves(stack, tmp_path):
    engine, compose, _ = world(stack, new_health=["starting", "unhealthy"])
    out, err = io.StringIO(), io.StringIO()
    assert not Switch(stack, engine, compose, out, err, sleep=lambda s: None)(tmp_path / "failed")
    assert (tmp_path / "failed").read_text() == "connector\n"
    assert "p-connector-1" in engine.containers_by_name and "p-connector-2" not in engine.containers_by_name
    assert ("stop", "p-connector-1") not in engine.events
    # the edge was pinned to the old container before the new one started, and let go after
    # the new one was removed: it never sent a request to it
    assert [e for e in engine.events if e[0] in ("edge", "remove")] == [
        ("edge", "nginx -t -q"), ("edge", "nginx -s reload"), ("remove", "p-connector-2"),
        ("edge", "nginx -t -q"), ("edge", "nginx -s reload")]
    assert not (stack.root / "edge/conf.d/switch/connector.conf").exists()
    text = err.getvalue()
    assert "gate: connector FAILED: unhealthy" in text
    assert "---- connector: last log lines\nbroken on purpose\n" in text
    assert "---- connector: last health check\n1: curl: (22) 503\n" in text
    assert "release: the old containers of connector keep serving" in text


def test_a_slow_new_container_fails_after_its_gate_timeout(stack, tmp_path):
    engine, compose, _ = world(stack, new_health="starting")
    now = [0.0]

    def sleep(s):
        now[0] += s

    err = io.StringIO()
    assert not Switch(stack, engine, compose, io.StringIO(), err, clock=lambda: now[0], sleep=sleep)(tmp_path / "f")
    timeout = next(s.gate_timeout_s for s in stack.services if s.name == "connector")
    assert f"gate: connector FAILED: starting after {timeout} s" in err.getvalue()


def test_nothing_changed_nothing_is_started(stack, tmp_path):
    engine, compose, calls = world(stack, dry_run=DRY_RUN.replace("Recreate", "Running"))
    out = io.StringIO()
    assert Switch(stack, engine, compose, out, io.StringIO())(tmp_path / "failed")
    assert [c for c in calls if c[0] == "up"] == [] and out.getvalue() == ""


def edge_world(stack, loaded=None, refuse=False):
    """A running edge, the description's hash of its config folder, and what it last loaded."""
    stack.raw["release"]["switch"]["edge"].update(config_sha="c0ffee02", loaded="edge/loaded-config")
    engine = FakeEngine(stack.project)
    edge = engine.add("p-edge-1", "edge", "same")
    if refuse:
        edge.exec_run = lambda argv: (engine.events.append(("edge", " ".join(argv))) or
                                      (1, b"nginx: [emerg] unknown directive \"proxy_pas\""))
    record = stack.root / "edge/loaded-config"
    if loaded:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(loaded + "\n")
    return engine, record


def test_the_edges_changed_configuration_is_loaded_by_a_graceful_reload_not_a_new_container(stack, tmp_path):
    engine, record = edge_world(stack, loaded="c0ffee01")
    out, err = io.StringIO(), io.StringIO()
    assert Switch(stack, engine, None, out, err).reload_config(tmp_path / "failed")
    assert engine.events == [("edge", "nginx -t -q"), ("edge", "nginx -s reload")]  # checked, then reloaded
    assert record.read_text() == "c0ffee02\n"
    assert set(engine.containers_by_name) == {"p-edge-1"}  # the same container serves
    assert "edge loaded its new configuration without a gap" in out.getvalue()


def test_a_loaded_configuration_is_not_reloaded_again(stack, tmp_path):
    engine, record = edge_world(stack, loaded="c0ffee02")
    out = io.StringIO()
    assert Switch(stack, engine, None, out, io.StringIO()).reload_config(tmp_path / "failed")
    assert engine.events == [] and out.getvalue() == ""


def test_a_configuration_the_edge_refuses_fails_the_release_and_is_not_recorded(stack, tmp_path):
    engine, record = edge_world(stack, loaded="c0ffee01", refuse=True)
    err = io.StringIO()
    assert not Switch(stack, engine, None, io.StringIO(), err).reload_config(tmp_path / "failed")
    assert engine.events == [("edge", "nginx -t -q")]  # never reloaded: it serves what it had
    assert record.read_text() == "c0ffee01\n"
    assert (tmp_path / "failed").read_text() == "edge\n"
    assert "the edge refused `nginx -t -q`" in err.getvalue() and "unknown directive" in err.getvalue()


def test_without_a_reloaded_folder_nothing_is_reloaded(stack, tmp_path):
    engine = FakeEngine(stack.project)
    engine.add("p-edge-1", "edge", "same")
    assert Switch(stack, engine, None, io.StringIO(), io.StringIO()).reload_config(tmp_path / "failed")
    assert engine.events == []
