"""The release's health gate (nasops gate): its rule as data, its loop on a fake clock with a
fake engine and network, and the report of a failed service through a fake Docker SDK."""

from __future__ import annotations

import io

import pytest

from nasops import gate
from nasops.engine import Engine, Running
from nasops.stack import Service
from tests.nasops_fixtures import stack_in

WEB = Service("web", "web.example", "/health", 200, 30)
BARE = Service("redis", None, None, 200, 10)


@pytest.mark.parametrize("svc,run,code,elapsed,expect", [
    (WEB, Running("web", "running", "healthy"), 200, 0, gate.Verdict("ok")),
    (BARE, Running("redis", "running", "none"), None, 0, gate.Verdict("ok")),
    (WEB, Running("web", "running", "unhealthy"), None, 0, gate.Verdict("fail", "unhealthy")),
    (WEB, Running("web", "exited", "none"), None, 0, gate.Verdict("fail", "exited")),
    (WEB, Running("web", "dead", "none"), None, 0, gate.Verdict("fail", "dead")),
    (WEB, Running("web", "running", "starting"), None, 29, gate.Verdict("wait")),
    (WEB, Running("web", "running", "starting"), None, 30, gate.Verdict("fail", "running/starting after 30 s")),
    (WEB, None, None, 5, gate.Verdict("wait")),
    (WEB, None, None, 30, gate.Verdict("fail", "missing/- after 30 s")),
    (WEB, Running("web", "running", "healthy"), 502, 3, gate.Verdict("wait")),
    (WEB, Running("web", "running", "healthy"), 502, 31, gate.Verdict("fail", "/health answered 502, expected 200 after 30 s")),
    (WEB, Running("web", "running", "healthy"), 0, 30, gate.Verdict("fail", "/health answered 000, expected 200 after 30 s")),
])
def test_the_rule(svc, run, code, elapsed, expect):
    assert gate.verdict(svc, run, code, elapsed) == expect


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


class Timeline:
    """An engine whose services change with the clock: {name: [(from_t, Running)]}."""

    def __init__(self, clock, plan):
        self.clock, self.plan, self.looks = clock, plan, 0

    def services(self):
        self.looks += 1
        now = self.clock() - 1000
        found = {}
        for name, steps in self.plan.items():
            current = [r for t, r in steps if t <= now]
            if current and current[-1]:
                found[name] = current[-1]
        return found


class Routes:
    def __init__(self, codes):
        self.codes, self.asked = codes, []

    def route(self, host, path):
        self.asked.append((host, path))
        return self.codes.get((host, path), 200)


def gated(stack, plan, codes=None):
    clock = Clock()
    engine, routes = Timeline(clock, plan), Routes(codes or {})
    out, err = io.StringIO(), io.StringIO()
    failed = gate.run(stack, engine, routes, out, err, clock=clock, sleep=clock.sleep)
    return failed, out.getvalue(), err.getvalue(), engine, routes


def healthy(name):
    return Running(name, "running", "healthy")


@pytest.fixture
def stack(tmp_path):
    return stack_in(tmp_path)


def test_every_service_passes_when_it_is_ready_one_look_a_second(stack):
    names = [s.name for s in stack.services]
    plan = {n: [(0, Running(n, "running", "starting")), (3, healthy(n))] for n in names}
    failed, out, err, engine, routes = gated(stack, plan)
    assert failed == [] and err == ""
    assert sorted(line.split()[1] for line in out.splitlines()) == sorted(names)
    assert all(line.endswith("(3s)") for line in out.splitlines())
    assert engine.looks == 4  # t = 0, 1, 2, 3
    # a route is asked only once the container serves, and each once it passes
    with_routes = [s for s in stack.services if s.health_path]
    assert sorted(routes.asked) == sorted((s.health_host, s.health_path) for s in with_routes)


def test_an_unhealthy_service_fails_at_once_and_stops_the_gate(stack):
    names = [s.name for s in stack.services]
    plan = {n: [(0, Running(n, "running", "starting")), (60, healthy(n))] for n in names}
    plan["connector"] = [(0, Running("connector", "running", "starting")), (2, Running("connector", "running", "unhealthy"))]
    failed, out, err, engine, _ = gated(stack, plan)
    assert failed == ["connector"]
    assert err == "gate: connector FAILED: unhealthy\n"
    assert engine.looks == 3 and out == ""  # nobody else waited for


def test_a_route_that_never_answers_as_declared_fails_after_its_own_timeout(stack):
    svc = next(s for s in stack.services if s.name == "kaui")
    plan = {s.name: [(0, healthy(s.name))] for s in stack.services}
    failed, out, err, _, _ = gated(stack, plan, {(svc.health_host, svc.health_path): 502})
    assert failed == ["kaui"]
    assert err == f"gate: kaui FAILED: {svc.health_path} answered 502, expected {svc.http_status} after {svc.gate_timeout_s} s\n"
    assert "gate: connector healthy (0s)" in out


def test_the_gate_writes_the_failed_names_and_reports_them(stack, tmp_path, capsys):
    from nasops.__main__ import gate_stack

    class Reporting(Timeline):
        def log_tail(self, name, lines):
            return f"{name} log line\n"

        def failure_detail(self, name):
            return "last health check", ["1: curl: (7) refused"]

    clock = Clock()
    plan = {s.name: [(0, healthy(s.name))] for s in stack.services}
    plan["condo"] = [(0, Running("condo", "exited", "none"))]
    failed_file = tmp_path / "failed"
    failed_file.write_text("stale\n")
    rc = gate_stack(stack, str(failed_file), engine=Reporting(clock, plan), prober=Routes({}))
    assert rc == 1 and failed_file.read_text() == "condo\n"
    err = capsys.readouterr().err
    assert err.splitlines() == ["gate: condo FAILED: exited", "---- condo: last log lines", "condo log line",
                                "---- condo: last health check", "1: curl: (7) refused"]


# -- the report's engine side, through a fake Docker SDK client --

class Container:
    def __init__(self, cid, service, health_log):
        self.id = cid
        self.attrs = {"Created": "2026-12-05T00:00:00Z", "Config": {"Labels": {
            "com.docker.compose.project": "marketplace", "com.docker.compose.service": service}},
            "State": {"Status": "running", "Health": {"Status": "unhealthy", "Log": health_log}}}

    def logs(self, tail):
        return "".join(f"line {i}\n" for i in range(100)[-tail:]).encode()


class Client:
    def __init__(self, containers):
        by_id = {c.id: c for c in containers}

        class Containers:
            def list(inner, all=False, filters=None):  # noqa: N805
                return containers

            def get(inner, cid):  # noqa: N805
                return by_id[cid]

        self.containers = Containers()


def test_the_report_reads_the_log_tail_and_the_last_four_health_checks(stack):
    log = [{"ExitCode": 1, "Output": f"try {i}\n"} for i in range(6)]
    engine = Engine(Client([Container("c1", "connector", log)]), stack)
    assert engine.log_tail("connector", 2) == "line 98\nline 99\n"
    assert engine.failure_detail("connector") == ("last health check", ["1: try 2", "1: try 3", "1: try 4", "1: try 5"])
    assert engine.log_tail("kaui", 20) == "" and engine.failure_detail("kaui") is None
