"""Bringing the engine to the files as they now are: a release's converge, a rollback's too.

Compose: the database servers up and healthy, their databases and users (nasops.databases),
the release tasks in one-off containers of the new images (a release's, not a rollback's), the
zero-gap services' new containers beside the old ones (nasops.release.switch), then `up -d
--remove-orphans`, the edge's changed configuration loaded by a graceful reload, the health gate
(nasops.gate) and Kill Bill's tenant. Swarm: nasops.swarm_stack deploys the database servers,
their databases, the release tasks (one-off containers on this node: nasops.release.swarm_tasks),
then everything (it waits for Swarm's own update and rollback), then the same gate and tenant.
Compose is the plugin the NAS ships, its binary mounted by scripts/ops.sh (NASOPS_COMPOSE); the
commands' argv hold names only."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

from nasops import databases, gate, secrets, swarm_stack, tenant
from nasops.release.swarm_tasks import OneOff
from nasops.release.switch import Switch
from nasops.engine import Engine
from nasops.probe import Prober
from nasops.stack import DEFAULT_PATH, Stack

COMPOSE = os.environ.get("NASOPS_COMPOSE", "docker-compose")


class Converge:
    """One converge of the stack of `stack` (client: the Docker SDK's, or a test's fake; run:
    subprocess.run's shape)."""

    def __init__(self, stack, client, out=None, err=None, run=subprocess.run, prober=None, steps=None):
        self.stack, self.client = stack, client
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.run = run
        self.prober = prober or Prober(stack.edge_url)
        self.spec = stack.release
        # the steps besides the commands (the tests replace them)
        self.steps = {
            "databases": lambda: databases.main(self.stack, lambda: client, self.out, self.err) == 0,
            "tenant": lambda: tenant.main(self.stack, self.out, self.err) == 0,
            "stack_deploy": lambda failed_file, databases_only: swarm_stack.StackDeploy(
                self.stack, client, self.out, self.err)(failed_file, databases_only),
            "switch": lambda failed_file: Switch(self.stack, client, self._compose_run, self.out, self.err)(failed_file),
            "one_off": lambda task, log: OneOff(self.stack, client)(task, log),
            "reload": lambda failed_file: Switch(self.stack, client, self._compose_run, self.out,
                                                 self.err).reload_config(failed_file),
            **(steps or {})}

    def _command(self, argv: list[str], **kw) -> int:
        self.out.flush()
        self.err.flush()
        return self.run(argv, cwd=self.stack.root, **kw).returncode

    def _compose_run(self, *args: str, capture: bool = False) -> subprocess.CompletedProcess:
        self.out.flush()
        self.err.flush()
        kw = {"capture_output": True, "text": True} if capture else {}
        return self.run([COMPOSE, *args], cwd=self.stack.root, **kw)

    def compose(self, *args: str, **kw) -> int:
        return self._command([COMPOSE, *args], **kw)

    def prepare_rollback(self) -> bool:
        """What the deploy does before a release, and a rollback's restored files need again:
        the restored description read, the secret env files written from its templates, the
        compose file checked. (A release recorded before the program wrote secrets has its own
        scripts/secrets.sh, restored with it.)"""
        restored = Stack.load(self.stack.file(DEFAULT_PATH))
        if "release" in restored.raw:
            self.stack, self.spec = restored, restored.release
        if "secrets" in restored.raw:
            if secrets.main(restored, [], out=io.StringIO(), err=self.err) != 0:
                return False
        elif self._command(["bash", self.spec["secrets_script"]], stdout=subprocess.DEVNULL) != 0:
            return False
        return self.stack.engine == "swarm" or self.compose("config", "-q") == 0

    def __call__(self, failed_file: Path, tasks_dir: Path | None = None) -> bool:
        """Converge and gate; the failed services' names go to failed_file. With tasks_dir the
        release tasks run first (a rollback's release ran its own when it was applied)."""
        if self.stack.engine == "swarm":
            return (self.steps["stack_deploy"](failed_file, True)
                    and (not self.spec["database_services"] or self.steps["databases"]())
                    and (tasks_dir is None or self.release_tasks(tasks_dir))
                    and self.steps["stack_deploy"](failed_file, False)
                    and self.gate(failed_file) and self._tenant())
        servers = self.spec["database_services"]
        if servers:
            if self.compose("up", "-d", "--wait", "--wait-timeout", str(self.spec["wait_timeout_s"]), *servers) != 0:
                return False
            if not self.steps["databases"]():
                return False
        if tasks_dir is not None and not self.release_tasks(tasks_dir):
            return False
        if not self.steps["switch"](failed_file):
            return False
        return (self.compose("up", "-d", "--remove-orphans") == 0 and self.steps["reload"](failed_file)
                and self.gate(failed_file) and self._tenant())

    def _tenant(self) -> bool:
        return not self.stack.tenant or self.steps["tenant"]()

    def gate(self, failed_file: Path) -> bool:
        Path(failed_file).write_text("")
        engine = Engine(self.client, self.stack)
        failed = gate.run(self.stack, engine, self.prober, self.out, self.err)
        if failed:
            Path(failed_file).write_text("".join(f"{name}\n" for name in failed))
            gate.report(engine, failed, self.err)
        return not failed

    def release_tasks(self, tasks_dir: Path) -> bool:
        """Every service's release tasks, in order, each in a one-off container of the new image
        with the service's environment and secrets; the first that fails stops the release
        before any app is switched (failed-task beside tasks_dir names it)."""
        tasks_dir.mkdir(parents=True, exist_ok=True)
        for task in self.spec["tasks"]:
            svc, name = task["service"], task["name"]
            log = tasks_dir / f"{svc}-{name}.log"
            t0 = time.monotonic()
            rc = self._run_task(task, log)
            if rc != 0:
                (tasks_dir.parent / "failed-task").write_text(f"{svc}/{name} (exit {rc})\n")
                self.err.write(f"release: task {svc}/{name} FAILED (exit {rc}); its last lines ({log.relative_to(self.stack.root)}):\n")
                self.err.write("".join(log.read_text(errors="replace").splitlines(keepends=True)[-20:]))
                return False
            self.out.write(f"release: task {svc}/{name} ok ({int(time.monotonic() - t0)} s)\n")
        return True

    def _run_task(self, task: dict, log: Path) -> int:
        """One task to its end, its output in log: its exit code. Compose: `run` (a one-off
        container of the service as the compose file says); Swarm: nasops.release.swarm_tasks."""
        if self.stack.engine == "swarm":
            return self.steps["one_off"](task, log)
        with open(log, "wb") as f:
            return self.compose("run", "--rm", "--no-deps", "-T", task["service"], *task["argv"], stdout=f,
                                stderr=subprocess.STDOUT)
