"""What the target looks like now: the engine's services, every route's answer through the
edge, the last verified backup's age, free disk, the shared tunnel's readiness.

`observe()` gathers (the engine and the network, probes in parallel); everything after it
(checks, the page, the alerts) is a pure function of the Observation it returns."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from nasops import clock
from nasops.engine import Running


@dataclass(frozen=True)
class BackupAge:
    last_verified: str | None  # its id; None: none yet (the age is then the stack's)
    age_seconds: int


@dataclass(frozen=True)
class Disk:
    name: str
    path: str  # as the description names it
    measured: str  # the nearest existing folder, whose file system was measured
    free_bytes: int
    size_bytes: int
    min_free_bytes: int

    @property
    def ok(self) -> bool:
        return self.free_bytes // 1048576 >= self.min_free_bytes // 1048576


@dataclass(frozen=True)
class Observation:
    at: int
    services: dict[str, Running]
    codes: dict[tuple[str, str], int]  # (host, path) -> HTTP status through the edge, 0: none
    backup: BackupAge
    disks: tuple[Disk, ...]
    tunnel_code: int | None = None  # the shared tunnel's GET /ready (None: no shared tunnel)
    memory: dict[str, int] = field(default_factory=dict)


def observe(stack, engine, prober, now: int | None = None, memory: bool = False) -> Observation:
    now = clock.now() if now is None else now
    asks = {(s.health_host, s.health_path) for s in stack.services if s.health_path}
    asks |= {(r.hostname, r.path) for r in stack.routes}
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = {ask: pool.submit(prober.route, *ask) for ask in sorted(asks, key=str)}
        tunnel = pool.submit(prober.ready, stack.tunnel["ready_url"]) if stack.tunnel else None
        used = pool.submit(engine.memory) if memory else None
        services = engine.services()
        return Observation(now, services, {k: f.result() for k, f in codes.items()}, backup_age(stack, now),
                           tuple(disks(stack)), tunnel.result() if tunnel else None,
                           used.result() if used else {})


def backup_age(stack, now: int) -> BackupAge:
    """The last verified backup (backup_dir/last-verified: "ID EPOCH", its folder still there),
    else none, aged from the stack's first release (or now)."""
    folder = Path(stack.backup["dir"])
    try:
        words = (folder / "last-verified").read_text().split()
    except OSError:
        words = []
    if len(words) >= 2 and words[0] and (folder / words[0]).is_dir() and words[-1].isdigit():
        return BackupAge(words[0], now - int(words[-1]))
    releases = stack.path("releases")
    first = sorted(p.name for p in releases.glob("[0-9]*") if p.is_dir()) if releases.is_dir() else []
    epoch = now
    if first:
        try:
            epoch = int((releases / first[0] / "deploy.json").stat().st_mtime)
        except OSError:
            pass
    return BackupAge(None, now - epoch)


def disks(stack):
    for d in stack.disks:
        where = Path(d["path"])
        while not where.is_dir() and where != where.parent:
            where = where.parent
        st = os.statvfs(where)
        yield Disk(d["name"], d["path"], str(where), st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize,
                   int(d["min_free_mib"]) * 1048576)
