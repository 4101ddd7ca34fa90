"""`nasops schedule` (engine swarm: the stack's `scheduler` service): the jobs DSM's Task
Scheduler runs on a NAS, run without DSM, from the description's `schedule` (the catalog's
`dsm_tasks`, the same times). `nasops schedule run KEY` runs one job now, as DSM's "Run" does; `nasops schedule alive` is the
service's health check (its clock ticked within a minute).

The rule is DSM's: a job runs daily at `at` (the node's local time: /etc/localtime is mounted),
then every `every_min` minutes or `every_hours` hours until the day ends. Each job is this
program as a subprocess (`nasops backup run --kind daily`, say), its output appended to the
task's log (logs/tasks/KEY.log) between a start and an end line, as DSM's `>> log 2>&1` would;
one run of a job at a time, scheduled or by hand (its lock, logs/tasks/KEY.lock, is held by the
running job: a run still going when the job is due again is skipped, and the log says so). What ran last is in logs/monitor/schedule.json (start, end, exit code of each job).
SIGTERM (Swarm's update or removal) passes SIGTERM to the running jobs, waits for them within
the service's stop grace period, and exits. It also serves the status page's snapshot to the
edge (nasops.status_server), as the edge on a NAS reads it from the folder."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from nasops import clock

TICK_S = 5  # how often the clock is read: a job starts within this of its minute
ALIVE_S = 60  # a scheduler whose last tick is older is hung (its health check fails: Swarm replaces it)
CATCH_UP_MIN = 10  # minutes the scheduler was held up (a suspended node) whose jobs still run, once


@dataclass(frozen=True)
class Job:
    key: str
    argv: tuple[str, ...]  # the program's own arguments: ("backup", "run", "--kind", "daily")
    at: str  # "HH:MM", local time
    every_min: int | None
    every_hours: int | None
    enabled: bool
    log: str  # relative to the deploy root

    @classmethod
    def of(cls, raw: dict) -> "Job":
        return cls(raw["key"], tuple(raw["argv"]), raw["at"], raw.get("every_min"), raw.get("every_hours"),
                   bool(raw.get("enabled", True)), raw["log"])

    def due(self, hour: int, minute: int) -> bool:
        """Whether DSM's schedule starts this job at hour:minute (local time)."""
        h, m = (int(part) for part in self.at.split(":"))
        start, now = h * 60 + m, hour * 60 + minute
        period = self.every_min or (self.every_hours or 0) * 60
        if not period:
            return now == start
        return now >= start and (now - start) % period == 0


def due_jobs(jobs: list[Job], minutes: list[int], localtime=time.localtime) -> list[Job]:
    """The enabled jobs due in any of these minutes (epoch minutes), each once."""
    found: dict[str, Job] = {}
    for m in minutes:
        t = localtime(m * 60)
        for job in jobs:
            if job.enabled and job.key not in found and job.due(t.tm_hour, t.tm_min):
                found[job.key] = job
    return list(found.values())


