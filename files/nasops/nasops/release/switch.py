"""Zero-gap replacements (Kamal's, within Compose): the edge addresses a changed stateless
service's old container by name; its new container starts beside it and must pass its health
check; the edge is then pointed at the new one by name (a file of its config folder, a graceful `nginx -s reload`), the edge's requests to the
old one finish (its old workers exit), and the old container stops. A new container that never
becomes healthy is removed: the old one keeps serving and the release fails (it rolls back).
The edge itself keeps its container when only its configuration changed: the release loads it by
a graceful reload (`reload_config`: its old workers finish what they serve).

The description's release.switch names the zero-gap services, the others with the reason they
are replaced with a gap, and the edge's switch folder. Which containers a converge replaces is
Compose's to say (`--dry-run up`, read by `recreated`)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from nasops.engine import ONEOFF_LABEL

SHUTTING_DOWN = "shutting down"


@dataclass(frozen=True)
class Current:
    """A service's running container as the converge finds it."""

    service: str
    container: object  # docker.models.containers.Container (or a test's fake)


def recreated(dry_run: str) -> set[str]:
    """The containers `docker compose --dry-run up` says it would recreate (Compose's own rule:
    its config hash, with the dependencies as `up` sees them, and the image)."""
    found = set()
    for line in dry_run.splitlines():
        words = line.split()
        if len(words) >= 2 and words[-1] == "Recreate" and "Container" in words:
            found.add(words[words.index("Container") + 1])
    return found


def health_of(attrs: dict) -> str:
    state = attrs.get("State") or {}
    if state.get("Status") in ("exited", "dead"):
        return state["Status"]
    return (state.get("Health") or {}).get("Status", "none")


