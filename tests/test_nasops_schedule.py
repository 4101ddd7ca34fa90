"""`nasops schedule`: the jobs of dsm_tasks on a swarm, at DSM's times, from the swarm catalog's
own description; each job a subprocess of the program (a fake at the process boundary), its log,
one run at a time, its record; SIGTERM passed on to the running jobs."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import pytest

from deploys.catalog import load
from nasops import schedule
from nasops.schedule import Job, Scheduler, due_jobs
from tests.nasops_fixtures import stack_in

UTC = time.gmtime  # the node's local time, here UTC


def job(at="03:00", every_min=None, every_hours=None, enabled=True, key="j"):
    return Job(key, ("status",), at, every_min, every_hours, enabled, f"logs/tasks/{key}.log")


@pytest.mark.parametrize("spec,hhmm,due", [
    (dict(at="03:00"), "03:00", True),
    (dict(at="03:00"), "03:01", False),
    (dict(at="03:00"), "15:00", False),
    (dict(at="00:00", every_min=5), "00:00", True),
    (dict(at="00:00", every_min=5), "13:35", True),
    (dict(at="00:00", every_min=5), "13:36", False),
    (dict(at="00:00", every_min=5), "23:55", True),
    (dict(at="00:45", every_hours=6), "06:45", True),
    (dict(at="00:45", every_hours=6), "18:45", True),
    (dict(at="00:45", every_hours=6), "07:45", False),
    (dict(at="00:45", every_hours=6), "00:15", False),
    (dict(at="08:30", every_min=30), "08:00", False),  # a repeat starts at `at`, as DSM's does
    (dict(at="08:30", every_min=30), "09:00", True),
])
def test_dsm_schedule_rule(spec, hhmm, due):
    h, m = map(int, hhmm.split(":"))
    assert job(**spec).due(h, m) is due


def minute(hhmm: str, day: int = 0) -> int:
    h, m = map(int, hhmm.split(":"))
    return (1_800_000_000 // 86400 + day) * 1440 + h * 60 + m


def test_a_job_due_in_several_minutes_of_a_held_up_tick_runs_once_and_a_disabled_one_never():
    jobs = [job(at="00:00", every_min=1, key="status"), job(at="03:00", key="backup"),
            job(at="03:00", key="off", enabled=False)]
    found = due_jobs(jobs, [minute("02:58"), minute("02:59"), minute("03:00")], UTC)
    assert [j.key for j in found] == ["status", "backup"]


class FakeProc:
    def __init__(self, argv, rc=0, **kw):
        self.argv, self.kw, self.rc, self.pid = argv, kw, None, 4242
        self.final_rc = rc
        self.signals = []

    def poll(self):
        return self.rc

    def finish(self):
        self.rc = self.final_rc

    def wait(self):
        self.finish()
        return self.rc

    def terminate(self):
        self.signals.append("TERM")
        self.finish()

    def kill(self):
        self.signals.append("KILL")


@pytest.fixture
def swarm_stack(tmp_path):
    return stack_in(tmp_path, load("swarm"))


class Clock:
    def __init__(self, at: str):
        self.t = minute(at) * 60 + 1.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


def scheduler(stack, clock, rc=0):
    procs = []

    def spawn(argv, **kw):
        procs.append(FakeProc(argv, rc, **kw))
        return procs[-1]

    s = Scheduler(stack, io.StringIO(), spawn=spawn, now=clock, sleep=clock.sleep, localtime=UTC)
    return s, procs


def test_the_nightly_backup_runs_the_program_in_the_deploy_root_logged_and_recorded(swarm_stack):
    clock = Clock("02:59")
    s, procs = scheduler(swarm_stack, clock)
    s.tick()
    assert [p.argv[3:] for p in procs] == [["status"]]  # 02:59: the status page's minute only
    procs[0].finish()
    clock.t += 60
    s.tick()  # 03:00
    started = {p.argv[3]: p for p in procs[1:]}
    assert set(started) == {"status", "monitor", "backup"}  # 03:00: the healthcheck's 5-minute beat too
    backup = started["backup"]
    assert backup.argv == [sys.executable, "-m", "nasops", "backup", "run", "--kind", "daily"]
    assert backup.kw["cwd"] == str(swarm_stack.root) and backup.kw["stderr"] == subprocess.STDOUT
    backup.finish()
    clock.t += 42
    s.tick()
    log = (swarm_stack.root / "logs/tasks/backup.log").read_text().splitlines()
    assert log[0].endswith("schedule: backup starts (scheduled): nasops backup run --kind daily")
    assert log[-1].endswith("schedule: backup ended, exit 0, 42.0 s")
    record = json.loads((swarm_stack.root / "logs/monitor/schedule.json").read_text())
    assert record["backup"]["exit"] == 0 and record["backup"]["running"] is False


def test_a_job_still_running_when_due_again_is_skipped_and_the_log_says_so(swarm_stack):
    clock = Clock("10:00")
    s, procs = scheduler(swarm_stack, clock)
    s.tick()
    status = [p for p in procs if p.argv[3] == "status"]
    assert len(status) == 1
    clock.t += 60
    s.tick()  # 10:01: the 10:00 run is still going
    assert len([p for p in procs if p.argv[3] == "status"]) == 1
    assert "skipped (scheduled): the run of" in (swarm_stack.root / "logs/tasks/status.log").read_text()
    status[0].finish()
    clock.t += 60
    s.tick()
    assert len([p for p in procs if p.argv[3] == "status"]) == 2


def test_a_failed_job_records_its_exit_code(swarm_stack):
    clock = Clock("10:00")
    s, procs = scheduler(swarm_stack, clock, rc=3)
    assert s.run_now("sync-killbill") == 3
    assert procs[0].argv[3:] == ["sync", "killbill"]
    record = json.loads((swarm_stack.root / "logs/monitor/schedule.json").read_text())
    assert record["sync-killbill"]["exit"] == 3
    assert "sync-killbill starts (run by hand)" in (swarm_stack.root / "logs/tasks/sync-killbill.log").read_text()


def test_stopping_passes_sigterm_to_the_running_jobs_and_waits_for_them(swarm_stack):
    clock = Clock("03:00")
    s, procs = scheduler(swarm_stack, clock)
    s.tick()
    assert s.stop(50) == 0
    assert all(p.signals == ["TERM"] for p in procs) and not s.running
    assert "backup ended, exit 0" in (swarm_stack.root / "logs/tasks/backup.log").read_text()


def test_an_unknown_job_and_a_compose_target_are_refused(swarm_stack, tmp_path):
    s, _ = scheduler(swarm_stack, Clock("03:00"))
    assert s.run_now("nightly") == 2
    out = io.StringIO()
    assert schedule.main(stack_in(tmp_path / "compose"), [], out) == 2
    assert "DSM's Task Scheduler" in out.getvalue()


def test_a_run_a_killed_scheduler_left_is_recorded_as_interrupted(swarm_stack):
    clock = Clock("03:00")
    s, _ = scheduler(swarm_stack, clock)
    s.tick()  # the backup runs, and the scheduler's container is killed
    again, _ = scheduler(swarm_stack, clock)
    again.interrupted()
    record = json.loads((swarm_stack.root / "logs/monitor/schedule.json").read_text())
    assert record["backup"]["running"] is False and record["backup"]["interrupted"] is True


def test_the_status_snapshot_is_served_behind_the_pages_password_and_nothing_else(swarm_stack):
    import requests

    from nasops import status_server

    folder = swarm_stack.path("status_dir")
    folder.mkdir(parents=True)
    (folder / "status.json").write_text('{"ok": true}\n')
    (folder / "index.html").write_text("<h1>status</h1>")
    password = swarm_stack.monitoring["password_file"]
    from pathlib import Path

    Path(password).parent.mkdir(parents=True, exist_ok=True)
    Path(password).write_text("pa55-word\n")
    (swarm_stack.root / "secrets/values/other").write_text("not served")
    server = status_server.serve(swarm_stack, 0, "127.0.0.1")
    base = f"http://127.0.0.1:{server.server_address[1]}/monitoring/"
    user = swarm_stack.monitoring["user"]
    try:
        got = requests.get(base + "status.json", auth=(user, "pa55-word"), timeout=5)
        assert got.status_code == 200 and got.json() == {"ok": True}
        assert got.headers["Content-Type"] == "application/json; charset=utf-8"
        assert requests.get(base, auth=(user, "pa55-word"), timeout=5).text == "<h1>status</h1>"
        refused = requests.get(base + "status.json", auth=(user, "wrong"), timeout=5)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == 'Basic realm="status"'
        assert requests.get(base + "status.json", timeout=5).status_code == 401
        assert requests.get(base + "status.json", auth=("root", "pa55-word"), timeout=5).status_code == 401
        for path in ("metrics", "../secrets/values/other", "%2e%2e/secrets/values/other", "x"):
            assert requests.get(base + path, auth=(user, "pa55-word"), timeout=5).status_code == 404, path
    finally:
        server.shutdown()


def test_the_schedulers_jobs_ask_the_routes_through_the_edge_by_its_service_name(tmp_path, monkeypatch):
    import json as json_mod

    from deploys.render.stack_description import describe
    from nasops.stack import Stack

    path = tmp_path / "stack.json"
    path.write_text(json_mod.dumps(describe(load("swarm"))))
    assert Stack.load(path).edge_url.startswith("http://127.0.0.1:")  # scripts/ops.sh's runs: the host's port
    monkeypatch.setenv("NASOPS_EDGE_URL", "http://edge:80")  # the scheduler's service environment
    assert Stack.load(path).edge_url == "http://edge:80"


def test_the_health_check_fails_once_the_clock_stopped_ticking(swarm_stack):
    clock = Clock("12:00")
    s, _ = scheduler(swarm_stack, clock)
    assert s.alive() == 1  # never ticked
    s.tick()
    clock.t += 59
    assert s.alive() == 0
    clock.t += 5
    assert s.alive() == 1


def test_a_job_run_by_hand_elsewhere_holds_its_lock_and_the_schedule_skips_it(swarm_stack):
    import fcntl
    import os

    clock = Clock("10:00")
    s, procs = scheduler(swarm_stack, clock)
    lock = swarm_stack.root / "logs/tasks/status.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_CREAT | os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # `schedule run status` in another process
    try:
        s.tick()
        assert "status" not in [p.argv[3] for p in procs]
        assert "skipped (scheduled): another run of it is still going" in (swarm_stack.root / "logs/tasks/status.log").read_text()
    finally:
        os.close(fd)
    clock.t += 60
    s.tick()
    assert [p.argv[3] for p in procs].count("status") == 1
    assert procs[-1].kw["pass_fds"]  # the job itself holds the lock while it runs