class Scheduler:
    """The jobs of one stack description under its deploy root. spawn, now and sleep are the
    process, the clock and the wait (a test's fakes)."""

    def __init__(self, stack, out=sys.stdout, spawn=subprocess.Popen, now=time.time, sleep=time.sleep,
                 localtime=time.localtime):
        self.stack = stack
        self.jobs = [Job.of(raw) for raw in stack.schedule or []]
        self.out = out
        self.spawn, self.now, self.sleep, self.localtime = spawn, now, sleep, localtime
        self.running: dict[str, tuple[subprocess.Popen, float, object]] = {}
        self.last_minute: int | None = None
        self.stopping = False
        self.state_file = stack.file(stack.paths["schedule_state"])
        self.beat = self.state_file.with_name(self.state_file.name + ".beat")

    def say(self, text: str) -> None:
        self.out.write(f"{clock.iso(int(self.now()))} schedule: {text}\n")
        self.out.flush()

    # -- one job --

    def start(self, job: Job, why: str, wait: bool = False) -> subprocess.Popen | None:
        """The job started (None: skipped, a run of it is going); wait: for that run to end first."""
        if job.key in self.running:
            since = clock.iso(int(self.running[job.key][1]))
            self.say(f"{job.key}: due, but its run of {since} is still going: skipped")
            with open(self.stack.file(job.log), "ab") as log:
                log.write(f"{clock.iso(int(self.now()))} schedule: skipped ({why}): the run of {since} is still going\n".encode())
            return None
        path = self.stack.file(job.log)
        path.parent.mkdir(parents=True, exist_ok=True)
        held = self._lock(path.with_suffix(".lock"), wait)
        if held is None:  # a run by hand (`schedule run KEY`, another process) is going
            self.say(f"{job.key}: due, but another run of it is still going: skipped")
            with open(path, "ab") as log:
                log.write(f"{clock.iso(int(self.now()))} schedule: skipped ({why}): another run of it is still going\n".encode())
            return None
        log = open(path, "ab")  # noqa: SIM115: closed when the job is reaped
        started = self.now()
        log.write(f"{clock.iso(int(started))} schedule: {job.key} starts ({why}): nasops {' '.join(job.argv)}\n".encode())
        log.flush()
        try:  # the job holds its lock for as long as it runs (the descriptor is its)
            proc = self.spawn([sys.executable, "-m", "nasops", *job.argv], cwd=str(self.stack.root),
                              stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, pass_fds=(held,))
        finally:
            os.close(held)
        self.running[job.key] = (proc, started, log)
        self.say(f"{job.key}: started ({why}), pid {proc.pid}")
        self._record(job.key, {"started": clock.iso(int(started)), "running": True})
        return proc

    @staticmethod
    def _lock(path: Path, wait: bool = False) -> int | None:
        """The job's lock (logs/tasks/KEY.lock), taken: its descriptor; None when a run holds it
        (wait: until it ends)."""
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def reap(self) -> None:
        """Every job that ended: its end line, its record."""
        for key, (proc, started, log) in list(self.running.items()):
            rc = proc.poll()
            if rc is None:
                continue
            ended = self.now()
            log.write(f"{clock.iso(int(ended))} schedule: {key} ended, exit {rc}, {ended - started:.1f} s\n".encode())
            log.close()
            del self.running[key]
            self.say(f"{key}: exit {rc} after {ended - started:.1f} s")
            self._record(key, {"started": clock.iso(int(started)), "ended": clock.iso(int(ended)), "exit": rc,
                               "seconds": round(ended - started, 1), "running": False})

    def _record(self, key: str, entry: dict) -> None:
        try:
            held = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            held = {}
        held[key] = entry
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        part = self.state_file.with_name(f".{self.state_file.name}.tmp")
        part.write_text(json.dumps(held, indent=1, sort_keys=True) + "\n")
        os.replace(part, self.state_file)

    # -- the clock --

    def tick(self) -> list[str]:
        """Start what is due since the last tick (each job once); the keys started."""
        self.reap()
        self.beat.parent.mkdir(parents=True, exist_ok=True)
        self.beat.write_text(f"{int(self.now())}\n")
        minute = int(self.now() // 60)
        if self.last_minute is None:
            self.last_minute = minute - 1
        minutes = list(range(max(self.last_minute + 1, minute - CATCH_UP_MIN + 1), minute + 1))
        self.last_minute = max(self.last_minute, minute)
        started = []
        for job in due_jobs(self.jobs, minutes, self.localtime):
            if self.start(job, "scheduled"):
                started.append(job.key)
        return started

    def interrupted(self) -> None:
        """A run an earlier scheduler left (its container was killed) is no longer running."""
        try:
            held = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return
        for key, entry in held.items():
            if entry.get("running"):
                self._record(key, {**entry, "running": False, "exit": None, "interrupted": True})

    def run_forever(self, grace_s: float) -> int:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        signal.signal(signal.SIGINT, lambda *_: setattr(self, "stopping", True))
        self.interrupted()
        port = (self.stack.swarm or {}).get("status_port")
        server = None
        if port and self.stack.monitoring:
            from nasops import status_server

            server = status_server.serve(self.stack, port)
            self.say(f"serving the status page's snapshot on port {port}")
        enabled = [j for j in self.jobs if j.enabled]
        self.say(f"{len(enabled)} jobs on DSM's schedule ({', '.join(j.key for j in enabled)}); "
                 f"local time {time.strftime('%H:%M %Z', self.localtime(self.now()))}")
        while not self.stopping:
            self.tick()
            self.sleep(TICK_S)
        if server:
            server.shutdown()
        return self.stop(grace_s)

    def stop(self, grace_s: float) -> int:
        """SIGTERM to the running jobs, then wait for them within grace_s (then SIGKILL)."""
        for key, (proc, _, _) in self.running.items():
            self.say(f"{key}: stopping (the scheduler is stopped)")
            proc.terminate()
        deadline = self.now() + grace_s
        while self.running and self.now() < deadline:
            self.reap()
            if self.running:
                self.sleep(0.5)
        for proc, _, _ in self.running.values():
            proc.kill()
        self.reap()
        return 0

    def alive(self) -> int:
        """The health check: 0 while the last tick is within ALIVE_S seconds."""
        try:
            last = int(self.beat.read_text().strip())
        except (OSError, ValueError):
            return 1
        return 0 if self.now() - last <= ALIVE_S else 1

    def run_now(self, key: str) -> int:
        """One job now, in the foreground (its output to its log, as scheduled); its exit code."""
        job = next((j for j in self.jobs if j.key == key), None)
        if job is None:
            self.say(f"no job {key!r} (one of: {', '.join(j.key for j in self.jobs)})")
            return 2
        proc = self.start(job, "run by hand", wait=True)  # after the scheduled run going on, if one is
        if proc is None:
            return 1
        rc = proc.wait()
        self.reap()
        return rc


def main(stack, args: list[str], out=sys.stdout) -> int:
    if stack.schedule is None:
        out.write("schedule: this target's jobs are DSM's Task Scheduler's (engine compose): nothing to run\n")
        return 2
    scheduler = Scheduler(stack, out)
    if args[:1] == ["run"] and len(args) == 2:
        return scheduler.run_now(args[1])
    if args == ["alive"]:
        return scheduler.alive()
    if args:
        out.write("usage: schedule [run KEY | alive]\n")
        return 2
    return scheduler.run_forever(float(os.environ.get("NASOPS_STOP_GRACE_S", "50")))
