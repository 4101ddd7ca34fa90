"""A two-node swarm on this one machine, for the Swarm target's end-to-end tests.

Node 1 is this machine's Docker engine (the manager; the swarm target's SSH path reaches it).
Node 2 is a second Docker engine in a network namespace of its own (`swnode2`), joined to node 1
over a veth pair: its own data root, exec root, containerd namespace and iptables, so it is a
separate node as far as Swarm knows. It is started with nsenter, not `ip netns exec` (which
remounts /sys and hides the cgroups dockerd needs). Node 2 holds no image until one is loaded
(`docker save | docker load`: there is no registry); everything is removed on the way out.

Leaving a swarm breaks the engine's bookkeeping for the Compose stacks already running on it:
their containers no longer resolve each other's names (moby/moby#45144, seen here on 20.10:
Kill Bill, Condo and Cocorico lose their databases and turn unhealthy) and may lose published
ports (moby/moby#42877). A container registers again when it starts, so down() restarts the ones
that were running before up() and waits for them to be healthy again.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from deploys import catalog as catalog_mod
from deploys.render import image_tag
from tests.support.staging import REPO

NETNS = NODE2_NETNS = "swnode2"
HOST_LINK, NODE_LINK = "sw-h", "sw-n"
MANAGER, NODE2 = "10.213.0.1", "10.213.0.2"
DATA_ROOT, RUN = Path("/var/lib/swnode2"), Path("/run/swnode2")
NODE2_SOCKET = f"unix://{RUN}/docker.sock"


def sh(*argv: str, env: dict | None = None, check: bool = True, **kw) -> subprocess.CompletedProcess:
    run = subprocess.run(list(argv), capture_output=True, text=True, env=env, **kw)
    if check and run.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: rc {run.returncode}\n{run.stdout}{run.stderr}")
    return run


def node2_env() -> dict:
    return {**os.environ, "DOCKER_HOST": NODE2_SOCKET}


class TwoNodeSwarm:
    """up(): this engine a manager with the data label, node 2 a worker; down(): as before."""

    def __init__(self, catalog: catalog_mod.Catalog):
        self.catalog = catalog
        self.dockerd: subprocess.Popen | None = None
        self.bystanders: list[str] = []

    def up(self) -> None:
        self.down()  # what an interrupted run left behind
        self.bystanders = compose_containers()
        sh("ip", "netns", "add", NETNS)
        sh("ip", "link", "add", HOST_LINK, "type", "veth", "peer", "name", NODE_LINK)
        sh("ip", "link", "set", NODE_LINK, "netns", NETNS)
        sh("ip", "addr", "add", f"{MANAGER}/24", "dev", HOST_LINK)
        sh("ip", "link", "set", HOST_LINK, "up")
        for argv in (["ip", "addr", "add", f"{NODE2}/24", "dev", NODE_LINK], ["ip", "link", "set", NODE_LINK, "up"],
                     ["ip", "link", "set", "lo", "up"], ["ip", "route", "add", "default", "via", MANAGER]):
            sh("ip", "netns", "exec", NETNS, *argv)
        RUN.mkdir(parents=True, exist_ok=True)
        log = open(RUN / "dockerd.log", "ab")  # noqa: SIM115: dockerd's, kept for a failure's report
        self.dockerd = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{NETNS}", "dockerd", "--data-root", str(DATA_ROOT),
             "--exec-root", str(RUN / "exec"), "-H", NODE2_SOCKET, "--pidfile", str(RUN / "dockerd.pid"),
             "--containerd-namespace", NETNS, "--containerd-plugins-namespace", f"{NETNS}-plugins"],
            stdout=log, stderr=log, start_new_session=True)
        for _ in range(120):
            if sh("docker", "info", env=node2_env(), check=False).returncode == 0:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"node 2's dockerd did not answer:\n{(RUN / 'dockerd.log').read_text()[-3000:]}")
        sh("docker", "swarm", "init", "--advertise-addr", MANAGER, "--listen-addr", f"{MANAGER}:2377")
        token = sh("docker", "swarm", "join-token", "-q", "worker").stdout.strip()
        sh("docker", "swarm", "join", "--token", token, f"{MANAGER}:2377", env=node2_env())
        manager = sh("docker", "info", "-f", "{{.Swarm.NodeID}}").stdout.strip()
        sh("docker", "node", "update", "--label-add", self.catalog.swarm["data_label"], manager)

    def load_image(self, service: str) -> str:
        """A service's image built here (as `nasops stack deploy` would) and loaded into node 2; its tag."""
        svc = self.catalog.services[service]
        tag = image_tag(self.catalog, svc)
        if sh("docker", "image", "inspect", tag, check=False).returncode != 0:
            args = [a for k, v in sorted(svc.build_args.items()) for a in ("--build-arg", f"{k}={v}")]
            sh("docker", "build", "-q", "-t", tag, *args, str(REPO / svc.build))
        save = subprocess.Popen(["docker", "save", tag], stdout=subprocess.PIPE)
        sh("docker", "load", "-q", stdin=save.stdout, env=node2_env())
        assert save.wait() == 0
        return tag

    def nodes(self) -> dict[str, str]:
        """node ID -> its address, as the manager sees them."""
        ids = sh("docker", "node", "ls", "-q").stdout.split()
        out = sh("docker", "node", "inspect", "-f", "{{.ID}} {{.Status.Addr}}", *ids).stdout
        return dict(line.split() for line in out.splitlines())

    def tasks(self, service: str) -> list[tuple[str, str]]:
        """(node address, state) of a swarm service's tasks meant to run (by node ID: both nodes
        share this machine's hostname)."""
        nodes = self.nodes()
        ids = sh("docker", "service", "ps", "-q", "--filter", "desired-state=running",
                 f"{self.catalog.project_name}_{service}").stdout.split()
        out = sh("docker", "inspect", "-f", "{{.NodeID}} {{.Status.State}}", *ids).stdout if ids else ""
        return [(nodes.get(node, node), state) for node, state in (line.split() for line in out.splitlines())]

    def down(self) -> None:
        project = self.catalog.project_name
        if sh("docker", "info", "-f", "{{.Swarm.LocalNodeState}}").stdout.strip() != "inactive":
            sh("docker", "stack", "rm", project, check=False)
            for _ in range(60):  # its containers gone before the engine leaves the swarm
                if not sh("docker", "ps", "-aq", "--filter", f"label=com.docker.stack.namespace={project}").stdout.strip():
                    break
                time.sleep(1)
        if (RUN / "docker.sock").exists():
            sh("docker", "swarm", "leave", "--force", env=node2_env(), check=False)
        pidfile = RUN / "dockerd.pid"
        pid = pidfile.read_text().strip() if pidfile.exists() else ""
        if pid:  # dockerd removes its pidfile as it exits
            sh("kill", pid, check=False)
            for _ in range(60):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.5)
        if self.dockerd is not None:
            self.dockerd.wait(timeout=30)
        sh("docker", "swarm", "leave", "--force", check=False)
        self.restart_bystanders()
        for mount in sorted((line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                             if "swnode2" in line.split()[1]), reverse=True):
            sh("umount", "-l", mount, check=False)
        sh("ip", "netns", "del", NETNS, check=False)
        sh("ip", "link", "del", HOST_LINK, check=False)
        sh("rm", "-rf", str(DATA_ROOT), str(RUN), check=False)

    def restart_bystanders(self) -> None:
        """Restart the containers that ran before the swarm (see the module's docstring) and wait
        until each one with a health check is healthy again."""
        if not self.bystanders:
            return
        sh("docker", "restart", *self.bystanders)
        waiting: list[str] = []
        for _ in range(180):
            states = sh("docker", "inspect", "-f", "{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
                        *self.bystanders).stdout.split("\n")
            waiting = [line for line in states if line.strip() and line.split()[-1] in ("starting", "unhealthy")]
            if not waiting:
                break
            time.sleep(1)
        self.bystanders = []
        assert not waiting, f"containers not healthy again after the swarm left: {waiting}"


def compose_containers() -> list[str]:
    """The running Compose containers (the stacks whose names the engine's DNS resolves), found
    as OUTGROW.md tells an operator to find them."""
    return sh("docker", "ps", "-q", "--filter", "label=com.docker.compose.project").stdout.split()
