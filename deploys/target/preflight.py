"""Preflight: what the target must offer before a deploy touches it, read in the deploy's one
state read (templates/lib/preflight.sh.j2, DSM's Task Scheduler from templates/lib/dsm_read.sh.j2)
and judged here against the catalog's
`preflight` settings. Pure: no pyinfra, no I/O. `make preflight` prints the report alone."""

from __future__ import annotations

import re
from dataclasses import dataclass

from deploys.render import dsm

UNITS = {"k": 1 / 1024, "m": 1, "g": 1024}


@dataclass(frozen=True)
class Check:
    name: str
    found: str
    ok: bool
    fix: str = ""

    def row(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        return f"{mark} {self.name:24} {self.found}" + ("" if self.ok else f"\n     fix: {self.fix}")


def facts(lines: list[str]) -> dict[str, str]:
    """The `@preflight` section: `KEY VALUE` lines (free_kib has two words of key)."""
    found = {}
    for line in lines:
        key, _, value = line.partition(" ")
        if key == "free_kib":
            which, _, value = value.partition(" ")
            key = f"free_kib {which}"
        found[key] = value.strip()
    return found


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text)[:3])


def mib(limit: str | None) -> float:
    """A Compose memory limit ("512m", "3g") in MiB (0 for none)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kmg])b?", str(limit or "").lower())
    return float(match.group(1)) * UNITS[match.group(2)] if match else 0.0


def judge(catalog, found: dict[str, str], sudo: str, scheduler: dsm.Held | None = None) -> list[Check]:
    """Every check, in the report's order."""
    want = catalog.preflight
    checks = [Check("DSM", found.get("dsm") and f"DSM {found['dsm']}" or "not DSM", True)]
    if scheduler is not None:
        checks.append(task_scheduler(scheduler))
    arch = found.get("arch", "?")
    checks.append(Check("CPU architecture", arch, arch in want["architectures"],
                        f"the images are pinned for {', '.join(want['architectures'])}: use a NAS of that "
                        "architecture, or pin images built for it and add it to preflight.architectures"))
    docker = found.get("docker", "")
    checks.append(Check("Docker Engine", docker or "not answering",
                        bool(docker) and _version(docker) >= _version(want["min_docker"]),
                        f"Docker {want['min_docker']} or later at {catalog.docker_bin} (DSM: Container "
                        "Manager), its daemon running"))
    compose = found.get("compose", "")
    checks.append(Check("Compose", compose or "missing",
                        bool(compose) and _version(compose) >= _version(want["min_compose"]),
                        f"Compose {want['min_compose']} or later (`docker compose` plugin)"))
    for key in ("deploy_root", "backup_dir"):
        free = int(found.get(f"free_kib {key}") or 0) // 1024
        need = want["min_free_mib"][key]
        path = getattr(catalog, key)
        checks.append(Check(f"free space {key}", f"{free} MiB free at {path}", free >= need,
                            f"free {need - free} MiB more on the volume of {path} (preflight.min_free_mib."
                            f"{key}: {need})"))
    total = int(found.get("mem_kib") or 0) / 1024
    limits = sum(mib(svc.mem_limit) for svc in catalog.services.values())
    share = want["max_memory_share"]
    checks.append(Check("memory", f"limits add up to {limits:.0f} MiB of {total:.0f} MiB",
                        total > 0 and limits <= total * share,
                        f"lower the services' mem_limit (they may use {share:.0%} of the memory) or add "
                        "memory"))
    listening = {int(p) for p in found.get("listening", "").split() if p.isdigit()}
    ours = published_ports(found.get("ours", ""))
    wanted = held_ports(catalog)
    taken = sorted(p for p in wanted if p in listening and p not in ours)
    checks.append(Check("host ports", "free" if not taken else
                        ", ".join(f"{p} ({wanted[p]}) is held by another program" for p in taken),
                        not taken, "stop what holds them, or move the services (host_port, port_offset); "
                        "`ss -ltnp` on the target names the program"))
    checks.append(images(catalog, found))
    checks.append(Check("root", sudo, found.get("user") == "root",
                        "the SSH account must become root: sudo (MARKETPLACE_SUDO_PASSWORD) or root"))
    return checks


def held_ports(catalog) -> dict[int, str]:
    """Each host port the stack publishes, named by the service it serves (a port the edge relays
    is its app's: the operator moves it with that service's host_port)."""
    wanted = {port: name for name, svc in catalog.services.items() for port in svc.published}
    for svc in catalog.services.values():
        wanted.update({host_port: app for host_port, app, _ in svc.relays})
    return wanted


def published_ports(text: str) -> set[int]:
    """The host ports in `docker ps --format {{.Ports}}` lines ("127.0.0.1:3201-3205->3201-3205/tcp,
    [::]:80->80/tcp, 8080/tcp": a run of ports is a range; an unpublished port has no "->")."""
    found: set[int] = set()
    for item in re.split(r"[,\s]+", text):
        host, arrow, _ = item.partition("->")
        match = re.search(r":(\d+)(?:-(\d+))?$", host) if arrow else None
        if match:
            first = int(match.group(1))
            found.update(range(first, int(match.group(2) or first) + 1))
    return found


def task_scheduler(held: dsm.Held) -> Check:
    """DSM's Task Scheduler answers every read the deploy makes, and its own SYNO.API.Info
    offers every version the deploy will call (read-only: nothing is written to find out)."""
    name = "DSM Task Scheduler"
    if not held.available:
        return Check(name, f"no {dsm.SYNOWEBAPI}: not a NAS, no tasks to converge", True)
    needs = "; ".join(str(m) for m in dsm.METHODS.values())
    if held.refused:
        return Check(name, "DSM refused: " + "; ".join(held.refused), False,
                     f"the deploy calls {needs} (DSM 7.2's Task Scheduler API); update DSM to 7.2 or later, "
                     "or run the deploy's account as an administrator with sudo")
    gaps = dsm.missing_methods(held)
    if gaps:
        return Check(name, "SYNO.API.Info lacks " + "; ".join(gaps), False,
                     "update DSM to 7.2 or later (the deploy's calls are those of DSM 7.2's Task Scheduler)")
    ours = sum(len(copies) for copies in held.scheduled.values())
    info = "versions per SYNO.API.Info" if held.apis is not None else "SYNO.API.Info not answered"
    return Check(name, f"reads answered ({len(held.listed)} scheduled tasks, {ours} ours, "
                       f"{len(held.event_names)} triggered); {info}", True)


def images(catalog, found: dict[str, str]) -> Check:
    """Every image the catalog names without a build is on the target, or a registry has it
    (Compose pulls those); one only `make ship` brings (image_from "ship") must be there."""
    present = set(found.get("images", "").split())
    missing = [svc for svc in catalog.services.values() if not svc.build and svc.image not in present]
    to_ship = [svc for svc in missing if svc.image_from == "ship"]
    pulled = [svc.image for svc in missing if svc.image_from != "ship"]
    if to_ship:
        return Check("images", "missing on the target: " + ", ".join(f"{s.image} ({s.name})" for s in to_ship), False,
                     "no registry has them: build each, then from this machine\n" + "\n".join(
                         f"          make ship IMAGE={s.image} TARGET={catalog.target}" for s in to_ship))
    return Check("images", "all present" + (f"; Compose pulls {', '.join(pulled)}" if pulled else ""), True)


def report(checks: list[Check]) -> str:
    return "\n".join(check.row() for check in checks)
