"""A release task on a swarm: what Compose's `run --rm --no-deps -T SERVICE ARGV` is on the NAS,
a one-off container of the service's new image on this node (the manager, which holds the data),
through the Docker SDK.

It runs with the image's own entrypoint and ARGV as its command, the service's environment and
secret env file (read here: the values reach the container's environment, never an argv or a
log), on the stack's networks of the service (attachable: deploys/render/swarm.py) and with its
data folders. Its output goes to the task's log, its exit code is the task's, and the container
is removed whatever happened. The description's swarm.one_off says what each service's is."""

from __future__ import annotations

from pathlib import Path

from nasops import service_env

ONE_OFF_LABEL = "marketplace.release-task"


class OneOff:
    """One release task's container. client: the Docker SDK's (or a test's fake)."""

    def __init__(self, stack, client, timeout_s: int | None = None):
        self.stack, self.client = stack, client
        self.specs = (stack.swarm or {}).get("one_off") or {}
        self.timeout_s = timeout_s or stack.release["wait_timeout_s"]

    def __call__(self, task: dict, log: Path) -> int:
        """Runs it to its end; its output in log; its exit code (125: it could not start)."""
        spec = self.specs.get(task["service"])
        if spec is None:
            log.write_text(f"no one-off container is described for {task['service']} (swarm.one_off)\n")
            return 125
        env = dict(spec["environment"])
        if spec["secret_env_file"]:
            env.update(service_env.parse(self.stack.file(spec["secret_env_file"]).read_text()))
        networks = list(spec["networks"])
        volumes = {str(self.stack.file(m["source"])): {"bind": m["target"], "mode": "ro" if m["read_only"] else "rw"}
                   for m in spec["mounts"]}
        container = None
        try:
            container = self.client.containers.create(
                spec["image"], command=list(task["argv"]), environment=env, volumes=volumes,
                network=networks[0] if networks else None, labels={
                    ONE_OFF_LABEL: f"{task['service']}/{task['name']}", "marketplace.target": self.stack.target},
                name=None, detach=True)
            for name in networks[1:]:
                self.client.networks.get(name).connect(container)
            container.start()
            code = container.wait(timeout=self.timeout_s).get("StatusCode", 1)
            log.write_bytes(container.logs(stdout=True, stderr=True))
            return int(code)
        except Exception as e:  # noqa: BLE001 - the task failed to run: said in its log, as its outcome
            with open(log, "a") as f:
                f.write(f"the one-off container of {task['service']} did not run to its end: "
                        f"{getattr(e, 'explanation', None) or e}\n")
            return 125
        finally:
            if container is not None:
                try:
                    container.remove(force=True)
                except Exception:  # noqa: BLE001 - gone already
                    pass
