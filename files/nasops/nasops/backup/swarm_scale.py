"""A restore on a swarm: a service is stopped by scaling it to 0 replicas (its tasks may run on
any node, so stopping this node's containers would not do: Swarm would start them again) and
started by scaling it back to the replicas it had; "healthy" is Swarm's own count of its running
tasks. A later deploy puts the stack file's replicas back whatever happened in between."""

from __future__ import annotations

import time
from dataclasses import dataclass

from nasops.engine import Engine

ENDED = {"complete", "shutdown", "failed", "rejected", "orphaned", "remove"}


@dataclass
class Scaled:
    """A service this restore scaled to 0, and the replicas it had."""

    name: str  # the stack's service
    service: object  # docker.models.services.Service
    replicas: int


class SwarmServices:
    def __init__(self, client, stack, clock=time.monotonic, sleep=time.sleep):
        self.client, self.stack = client, stack
        self.clock, self.sleep = clock, sleep
        self.label = stack.labels["service"]

    def of(self, names: list[str]) -> list[tuple[str, object]]:
        """(name, Service) of the stack's services among names."""
        found = []
        for svc in self.client.services.list(filters={"label": f"{self.stack.labels['project']}={self.stack.project}"}):
            name = (svc.attrs["Spec"]["TaskTemplate"]["ContainerSpec"].get("Labels") or {}).get(self.label)
            if name in names:
                found.append((name, svc))
        return sorted(found, key=lambda pair: pair[0])

    def stop(self, names: list[str], timeout_s: float) -> list[Scaled]:
        """Each service scaled to 0; returns once none of their tasks runs (or timeout_s)."""
        scaled = []
        for name, svc in self.of(names):
            replicas = (svc.attrs["Spec"].get("Mode") or {}).get("Replicated", {}).get("Replicas", 1)
            if replicas:
                svc.scale(0)
                scaled.append(Scaled(name, svc, int(replicas)))
        deadline = self.clock() + timeout_s
        while scaled and self.clock() < deadline and any(self.running(s) for s in scaled):
            self.sleep(0.5)
        return scaled

    def running(self, s: Scaled) -> int:
        """The service's tasks that have not ended yet (on any node)."""
        return sum(1 for t in self.client.api.tasks(filters={"service": s.service.id})
                   if (t.get("Status") or {}).get("State") not in ENDED)

    def start(self, scaled: list[Scaled]) -> list[str]:
        """Each service back to its replicas; the errors, one line each."""
        errors = []
        for s in scaled:
            try:
                s.service.reload()
                s.service.scale(s.replicas)
            except Exception as e:  # noqa: BLE001 - the others start anyway; the gate says what is wrong
                errors.append(f"could not scale {s.name} back to {s.replicas}: {e}")
        return errors

    def wait_running(self, scaled: list[Scaled], timeout_s: float) -> None:
        """Until the engine counts each service running with all its replicas (Swarm counts a task
        with a health check as running once it is healthy; the gate then asks its route)."""
        engine = Engine(self.client, self.stack)
        deadline = self.clock() + timeout_s
        pending = list(scaled)
        while pending and self.clock() < deadline:
            seen = engine.services()
            pending = [s for s in pending if not (s.name in seen and seen[s.name].ok)]
            if pending:
                self.sleep(0.5)
