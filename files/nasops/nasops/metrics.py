"""The status page's metrics in Prometheus's text format, through prometheus_client's own
exposition (names, label values and escaping are the library's)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily


class _Snapshot:
    def __init__(self, families):
        self.families = families

    def collect(self):
        return iter(self.families)


def _gauge(name, doc, labels=(), samples=()):
    g = GaugeMetricFamily(f"marketplace_{name}", doc, labels=list(labels))
    for values, value in samples:
        g.add_metric(list(values), value)
    return g


def exposition(page) -> bytes:
    """page: status_page.Page."""
    s = page
    fams = [
        _gauge("up", "1 when every check of the stack is ok (what the alerts judge)", ["project"],
               [((s.project,), int(s.ok))]),
        _gauge("service_up", "1 when the service runs and is healthy and its health route answers", ["service"],
               [((v.name,), int(v.ok)) for v in s.services]),
        _gauge("service_state_since_seconds", "when the service's state and health last changed (Unix time)",
               ["service", "state", "health"], [((v.name, v.state, v.health), v.since) for v in s.services]),
        _gauge("memory_bytes", "memory the service's container uses", ["service"],
               [((v.name,), v.memory) for v in s.services if v.memory is not None]),
        _gauge("memory_limit_bytes", "the service's memory limit", ["service"],
               [((v.name,), v.limit) for v in s.services if v.limit]),
        _gauge("route_http_status", "the HTTP status a route answers through the edge (0: no answer)",
               ["route", "host", "path"], [((r.name, r.host, r.path), r.code) for r in s.routes]),
        _gauge("backup_age_seconds", "age of the last verified backup (since the stack's start when there is none)",
               samples=[((), s.backup.age_seconds)]),
        _gauge("backup_ok", "1 when the last verified backup is younger than backup.max_age_hours",
               samples=[((), int(s.backup_ok))]),
        _gauge("disk_free_bytes", "free space of the file system of deploy_root and backup_dir", ["disk"],
               [((d.name,), d.free_bytes) for d in s.disks]),
        _gauge("disk_size_bytes", "size of that file system", ["disk"], [((d.name,), d.size_bytes) for d in s.disks]),
        _gauge("sync_ok", "1 when the sync job's last run succeeded (absent: never ran)", ["job"],
               [((j.name,), int(j.ok)) for j in s.sync_jobs if j.ok is not None]),
        _gauge("release_info", "the release that runs", ["release", "last_good"],
               [((s.current.id, s.last_good.id if s.last_good else ""), 1)] if s.current else []),
        _gauge("snapshot_timestamp_seconds", "when this snapshot was taken (Unix time)", samples=[((), s.at)]),
    ]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(fams))
    return generate_latest(registry)
