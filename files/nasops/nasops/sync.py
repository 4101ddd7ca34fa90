"""`nasops sync NAME` (scripts/sync.sh, DSM's sync tasks): one integration sync job. The job's
logic is the Connector's (its sync command, in its running container); this gives it its log
(logs/integration/NAME.log) and records the outcome in logs/integration/NAME.status, which the
Connector reports in /api/health as NAME_sync_ok with the time of the run, and the status page
shows."""

from __future__ import annotations

import json
import os

from nasops import clock, dockerexec, service_env


def record(ok: bool, name: str, started: str) -> str:
    return json.dumps({"job": name, "ok": ok, "at": started}) + "\n"


def run(stack, name: str, client, exec_run=dockerexec.run, now=clock.now) -> int:
    spec = stack.sync
    if name not in stack.sync_jobs:
        raise SystemExit(f"sync: unknown job {name!r} (one of: {', '.join(stack.sync_jobs)})")
    folder = stack.path("integration")
    folder.mkdir(parents=True, exist_ok=True)
    started = clock.iso(now())
    label = f"{stack.labels['service']}={spec['service']}"
    found = client.containers.list(filters={"label": [f"{stack.labels['project']}={stack.project}", label]})
    with open(folder / f"{name}.log", "ab") as log:
        log.write(f"{started} sync {name}: start\n".encode())
        log.flush()
        if found:
            result = exec_run(client.api, found[0].id, [*spec["command"], name], stdout=log,
                              env=service_env.exec_env(stack, spec["service"]) or None)
            log.write(result.err)
            ok = result.rc == 0
        else:
            log.write(f"no running container of {spec['service']}\n".encode())
            ok = False
        log.write(f"{clock.iso(now())} sync {name}: ok={'true' if ok else 'false'}\n".encode())
    # read by the Connector (its own UID) through a read-only mount: 0644, no secret in it
    part = folder / f".{name}.status.tmp"
    part.write_text(record(ok, name, started))
    os.chmod(part, 0o644)
    os.replace(part, folder / f"{name}.status")
    return 0 if ok else 1
