"""`nasops stack deploy [FAILED_FILE] [--databases]`: Swarm converges the stack on this manager
(deploys/render/swarm.py says what the stack file holds), the way a release converges Compose.

1. a node with the data label must exist (the pinned services run there only), and the stack's
   networks (a release's tasks join them before the apps that use them are deployed);
2. the images the stack builds itself are built here when missing (no registry: a replica on
   another node needs its image loaded there, `make ship`);
3. each secret env file's hash names its Swarm secret (SECRET_HASH_*), so a changed value rolls
   the service;
4. the images' own entrypoint and command go to swarm/entrypoints.yml (the services with secret
   env start through files/swarm/with-env.sh, which then runs them);
5. `docker stack deploy` (the Docker CLI: the Engine API has no stack; --databases: the database
   servers alone, nothing pruned; else all, --prune), then until Swarm has finished every
   service's update. A service Swarm rolled back (its new task failed within
   swarm.update_monitor_s) fails the release, its name in FAILED_FILE."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from nasops.clock import parse_docker_time

USAGE = "usage: stack deploy [FAILED_FILE] [--databases]"


@dataclass(frozen=True)
class Progress:
    """One look at a service's update: done, wait (its state in words) or failed (why)."""

    verdict: str
    words: str = ""


def progress(name: str, update: dict | None, since: float, running: int, desired: int, placement_error: str) -> Progress:
    """The rule, as data: a service's Swarm UpdateStatus (None: never updated), the update's
    start we wait for, its running and desired tasks, and a task's "no suitable node" error."""
    state = (update or {}).get("State") or "none"
    if state in ("rollback_completed", "rollback_paused", "paused"):
        started = parse_docker_time((update or {}).get("StartedAt")) or 0
        if started >= int(since):
            return Progress("failed", f"Swarm rolled {name} back ({state}): {(update or {}).get('Message') or 'its new task failed'}")
        return Progress("done")  # an older update's: this deploy changed nothing of it
    if state in ("none", "completed"):
        if desired and running == desired:
            return Progress("done")
        if placement_error:  # a task no node can take (its host port, its placement) will not start by waiting
            return Progress("failed", f"{name} cannot run all its replicas ({running}/{desired}): {placement_error}")
        return Progress("wait", f"starting ({running}/{desired})")
    return Progress("wait", state)


def interpolation_safe(word: str) -> str:
    """A word of the stack file that `docker stack deploy` must not interpolate."""
    return word.replace("$", "$$")


def entrypoints(services: list[dict], wanted: list[str], image_config) -> dict:
    """swarm/entrypoints.yml as data: each wanted service with secret env runs its image's
    entrypoint, then the catalog's command, else its image's. image_config(tag) -> Config."""
    found = {}
    for s in services:
        if s["service"] not in wanted:
            continue
        config = image_config(s["image"])
        command = s["command"] if s["command"] is not None else (config.get("Cmd") or [])
        found[s["service"]] = {"command": [interpolation_safe(w) for w in [*(config.get("Entrypoint") or []), *command]]}
    return {"version": "3.8", "services": found}


