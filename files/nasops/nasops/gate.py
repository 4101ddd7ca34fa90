"""The health gate of a release, a rollback and a restore: every service runs, is healthy and
its health route answers as declared through the edge, each within its own gate_timeout_s.

A service that is unhealthy or has exited fails at once; the first failure decides (the rest
are not waited for). One look at the engine per round, its routes probed in parallel, one round
a second. `verdict` is the whole rule, a pure function; `run` is the loop around it."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from nasops.engine import Running

GONE = ("exited", "dead")
SERVING = ("healthy", "none")


@dataclass(frozen=True)
class Verdict:
    kind: str  # ok | wait | fail
    why: str = ""


def verdict(svc, run: Running | None, code: int | None, elapsed: int) -> Verdict:
    """One service's verdict after `elapsed` seconds; `code` is its health route's answer
    (None: it has none, or it was not asked because the container is not serving yet)."""
    state, health = (run.state, run.health) if run else ("missing", "-")
    if health == "unhealthy":
        return Verdict("fail", "unhealthy")
    if state in GONE:
        return Verdict("fail", state)
    if state == "running" and health in SERVING:
        if not svc.health_path or code == svc.http_status:
            return Verdict("ok")
        pending = f"{svc.health_path} answered {code or 0:03d}, expected {svc.http_status}"
    else:
        pending = f"{state}/{health}"
    if elapsed >= svc.gate_timeout_s:
        return Verdict("fail", f"{pending} after {svc.gate_timeout_s} s")
    return Verdict("wait")


def serving(run: Running | None) -> bool:
    return bool(run) and run.state == "running" and run.health in SERVING


def run(stack, engine, prober, out, err, clock=time.monotonic, sleep=time.sleep) -> list[str]:
    """Gate the stack; the names of the services that failed ([]: all healthy). Progress goes
    to out, failures to err, as `gate: NAME ...` lines."""
    start = clock()
    pending = list(stack.services)
    failed: list[str] = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        while pending:
            elapsed = int(clock() - start)
            seen = engine.services()
            asks = {s.name: pool.submit(prober.route, s.health_host, s.health_path)
                    for s in pending if s.health_path and serving(seen.get(s.name))}
            still = []
            for svc in pending:
                v = verdict(svc, seen.get(svc.name), asks[svc.name].result() if svc.name in asks else None, elapsed)
                if v.kind == "ok":
                    out.write(f"gate: {svc.name} healthy ({elapsed}s)\n")
                elif v.kind == "wait":
                    still.append(svc)
                else:
                    err.write(f"gate: {svc.name} FAILED: {v.why}\n")
                    failed.append(svc.name)
            if failed:
                break  # one failure decides: no need to wait for the rest
            pending = still
            if pending:
                sleep(1)
    return failed


def report(engine, names: list[str], err, lines: int = 20) -> None:
    """What an operator reads first about a failed service: its last log lines and its last
    health checks' output (on swarm, its tasks)."""
    for name in names:
        err.write(f"---- {name}: last log lines\n")
        err.write(_text(engine.log_tail(name, lines)))
        detail = engine.failure_detail(name)
        if detail:
            err.write(f"---- {name}: {detail[0]}\n")
            err.write(_text("\n".join(detail[1])))


def _text(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"