class Switch:
    """The zero-gap part of one converge. compose(*args, capture=False) runs the Compose plugin
    and returns a CompletedProcess."""

    def __init__(self, stack, client, compose, out, err, clock=time.monotonic, sleep=time.sleep):
        self.stack, self.client, self.compose = stack, client, compose
        self.out, self.err = out, err
        self.clock, self.sleep = clock, sleep
        spec = stack.release.get("switch") or {}
        self.zero_gap = {s["service"]: s["routed"] for s in spec.get("zero_gap", [])}
        self.gap = spec.get("gap", {})
        self.edge_spec = spec.get("edge")
        self.drain_timeout_s = spec.get("drain_timeout_s", 30)
        self.timeouts = {s.name: s.gate_timeout_s for s in stack.services}

    # -- what the converge will replace ------------------------------------------------------
    def current(self) -> dict[str, list[Current]]:
        """service -> its running containers (a one-off `run` container is not the service)."""
        labels = self.stack.labels
        found: dict[str, list[Current]] = {}
        for c in self.client.containers.list(filters={"label": f"{labels['project']}={self.stack.project}"}):
            lab = c.attrs.get("Config", {}).get("Labels") or {}
            name = lab.get(labels["service"])
            if name and lab.get(ONEOFF_LABEL) != "True":
                found.setdefault(name, []).append(Current(name, c))
        return found

    def plan(self) -> tuple[dict[str, Current], list[str]]:
        """(the zero-gap services `up` would recreate -> their old container, the others it
        would recreate, which are replaced with a gap)."""
        run = self.compose("--dry-run", "up", "-d", "--remove-orphans", capture=True)
        doomed = recreated(run.stdout + run.stderr) if run.returncode == 0 else set()
        switch, gap = {}, []
        for name, running in sorted(self.current().items()):
            if not any(cur.container.name in doomed for cur in running):
                continue
            if name in self.zero_gap and len(running) == 1:
                switch[name] = running[0]
            else:
                gap.append(name)
        return switch, gap

    # -- the switch ----------------------------------------------------------------------------
    def __call__(self, failed_file: Path) -> bool:
        switch, gap = self.plan()
        for name in gap:
            why = self.gap.get(name, "more than one container of it runs")
            self.out.write(f"release: {name} is replaced with a gap: {why}\n")
        if not switch:
            return True
        names = sorted(switch)
        routed = [n for n in names if self.zero_gap.get(n)]
        if routed:
            # the edge addresses the old containers by name first: the new ones join the
            # service's DNS name as soon as they start, long before they are healthy
            self._point_edge({n: switch[n].container for n in routed})
        t0 = self.clock()
        scale = [arg for name in names for arg in ("--scale", f"{name}=2")]
        # not --no-deps: Compose would hash the service without its dependencies, and `up`
        # would then recreate the new container (--no-recreate leaves the running ones be)
        rc = self.compose("up", "-d", "--no-recreate", *scale, *names).returncode
        new = self._new_containers(switch)
        failed = [n for n in names if n not in new] if rc == 0 else names
        if not failed:
            failed = self._wait_healthy(new)
        if failed:
            self._report(failed, new)
            self._remove(list(new.values()))
            if routed:
                self._clear_edge(routed)
            Path(failed_file).write_text("".join(f"{n}\n" for n in failed))
            self.err.write(f"release: the old containers of {', '.join(names)} keep serving\n")
            return False
        started = self.clock() - t0
        drained = self._point_edge({n: new[n] for n in routed}) if routed else 0.0
        self._remove([switch[n].container for n in names])
        if routed:
            self._clear_edge(routed)
        self.out.write(f"release: {', '.join(names)} replaced without a gap (new containers healthy in "
                       f"{started:.1f} s{'; the edge switched, its requests to the old ones drained in %.1f s' % drained if routed else ''})\n")
        return True

    def _new_containers(self, switch: dict[str, Current]) -> dict[str, object]:
        old = {cur.container.id for cur in switch.values()}
        new = {}
        for name, running in self.current().items():
            if name in switch:
                fresh = [c.container for c in running if c.container.id not in old]
                if fresh:
                    new[name] = fresh[0]
        return new

    def _wait_healthy(self, new: dict[str, object]) -> list[str]:
        """Wait for every new container to be healthy; the ones that failed ([]: all healthy)."""
        start = self.clock()
        pending = dict(new)
        while pending:
            elapsed = self.clock() - start
            for name, c in list(pending.items()):
                c.reload()
                health = health_of(c.attrs)
                if health == "healthy":
                    self.out.write(f"gate: {name} healthy beside the old container ({int(elapsed)}s)\n")
                    del pending[name]
                elif health in ("unhealthy", "exited", "dead") or elapsed >= self.timeouts.get(name, 300):
                    why = health if health in ("unhealthy", "exited", "dead") else f"{health} after {self.timeouts.get(name, 300)} s"
                    self.err.write(f"gate: {name} FAILED: {why}\n")
                    return [name]
            if pending:
                self.sleep(1)
        return []

    def _report(self, failed: list[str], new: dict[str, object]) -> None:
        """The failed new containers' last log lines and health checks (as the gate reports)."""
        for name in failed:
            c = new.get(name)
            if c is None:
                self.err.write(f"---- {name}: Compose did not start a new container beside the old one\n")
                continue
            self.err.write(f"---- {name}: last log lines\n")
            try:
                text = c.logs(tail=20).decode(errors="replace")
            except Exception as e:  # noqa: BLE001 - gone meanwhile
                text = f"(no log: {e})"
            self.err.write(text if not text or text.endswith("\n") else text + "\n")
            log = ((c.attrs.get("State") or {}).get("Health") or {}).get("Log") or []
            if log:
                self.err.write(f"---- {name}: last health check\n")
                self.err.write("".join(f"{h.get('ExitCode')}: {str(h.get('Output', '')).strip()}\n" for h in log[-4:]))

    def _remove(self, containers: list) -> None:
        """Stop (SIGTERM, Docker's grace period: the app finishes what it serves) and remove."""
        def one(c):
            try:
                c.stop()
                c.remove()
            except Exception as e:  # noqa: BLE001 - gone meanwhile
                self.err.write(f"release: could not remove container {getattr(c, 'name', c)}: {e}\n")

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(one, containers))

    # -- the edge ------------------------------------------------------------------------------
    def _edge(self):
        running = self.current().get(self.edge_spec["service"]) if self.edge_spec else None
        return running[0].container if running and len(running) == 1 else None

    def _switch_file(self, name: str) -> Path:
        return self.stack.root / self.edge_spec["folder"] / f"{name}.conf"

    def _point_edge(self, new: dict[str, object]) -> float:
        """The edge's new requests to each service go to its new container; returns the
        seconds its requests to the old ones took to finish."""
        edge = self._edge()
        if edge is None:
            self.err.write("release: no running edge to switch: the old containers stop with a gap\n")
            return 0.0
        folder = self.stack.root / self.edge_spec["folder"]
        folder.mkdir(parents=True, exist_ok=True)
        for name, c in new.items():
            tmp = folder / f".{name}.tmp"
            tmp.write_text(f"set $upstream {c.name};\n")  # a container name: Docker's [a-zA-Z0-9_.-]
            tmp.replace(self._switch_file(name))
        before = self._workers(edge)
        if not self._reload(edge):
            return 0.0
        start = self.clock()
        while self.clock() - start < self.drain_timeout_s:
            now = self._workers(edge)
            serving = [pid for pid, title in now.items() if SHUTTING_DOWN not in title]
            if serving and not set(before) & set(now):
                return self.clock() - start
            self.sleep(0.1)
        self.err.write(f"release: the edge's old workers still serve after {self.drain_timeout_s} s "
                       "(drain_timeout_s): stopping the old containers now\n")
        return self.clock() - start

    def _clear_edge(self, names: list[str]) -> None:
        """Back to the service names (each now has its new container only)."""
        for name in names:
            self._switch_file(name).unlink(missing_ok=True)
        edge = self._edge()
        if edge is not None:
            self._reload(edge)

    def _reload(self, edge, then: str = "the old containers stop with a gap") -> bool:
        for argv in (["nginx", "-t", "-q"], ["nginx", "-s", "reload"]):
            code, output = edge.exec_run(argv)
            if code != 0:
                text = output.decode(errors="replace").strip() if isinstance(output, bytes) else str(output)
                self.err.write(f"release: the edge refused `{' '.join(argv)}` ({text}): {then}\n")
                return False
        return True

    def reload_config(self, failed_file: Path) -> bool:
        """The edge's configuration loaded without a new container: when the hash of its config
        folder (the description's) differs from the one recorded as loaded, `nginx -t` then a
        graceful `nginx -s reload`, and the hash recorded. A refusal fails the release (the
        edge still serves what it had loaded; the rollback puts the files back)."""
        want = (self.edge_spec or {}).get("config_sha")
        if not want:
            return True
        record = self.stack.root / self.edge_spec["loaded"]
        if record.is_file() and record.read_text().strip() == want:
            return True
        edge = self._edge()
        if edge is None or not self._reload(edge, then="it serves the configuration it had loaded"):
            if edge is None:
                self.err.write("release: no running edge to load its configuration\n")
            Path(failed_file).write_text(f"{self.edge_spec['service']}\n")
            return False
        tmp = record.with_name(f".{record.name}.tmp")
        tmp.write_text(want + "\n")
        tmp.replace(record)
        self.out.write("release: edge loaded its new configuration without a gap (nginx -s reload)\n")
        return True

    @staticmethod
    def _workers(edge) -> dict[str, str]:
        """pid -> title of the edge's nginx worker processes (`docker top`)."""
        top = edge.top()
        titles = top.get("Titles") or []
        col = next((i for i, t in enumerate(titles) if t in ("CMD", "COMMAND")), len(titles) - 1)
        pid = titles.index("PID") if "PID" in titles else 1
        return {row[pid]: row[col] for row in top.get("Processes") or [] if "worker process" in row[col]}

