"""The engine, through the Docker SDK: the stack's services as they run, their memory, and a
failed service's logs and health checks.

What the program reads of the engine's state is read here (the backups' and the databases'
programs run in containers through dockerexec.py). `Engine(client, stack)` takes any object shaped like
docker.DockerClient (the tests pass a fake at this boundary)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from nasops.clock import parse_docker_time

ONEOFF_LABEL = "com.docker.compose.oneoff"


@dataclass(frozen=True)
class Running:
    """A service's state on the engine: Docker's state and health words ("missing", "-" when it
    has no container)."""

    service: str
    state: str
    health: str
    started: int | None = None  # epoch seconds
    memory_limit: int = 0  # bytes, 0: none
    container_id: str | None = None
    image: str = "-"  # the tag it was started from
    image_id: str = "-"  # the image it runs ("-": not known yet, a swarm service still starting)

    @property
    def ok(self) -> bool:
        return self.state == "running" and self.health in ("healthy", "none")


class EngineUnreachable(Exception):
    """The Docker socket does not answer."""


def connect():
    """The engine of the mounted socket (DOCKER_HOST, else /var/run/docker.sock)."""
    import docker

    try:
        return docker.from_env(timeout=30)
    except docker.errors.DockerException as e:
        raise EngineUnreachable(f"the Docker engine does not answer ({e}): is the socket mounted "
                                "(scripts/ops.sh does) and Container Manager running?") from None


class Engine:
    def __init__(self, client, stack):
        self.client = client
        self.stack = stack
        self.project_filter = {"label": f"{stack.labels['project']}={stack.project}"}

    def services(self) -> dict[str, Running]:
        """service name -> its state (only the services that have a container or a task)."""
        if self.stack.engine == "swarm":
            return self._swarm_services()
        return self._compose_services()

    def _compose_services(self) -> dict[str, Running]:
        """Per service its container (a one-off `run` container is not the service; of several,
        a running one, else the newest)."""
        found: dict[str, Running] = {}
        containers = self.client.containers.list(all=True, filters=self.project_filter)
        for c in sorted(containers, key=lambda c: c.attrs.get("Created", "")):
            labels = c.attrs.get("Config", {}).get("Labels") or {}
            name = labels.get(self.stack.labels["service"])
            if not name or labels.get(ONEOFF_LABEL) == "True":
                continue
            state = c.attrs.get("State", {})
            run = Running(name, state.get("Status", "unknown"), (state.get("Health") or {}).get("Status", "none"),
                          parse_docker_time(state.get("StartedAt")),
                          int((c.attrs.get("HostConfig") or {}).get("Memory") or 0), c.id,
                          c.attrs.get("Config", {}).get("Image") or "-", c.attrs.get("Image") or "-")
            if name not in found or found[name].state != "running" or run.state == "running":
                found[name] = run
        return found

    def _swarm_services(self) -> dict[str, Running]:
        """Swarm's services (their tasks may run on any node): running/healthy once every
        desired task runs (Swarm counts a task with a health check only once it is healthy),
        else starting."""
        services = self.client.services.list(filters=self.project_filter)
        tasks = self.client.api.tasks(filters={"desired-state": "running"})
        found: dict[str, Running] = {}
        for svc in services:
            spec = svc.attrs["Spec"]
            name = (spec["TaskTemplate"]["ContainerSpec"].get("Labels") or {}).get(self.stack.labels["service"])
            if not name:
                continue
            mine = [t for t in tasks if t.get("ServiceID") == svc.id]
            running = sum(1 for t in mine if t.get("Status", {}).get("State") == "running")
            desired = spec.get("Mode", {}).get("Replicated", {}).get("Replicas", len(mine))
            limit = (spec["TaskTemplate"].get("Resources") or {}).get("Limits", {}).get("MemoryBytes", 0)
            tag = spec["TaskTemplate"]["ContainerSpec"].get("Image") or "-"
            if desired and running == desired:
                found[name] = Running(name, "running", "healthy", None, int(limit or 0), None, tag, self._image_id(tag))
            else:
                found[name] = Running(name, "starting", "starting", None, int(limit or 0), None, tag)
        return found

    def _image_id(self, ref: str) -> str:
        try:
            return self.client.images.get(ref).id
        except Exception:  # noqa: BLE001 - not on this node
            return "-"

    def digests(self, image_id: str) -> list[str]:
        """An image's repository digests ([] when it has none, or is gone)."""
        try:
            return list(self.client.images.get(image_id).attrs.get("RepoDigests") or [])
        except Exception:  # noqa: BLE001 - gone meanwhile
            return []

    def tag(self, image_id: str, ref: str) -> None:
        """`docker tag IMAGE REF`: the tag names that image again."""
        repo, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
        self.client.api.tag(image_id, repo, tag)

    def image_tags(self, image_id: str) -> list[str] | None:
        """The tags of an image ([]: none, None: it is gone)."""
        try:
            return list(self.client.images.get(image_id).tags)
        except Exception:  # noqa: BLE001 - gone
            return None

    def remove_image(self, ref: str) -> bool:
        """`docker image rm REF` (never forced: an image a container uses stays)."""
        try:
            self.client.images.remove(ref)
            return True
        except Exception:  # noqa: BLE001 - in use, or gone meanwhile
            return False

    def _container(self, name: str):
        """The service's container (a running one, else the newest), or None."""
        run = self._compose_services().get(name)
        return self.client.containers.get(run.container_id) if run and run.container_id else None

    def _service(self, name: str):
        """The Swarm service of the stack's service `name`, or None."""
        label = self.stack.labels["service"]
        return next((s for s in self.client.services.list(filters=self.project_filter)
                     if (s.attrs["Spec"]["TaskTemplate"]["ContainerSpec"].get("Labels") or {}).get(label) == name), None)

    def log_tail(self, name: str, lines: int) -> str:
        """The service's last log lines, stdout and stderr as they came ("" when it has none)."""
        try:
            if self.stack.engine == "swarm":
                svc = self._service(name)
                chunks = svc.logs(stdout=True, stderr=True, tail=lines) if svc else []
                return b"".join(chunks).decode(errors="replace")
            c = self._container(name)
            return c.logs(tail=lines).decode(errors="replace") if c else ""
        except Exception as e:  # noqa: BLE001 - gone meanwhile: say so, the report goes on
            return f"(no log: {e})"

    def failure_detail(self, name: str) -> tuple[str, list[str]] | None:
        """Compose: its last health checks' exit codes and output; swarm: its latest tasks'
        node, state and error."""
        try:
            if self.stack.engine == "swarm":
                svc = self._service(name)
                if not svc:
                    return None
                tasks = sorted(svc.tasks(), key=lambda t: t.get("UpdatedAt", ""), reverse=True)[:5]
                return "its tasks", [f"{t.get('Slot', '-')} {t.get('NodeID', '-')[:12]} {t['Status'].get('State')} "
                                     f"{t['Status'].get('Err', '')}".rstrip() for t in tasks]
            c = self._container(name)
            log = ((c.attrs.get("State") or {}).get("Health") or {}).get("Log") if c else None
            if not log:
                return None
            return "last health check", [f"{h.get('ExitCode')}: {str(h.get('Output', '')).strip()}" for h in log[-4:]]
        except Exception:  # noqa: BLE001 - gone meanwhile: nothing more to show
            return None

    def memory(self) -> dict[str, int]:
        """service name -> bytes its running container uses on this node, as `docker stats`
        counts them (usage less the inactive page cache)."""
        containers = self.client.containers.list(filters=self.project_filter)
        label = self.stack.labels["service"]

        def one(c):
            labels = c.attrs.get("Config", {}).get("Labels") or {}
            if labels.get(ONEOFF_LABEL) == "True" or not labels.get(label):
                return None
            try:
                stats = c.stats(stream=False, one_shot=True)
            except TypeError:  # an SDK before one_shot
                stats = c.stats(stream=False)
            except Exception:  # noqa: BLE001 - gone meanwhile: no figure
                return None
            return labels[label], memory_used(stats.get("memory_stats") or {})

        with ThreadPoolExecutor(max_workers=8) as pool:
            return {name: used for name, used in filter(None, pool.map(one, containers)) if used is not None}


def memory_used(memory_stats: dict) -> int | None:
    """What `docker stats` shows as a container's memory: usage less the inactive file cache
    (cgroup v2: inactive_file; v1: total_inactive_file)."""
    if memory_stats.get("usage") is None:  # stopped meanwhile, or the engine keeps no figure
        return None
    extra = memory_stats.get("stats") or {}
    cache = extra.get("inactive_file", extra.get("total_inactive_file", 0))
    return max(0, int(memory_stats["usage"]) - int(cache))
