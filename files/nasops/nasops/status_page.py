"""The status page's snapshot (`monitoring`): index.html (Jinja2, autoescaped; reads on a
phone, no script, no outside asset), status.json (the same data) and metrics, each replaced by
a rename, from the checks and the target's records. `build()` is pure over what it is given;
`read_*` read the records; `publish()` writes."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from nasops import clock
from nasops.checks import MISSING, Check, route_ok
from nasops.observe import BackupAge, Disk, Observation


@dataclass(frozen=True)
class ServiceRow:
    name: str
    ok: bool
    state: str
    health: str
    since: int
    memory: int | None
    limit: int  # 0: none

    @property
    def word(self) -> str:
        """What the page says: the health where it runs with one, else the state."""
        word = self.health if self.state == "running" and self.health not in ("none", "-") else self.state
        return "healthy, its route fails" if word == "healthy" and not self.ok else word

    @property
    def memory_text(self) -> str:
        if self.memory is None or not self.limit:
            return "-"
        return f"{self.memory // 1048576}/{self.limit // 1048576} MiB ({self.memory * 100 // self.limit}%)"


@dataclass(frozen=True)
class RouteRow:
    name: str
    service: str
    host: str
    path: str
    code: int
    ok: bool


@dataclass(frozen=True)
class Release:
    id: str
    status: str
    commit: str
    dirty: bool
    who: str
    at: str


@dataclass(frozen=True)
class SyncJob:
    name: str
    ok: bool | None  # None: never ran
    at: str | None


@dataclass(frozen=True)
class DiskRow:
    disk: Disk
    ok: bool

    def __getattr__(self, key):
        return getattr(self.disk, key)


@dataclass(frozen=True)
class Page:
    project: str
    target: str
    at: int
    failing: list[str]
    services: list[ServiceRow]
    routes: list[RouteRow]
    current: Release | None
    last_good: Release | None
    backup: BackupAge
    backup_ok: bool
    max_age_hours: int
    disks: list[DiskRow]
    sync_jobs: list[SyncJob]
    alerts: list[str]

    @property
    def ok(self) -> bool:
        return not self.failing


# -- since when: kept from the last run while a service's state/health is unchanged --

def track_since(was_text: str, seen: Observation, names) -> tuple[dict[str, int], str]:
    """(name -> since, the new health-since file). The file: NAME STATE/HEALTH SINCE per line."""
    was = {}
    for line in was_text.splitlines():
        words = line.split()
        if len(words) == 3 and words[2].isdigit():
            was[words[0]] = (words[1], int(words[2]))
    since, lines = {}, []
    for name in names:
        run = seen.services.get(name, MISSING)
        now_sh = f"{run.state}/{run.health}"
        if name in was and was[name][0] == now_sh:
            since[name] = was[name][1]
        elif name in was or run.started is None:
            since[name] = seen.at
        else:
            since[name] = run.started
        lines.append(f"{name} {now_sh} {since[name]}\n")
    return since, "".join(lines)


def build(stack, seen: Observation, rows: list[Check], since: dict[str, int], current=None, last_good=None,
          sync_jobs=(), alerts=()) -> Page:
    verdict = {r.name: r.ok for r in rows}
    services = []
    for s in stack.services:
        run = seen.services.get(s.name, MISSING)
        services.append(ServiceRow(s.name, verdict.get(s.name, False), run.state, run.health, since.get(s.name, seen.at),
                                   seen.memory.get(s.name), run.memory_limit))
    routes = [RouteRow(r.name, r.service, r.hostname, r.path, code, route_ok(code, r.expect))
              for r in stack.routes for code in [seen.codes.get((r.hostname, r.path), 0)]]
    return Page(stack.project, stack.target, seen.at, [r.name for r in rows if not r.ok], services, routes, current,
                last_good, seen.backup, verdict.get("backup", False), stack.backup["max_age_hours"],
                [DiskRow(d, verdict.get(f"disk:{d.name}", False)) for d in seen.disks], list(sync_jobs), list(alerts))


# -- the records it reads --

def read_release(releases: Path, which: str) -> Release | None:
    try:
        rid = (releases / which).read_text().strip()
    except OSError:
        return None
    if not rid:
        return None
    try:
        rec = json.loads((releases / rid / "deploy.json").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        rec = {}
    try:
        status = (releases / rid / "status").read_text().strip() or "unknown"
    except OSError:
        status = "unknown"
    return Release(rid, status, str(rec.get("commit", "")), rec.get("dirty") is True, str(rec.get("who", "")),
                   str(rec.get("since", "")))


def read_sync_jobs(folder: Path, names) -> list[SyncJob]:
    jobs = []
    for name in names:
        try:
            rec = json.loads((folder / f"{name}.status").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            rec = {}
        ok = rec.get("ok") if isinstance(rec.get("ok"), bool) else None
        jobs.append(SyncJob(name, ok, rec.get("at") or None))
    return jobs


def read_alerts(log: Path, count: int) -> list[str]:
    """The last `count` alerts and channel outcomes, newest first."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    picked = [line for line in lines if " alert: " in line or " channel " in line]
    return list(reversed(picked[-count:])) if count else []


# -- what it writes --

def as_json(page: Page) -> dict:
    def release(r):
        return None if r is None else asdict(r)

    return {
        "project": page.project, "target": page.target, "at": clock.iso(page.at), "epoch": page.at, "ok": page.ok,
        "failing": page.failing,
        "services": [{"name": s.name, "ok": s.ok, "state": s.state, "health": s.health, "since": clock.iso(s.since),
                      "memory_bytes": s.memory, "memory_limit_bytes": s.limit or None} for s in page.services],
        "routes": [{"name": r.name, "url": f"https://{r.host}{r.path}", "service": r.service, "status": r.code, "ok": r.ok}
                   for r in page.routes],
        "release": {"current": release(page.current), "last_good": release(page.last_good)},
        "backup": {"last_verified": page.backup.last_verified, "age_seconds": page.backup.age_seconds,
                   "ok": page.backup_ok, "max_age_hours": page.max_age_hours},
        "disks": [{"name": d.name, "path": d.path, "free_bytes": d.free_bytes, "size_bytes": d.size_bytes,
                   "min_free_bytes": d.min_free_bytes, "ok": d.ok} for d in page.disks],
        "sync_jobs": [{"name": j.name, "ok": j.ok, "at": j.at} for j in page.sync_jobs],
        "alerts": page.alerts,
    }


_templates = Environment(loader=PackageLoader("nasops", "templates"), autoescape=select_autoescape(["html", "j2"]),
                         trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
_templates.filters["ago"] = clock.ago
_templates.filters["iso"] = clock.iso


def html(page: Page) -> str:
    return _templates.get_template("status.html.j2").render(page=page, GiB=1073741824)


def publish(folder: Path, files: dict[str, bytes]) -> None:
    """Each file replaced by a rename (a reader never sees half a file); readable by the edge."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)
    for name, data in files.items():
        part = folder / f".{name}.tmp"
        part.write_bytes(data)
        os.chmod(part, 0o644)
        os.replace(part, folder / name)
