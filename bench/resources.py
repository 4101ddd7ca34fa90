"""What each service of a deployed target uses (part of `make bench`; alone:
`python -m bench.resources [TARGET]`): memory and CPU per service from `docker stats`,
sampled a few times while the stack idles, next to the memory limit the catalog gives it. The
figures docs/OUTGROW.md reads to say when one NAS is no longer enough."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

from deploys import catalog as catalog_mod
from deploys import layout

UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "kB": 1000, "MB": 1000**2, "GB": 1000**3}


def mib(text: str) -> float:
    """'12.5MiB' -> 12.5 (docker stats' units)."""
    number, unit = re.fullmatch(r"([\d.]+)\s*([A-Za-z]+)", text.strip()).groups()
    return float(number) * UNITS[unit] / 1024**2


def limit_mib(mem_limit: str | None) -> float | None:
    if not mem_limit:
        return None
    number, unit = re.fullmatch(r"(\d+)([bkmg]?)", mem_limit.lower()).groups()
    return int(number) * {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit] / 1024**2


def sample(catalog) -> dict[str, tuple[float, float]]:
    """service -> (memory MiB, CPU %) now, of the target's running containers on this engine."""
    label = layout.project_label(catalog.engine)
    ids = subprocess.run(["docker", "ps", "-q", "--filter", f"label={label}={catalog.project_name}"],
                         capture_output=True, text=True, check=True).stdout.split()
    if not ids:
        return {}
    fmt = '{{index .Config.Labels "%s"}} {{.Id}}' % layout.service_label(catalog.engine)
    names = dict(reversed(line.split()) for line in subprocess.run(
        ["docker", "inspect", "-f", fmt, *ids], capture_output=True, text=True, check=True).stdout.splitlines())
    out = subprocess.run(["docker", "stats", "--no-stream", "--no-trunc", "--format",
                          "{{.ID}}\t{{.MemUsage}}\t{{.CPUPerc}}", *ids],
                         capture_output=True, text=True, check=True).stdout
    found: dict[str, tuple[float, float]] = {}
    for line in out.splitlines():
        cid, mem, cpu = line.split("\t")
        used = mib(mem.split("/")[0])
        name = names.get(cid, cid[:12])
        prev = found.get(name, (0.0, 0.0))
        found[name] = (prev[0] + used, prev[1] + float(cpu.rstrip("%") or 0))
    return found


def measure(catalog, samples: int = 5, pause_s: float = 2.0) -> dict:
    """Per service: memory (median and max MiB), CPU % (mean), the catalog's limit; and totals."""
    seen: dict[str, list[tuple[float, float]]] = {}
    for i in range(samples):
        for name, value in sample(catalog).items():
            seen.setdefault(name, []).append(value)
        if i + 1 < samples:
            time.sleep(pause_s)
    services = {}
    for name, values in sorted(seen.items()):
        mems = sorted(m for m, _ in values)
        svc = catalog.services.get(name)
        services[name] = {"memory_mib": round(mems[len(mems) // 2], 1), "memory_max_mib": round(mems[-1], 1),
                          "cpu_percent": round(sum(c for _, c in values) / len(values), 2),
                          "limit_mib": limit_mib(svc.mem_limit) if svc else None}
    limits = [s["limit_mib"] for s in services.values() if s["limit_mib"]]
    return {"samples": samples, "services": services,
            "memory_mib": round(sum(s["memory_mib"] for s in services.values()), 1),
            "limits_mib": round(sum(limits), 1),
            "cpu_percent": round(sum(s["cpu_percent"] for s in services.values()), 2)}


def rows_of(result: dict) -> list[str]:
    lines = [f"{'service':16} {'memory MiB':>10} {'max MiB':>8} {'limit MiB':>9} {'CPU %':>6}"]
    for name, s in result["services"].items():
        limit = f"{s['limit_mib']:.0f}" if s["limit_mib"] else "-"
        lines.append(f"{name:16} {s['memory_mib']:10.1f} {s['memory_max_mib']:8.1f} {limit:>9} {s['cpu_percent']:6.2f}")
    lines.append(f"{'all':16} {result['memory_mib']:10.1f} {'':8} {result['limits_mib']:9.0f} {result['cpu_percent']:6.2f}")
    return lines


def main(argv: list[str]) -> int:
    catalog = catalog_mod.load(argv[0] if argv else "staging")
    result = measure(catalog)
    print("\n".join(rows_of(result)))
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
