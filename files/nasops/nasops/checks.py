"""The checks: what `make status` prints, the alerts judge and the page shows, from an
Observation. One row per service, the backup, each disk, a swarm's scheduler and the shared
tunnel."""

from __future__ import annotations

from dataclasses import dataclass

from nasops.engine import Running
from nasops.observe import Observation

MISSING = Running("", "missing", "-")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    judged: bool  # False: shown, not judged (a deploy's closing table and a late backup)
    state: str  # the table's second column
    health: str  # its third ("-": none)
    what: str

    @property
    def failing(self) -> bool:
        return self.judged and not self.ok


def route_ok(code: int, expect: int | None) -> bool:
    """A route's verdict: its health status exactly, or (None) any answer below 500."""
    return code == expect if expect is not None else 0 < code < 500


def checks(stack, seen: Observation, judge_all: bool = True) -> list[Check]:
    """judge_all False (`health services`): the backup and the disks are shown, not judged."""
    rows = [_service(stack, s, seen) for s in stack.services]
    rows.append(_backup(stack, seen, judge_all))
    rows += [Check(f"disk:{d.name}", d.ok, judge_all, "ok" if d.ok else "LOW", "-",
                   f"{d.free_bytes // 1048576} MiB free in {d.measured} (needs {d.min_free_bytes // 1048576})")
             for d in seen.disks]
    if stack.schedule is not None:  # a swarm's jobs: its scheduler service runs them
        run = seen.services.get("scheduler", MISSING)
        rows.append(Check("scheduler", run.ok, True, run.state, run.health,
                          f"the jobs of dsm_tasks ({sum(j['enabled'] for j in stack.schedule)}), "
                          "logs/monitor/schedule.json"))
    if stack.tunnel:
        code = seen.tunnel_code or 0
        rows.append(Check("tunnel", code == 200, True, "ready" if code == 200 else "NOT-READY", "-",
                          f"{stack.tunnel['container']} {stack.tunnel['ready_url']} ({code:03d})"))
    return rows


def _service(stack, svc, seen: Observation) -> Check:
    run = seen.services.get(svc.name, MISSING)
    ok = run.ok
    route = "-"
    if svc.health_path:
        code = seen.codes.get((svc.health_host, svc.health_path), 0)
        port = stack.edge_url.rsplit(":", 1)[-1] if stack.edge_url else ""
        route = f"http://{svc.health_host}:{port}{svc.health_path} ({code:03d})"
        if code != svc.http_status:
            ok = False
            route += f" expected {svc.http_status}"
    return Check(svc.name, ok, True, run.state, run.health, route)


def _backup(stack, seen: Observation, judged: bool) -> Check:
    age, limit_h = seen.backup.age_seconds, stack.backup["max_age_hours"]
    ok = age <= limit_h * 3600
    if seen.backup.last_verified is None:
        what = f"none yet (the stack is {age // 3600} h old)"
    else:
        what = f"last verified {seen.backup.last_verified}, {age // 3600} h {age % 3600 // 60} min ago"
    if not ok:
        what += f": older than {limit_h} h (make backup; make backups)"
    return Check("backup", ok, judged, "ok" if ok else "STALE", "-", what)


def table(rows: list[Check]) -> str:
    lines = [f"{'SERVICE':<16} {'STATE':<10} {'HEALTH':<12} ROUTE (HTTP STATUS)"]
    lines += [f"{r.name:<16} {r.state:<10} {r.health:<12} {r.what}" for r in rows]
    return "\n".join(lines) + "\n"


def report(rows: list[Check]) -> str:
    """One line per check: NAME<TAB>ok|failing<TAB>WHAT (what the monitor and the page read)."""
    return "".join(f"{r.name}\t{'ok' if r.ok else 'failing'}\t{r.state} {r.health} {r.what}\n" for r in rows)


def failing(rows: list[Check]) -> list[str]:
    return [r.name for r in rows if r.failing]