class StackDeploy:
    """One `docker stack deploy` of the stack of `stack` and the wait for Swarm's updates."""

    def __init__(self, stack, client, out=None, err=None, run=subprocess.run, clock=time.time, sleep=time.sleep):
        self.stack, self.client, self.spec = stack, client, stack.swarm
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.run, self.clock, self.sleep = run, clock, sleep

    def __call__(self, failed_file: Path | None = None, databases_only: bool = False) -> bool:
        failed: list[str] = []
        try:
            return self._deploy(failed, databases_only)
        finally:
            if failed_file is not None:
                Path(failed_file).write_text("".join(f"{name}\n" for name in failed))

    def _deploy(self, failed: list[str], databases_only: bool) -> bool:
        if not (self.data_node() and self.build() and self.networks()):
            return False
        services, stack_file, prune = self.spec["services"], self.spec["stack_file"], ["--prune"]
        if databases_only:  # the database servers alone: the others stay as they run
            services, stack_file, prune = self.stack.release["database_services"], self.spec["databases_file"], []
            if not services:
                return True
        self.write_entrypoints(services)
        since = self.clock()
        env = {**os.environ, **self.hashes()}
        argv = [self.spec["docker"], "stack", "deploy", *prune, "--resolve-image", "never",
                "-c", stack_file, "-c", self.spec["entrypoints_file"], self.stack.project]
        self.out.flush()
        done = self.run(argv, cwd=self.stack.root, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            said = "".join(line + "\n" for line in (done.stdout + done.stderr).splitlines()
                           if not line.startswith(("Creating", "Updating")) and "detach" not in line)
            self.err.write(f"stack: docker stack deploy refused the stack:\n{said}")
            return False
        self.out.write(f"stack: deployed {' '.join(services)}; waiting for Swarm's updates\n")
        self.out.flush()
        return self.wait_updates(since, services, failed)

    def data_node(self) -> bool:
        import docker

        label = self.spec["data_label"]
        try:
            if self.client.nodes.list(filters={"node.label": label}):
                return True
        except docker.errors.APIError as e:
            self.err.write(f"stack: this engine is not a swarm manager ({e.explanation or e}): "
                           "docker swarm init, or run the deploy against the manager\n")
            return False
        self.err.write(f"stack: no node of this swarm has the label {label}: the services with data run only there. "
                       f"Put it on the node that holds {self.stack.root}: docker node update --label-add {label} NODE\n")
        return False

    def build(self) -> bool:
        """The images the stack builds itself (Swarm does not read `build`), when missing."""
        import docker

        for b in self.spec["builds"]:
            try:
                self.client.images.get(b["tag"])
                continue
            except docker.errors.ImageNotFound:
                pass
            self.out.write(f"stack: building {b['tag']}\n")
            try:
                self.client.images.build(path=str(self.stack.file(b["context"])), tag=b["tag"],
                                         buildargs=b["build_args"] or None, rm=True)
            except docker.errors.BuildError as e:
                lines = [str(step.get("stream") or step.get("error") or "") for step in e.build_log]
                self.err.write(f"stack: the build of {b['tag']} failed: {e.msg}\n" + "".join(lines[-20:]))
                return False
        return True

    def networks(self) -> bool:
        """The stack's networks, each made as `docker stack deploy` makes it (overlay, attachable,
        its namespace label, so the stack owns it) when missing: a release's tasks join them
        before the apps that would make them are deployed (the first release)."""
        namespace = "com.docker.stack.namespace"
        have = {n.name for n in self.client.networks.list(filters={"label": f"{namespace}={self.stack.project}"})}
        for net in self.spec.get("networks") or []:
            if net["name"] in have:
                continue
            try:
                self.client.networks.create(net["name"], driver="overlay", internal=net["internal"], attachable=True,
                                            scope="swarm", labels={namespace: self.stack.project})
            except Exception as e:  # noqa: BLE001 - said, and the release stops
                self.err.write(f"stack: could not make the network {net['name']}: {getattr(e, 'explanation', None) or e}\n")
                return False
            self.out.write(f"stack: made the network {net['name']}\n")
        return True

    def hashes(self) -> dict[str, str]:
        """SECRET_HASH_<SERVICE>: the content of each secret env file names its Swarm secret."""
        return {s["variable"]: hashlib.sha256(self.stack.file(s["file"]).read_bytes()).hexdigest()[:12]
                for s in self.spec["secret_env"]}

    def write_entrypoints(self, services: list[str]) -> None:
        def image_config(tag: str) -> dict:
            return self.client.images.get(tag).attrs.get("Config") or {}

        document = entrypoints(self.spec["secret_env"], services, image_config)
        path = self.stack.file(self.spec["entrypoints_file"])
        part = path.with_name(path.name + ".tmp")
        # JSON is YAML: the stack file's reader takes it as it is
        part.write_text("# Written by nasops stack deploy from the images' own entrypoints: do not edit.\n"
                        + json.dumps(document, indent=1) + "\n")
        os.replace(part, path)

    def look(self, name: str) -> Progress:
        full = f"{self.stack.project}_{name}"
        try:
            svc = self.client.services.get(full)
        except Exception:  # noqa: BLE001 - not created (yet)
            return Progress("wait", "missing")
        tasks = self.client.api.tasks(filters={"service": full, "desired-state": "running"})
        mine = [t for t in tasks if t.get("ServiceID") == svc.id]
        running = sum(1 for t in mine if (t.get("Status") or {}).get("State") == "running")
        desired = svc.attrs["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", len(mine))
        placement = next((t["Status"]["Err"] for t in mine
                          if "no suitable node" in ((t.get("Status") or {}).get("Err") or "")), "")
        return progress(name, svc.attrs.get("UpdateStatus"), self._since, running, desired, placement)

    def wait_updates(self, since: float, services: list[str], failed: list[str]) -> bool:
        """Until Swarm finished updating each service; False if it rolled one back or one did
        not get there within wait_timeout_s."""
        self._since, deadline, ok = since, self.clock() + self.spec["wait_timeout_s"], True
        for name in services:
            while True:
                seen = self.look(name)
                if seen.verdict == "done":
                    break
                if seen.verdict == "failed":
                    self.err.write(f"stack: {seen.words}\n")
                    self._last_tasks(name)
                    failed.append(name)
                    ok = False
                    break
                if self.clock() >= deadline:
                    self.err.write(f"stack: {name} still {seen.words} after {self.spec['wait_timeout_s']} s\n")
                    failed.append(name)
                    ok = False
                    break
                self.sleep(2)
        return ok

    def _last_tasks(self, name: str) -> None:
        """The service's newest stopped tasks: what Swarm saw fail."""
        try:
            tasks = self.client.api.tasks(filters={"service": f"{self.stack.project}_{name}", "desired-state": "shutdown"})
        except Exception:  # noqa: BLE001 - only a report
            return
        for t in sorted(tasks, key=lambda t: t.get("UpdatedAt", ""), reverse=True)[:3]:
            status = t.get("Status") or {}
            self.err.write(f"  {name}.{t.get('Slot', '')} {status.get('State', '')} {status.get('Err', '')}\n")


def main(stack, args: list[str], client_factory, out=sys.stdout, err=sys.stderr) -> int:
    if not args or args[0] != "deploy" or stack.engine != "swarm":
        err.write(f"{USAGE} (engine swarm only)\n")
        return 2
    rest = args[1:]
    databases_only = "--databases" in rest
    paths = [a for a in rest if a != "--databases"]
    failed_file = Path(paths[0]) if paths and paths[0] != "/dev/null" else None
    return 0 if StackDeploy(stack, client_factory(), out, err)(failed_file, databases_only) else 1
