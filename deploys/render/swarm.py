"""The catalog as a Swarm stack file (engine "swarm"): what `docker stack deploy` converges on a
swarm manager, over the same SSH path, releases and health gate as Compose
(the NAS-side program's `stack deploy`).

What Swarm needs that Compose did not (../shared/FIELD-NOTES.md, verified on Debian's 20.10):
- no IPVS in the kernel: every service `endpoint_mode: dnsrr`, published ports `mode: host`
  (on every address of the node: Swarm has no host_ip, hence the `bind_address` rule);
- `mem_limit` becomes `deploy.resources.limits.memory`; `build`, `container_name` and
  `depends_on` are not read (the release builds the images first; Swarm restarts a task until
  what it needs answers);
- secrets and configs are immutable: each is named after its content (a change rolls the
  service). Rendered files (the edge's and cloudflared's) become configs with the hash in the
  name; a service's secret env file becomes the Swarm secret `env`, whose hash only the target
  knows: the name carries `${SECRET_HASH_<SERVICE>}`, which the NAS-side program's
  `stack deploy` exports.
- A service's secret env reaches its process, never the stack file nor the service's spec: the
  entrypoint is files/swarm/with-env.sh (a config), which exports the secret file's lines
  literally, then execs the image's own entrypoint and command (the program's `stack deploy`
  reads them from the image into swarm/entrypoints.yml).
- A service with a bind mount (its data, a secrets folder, a log it shares) runs once, stopping
  the old task before the new one starts (two servers on one data folder would corrupt it); the
  others start the new task first. A service runs on the node with `swarm.data_label` (where its
  data and the images the release builds are) unless `swarm.replicas` spreads it over the nodes,
  each of which then needs its image (no registry: `docker save | docker load`, `make ship`).
  Swarm's `failure_action: rollback` puts the previous spec back when a new task fails within
  `swarm.update_monitor_s`.
- The networks are attachable: a release's tasks (migrations) run in one-off containers on the
  data node, on the networks of their service (the NAS-side program's swarm_tasks).
- DSM's Task Scheduler does not manage a swarm: the stack's `scheduler` service (the NAS-side
  program's `schedule`) runs the jobs of `dsm_tasks` at DSM's times, and serves the status
  page's snapshot (a folder of the data node) to the edge's replicas, which proxy to it.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import PurePosixPath
from typing import Any

import yaml

from deploys import layout
from deploys.catalog import REPO, Catalog, Service

WITH_ENV = REPO / "files" / "swarm" / "with-env.sh"  # pushed to layout.SWARM_WITH_ENV
WITH_ENV_TARGET = "/run/marketplace/with-env.sh"
ENV_SECRET_TARGET = "env"  # /run/secrets/env
HOST_NETWORK = "host"  # the stack file's name of the node's own network (the scheduler's)
# Swarm's wait for the scheduler's running jobs when it is replaced (it passes SIGTERM on to them
# and waits 10 s less), then SIGKILL.
SCHEDULER_STOP_GRACE_S = 60


def hash_variable(service: str) -> str:
    """The variable `nasops stack deploy` sets to the hash of a service's secret env file."""
    return "SECRET_HASH_" + re.sub(r"[^A-Za-z0-9]", "_", service).upper()


def _name(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", value)


def _escape(value: Any) -> Any:
    """`$` escaped for the stack file's interpolation (like Compose's)."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [_escape(v) for v in value]
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    return value


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data):  # noqa: ARG002: one spelled-out value per place
        return True


class StackFile:
    """The stack file of one catalog; `files` are the rendered files (the configs' content)."""

    def __init__(self, catalog: Catalog, files: dict[str, Any], image_tag, config_hash):
        self.catalog = catalog
        self.files = files
        self.image_tag = image_tag
        self.config_hash = config_hash
        self.configs: dict[str, dict[str, str]] = {}
        self.secrets: dict[str, dict[str, str]] = {}

    def render(self, only: set[str] | None = None) -> str:
        """The stack file; `only`: those services alone (what they need of the rest too)."""
        c = self.catalog
        self.configs, self.secrets = {}, {}
        services = {name: self.service(svc) for name, svc in c.services.items() if only is None or name in only}
        networks = {net.name: {"driver": "overlay", "internal": net.internal, "attachable": True}
                    for net in c.networks.values() if only is None or any(m in only for m in net.members)}
        if only is None:
            services[layout.SCHEDULER] = self.scheduler()
            if HOST_NETWORK in services[layout.SCHEDULER]["networks"]:
                networks[HOST_NETWORK] = {"external": True, "name": "host"}
        doc = {"version": "3.8", "services": services, "networks": networks}
        if self.configs:
            doc["configs"] = self.configs
        if self.secrets:
            doc["secrets"] = self.secrets
        head = (f"# Rendered from the catalog of target {c.target!r} by deploys/render/swarm.py: do not edit on the\n"
                f"# target, the next deploy puts it back. `docker stack deploy` reads it (run by nasops stack deploy).\n")
        return head + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)

    def config(self, path: str) -> str:
        """A Swarm config of a rendered file, named after its content."""
        digest = hashlib.sha256(self.files[path].content).hexdigest()[:12]
        key = _name(path.replace("/", "_"))
        self.configs[key] = {"name": f"{self.catalog.project_name}_{key}_{digest}", "file": f"./{path}"}
        return key

    def service(self, s: Service) -> dict[str, Any]:
        c = self.catalog
        spec: dict[str, Any] = {"image": self.image_tag(s)}
        if s.command and not s.secret_env:
            spec["command"] = _escape(list(s.command))
        if s.secret_env:  # the image's entrypoint and command come from `nasops stack deploy`'s override
            spec["entrypoint"] = ["/bin/sh", WITH_ENV_TARGET]
            secret = f"{_name(s.name)}_env"
            self.secrets[secret] = {"name": f"{c.project_name}_{secret}_${{{hash_variable(s.name)}}}",
                                    "file": f"./{layout.secret_env_file(s.name)}"}
            # 0444: the task's own user (connector's is not root) reads it; the file lives in
            # that container's /run/secrets only, as its env would
            spec["secrets"] = [{"source": secret, "target": ENV_SECRET_TARGET, "mode": 0o444}]
        if s.env:
            spec["environment"] = {k: _escape(v) for k, v in sorted(s.env.items())}
        configs = []
        if s.secret_env:
            configs.append({"source": self.config(layout.SWARM_WITH_ENV), "target": WITH_ENV_TARGET, "mode": 0o444})
        for src, dst in sorted(s.volumes.items()):
            if src in layout.RENDERED_FOLDERS:
                folder = dst.removesuffix(":ro")
                for path in sorted(p for p in self.files if p.startswith(src + "/")):
                    configs.append({"source": self.config(path),
                                    "target": str(PurePosixPath(folder) / PurePosixPath(path).relative_to(src)),
                                    "mode": 0o444})
        if configs:
            spec["configs"] = configs
        if s.published:
            spec["ports"] = [{"target": port, "published": host_port, "protocol": "tcp", "mode": "host"}
                             for host_port, port in sorted(s.published.items())]
        mounts = []
        for src, dst in sorted(s.data_mounts.items()):
            target, ro = (dst[:-3], True) if dst.endswith(":ro") else (dst, False)
            mounts.append({"type": "bind", "source": f"{c.deploy_root}/{src}", "target": target, "read_only": ro})
        if mounts:
            spec["volumes"] = mounts
        spec["networks"] = c.networks_of(s.name)
        if s.health.test:
            h = s.health
            test = list(h.test)
            if s.secret_env:  # a health check runs outside the entrypoint: it reads the env too
                argv = ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
                test = ["CMD", "/bin/sh", WITH_ENV_TARGET, *argv]
            spec["healthcheck"] = {"test": _escape(test), "interval": f"{h.interval_s}s",
                                   "timeout": f"{h.timeout_s}s", "retries": h.retries,
                                   "start_period": f"{h.start_period_s}s"}
        spec["logging"] = _logging(c)
        for key, value in sorted(s.compose.items()):
            spec[key] = _escape(value)
        spec["labels"] = {"marketplace.target": c.target, layout.SWARM_SERVICE_LABEL: s.name,
                          layout.CONFIG_HASH_LABEL: self.config_hash(s)}
        spec["deploy"] = self.deploy(s)
        return spec

    def scheduler(self) -> dict[str, Any]:
        spec = scheduler_spec(self.catalog)
        spec["labels"][layout.CONFIG_HASH_LABEL] = scheduler_hash(self.catalog)
        return spec

    def deploy(self, s: Service) -> dict[str, Any]:
        c = self.catalog
        order = "stop-first" if s.pinned else "start-first"
        update = {"parallelism": 1, "order": order, "failure_action": "rollback",
                  "monitor": f"{c.swarm['update_monitor_s']}s"}
        spec: dict[str, Any] = {
            "endpoint_mode": "dnsrr",
            "replicas": 1 if s.pinned else int(c.swarm["replicas"].get(s.name, 1)),
            "restart_policy": {"condition": "any", "delay": "5s"},
            "update_config": update,
            "rollback_config": {"parallelism": 1, "order": order},
        }
        if s.name in c.swarm["replicas"] and s.published:  # a host port is the node's: one per node
            spec["placement"] = {"max_replicas_per_node": 1}
        if s.name not in c.swarm["replicas"]:  # once, where its data and its image are
            key, value = c.swarm["data_label"].split("=", 1)
            spec["placement"] = {"constraints": [f"node.labels.{key} == {value}"]}
        if s.mem_limit:
            spec["resources"] = {"limits": {"memory": s.mem_limit}}
        spec["labels"] = {"marketplace.target": c.target}
        return spec


def _logging(c: Catalog) -> dict[str, Any]:
    """Every service's logs: capped, as `container_logs` says."""
    return {"driver": "json-file", "options": {"max-size": c.container_logs["max_size"],
                                               "max-file": str(c.container_logs["max_files"])}}


def scheduler_spec(c: Catalog) -> dict[str, Any]:
    """The jobs of `dsm_tasks`, run without DSM (nasops schedule): the NAS-side program's image,
    once, on the data node (the database servers' containers and the deploy root are there),
    with what scripts/ops.sh gives its runs: the Docker socket, the deploy root and the backup
    folder at their host paths, and the node's local time (DSM's times are local). It is on the
    edge's networks: it asks the routes through the edge there (NASOPS_EDGE_URL) and serves the
    edge the status page's snapshot; without an edge, on the node's own network."""
    from deploys.render import ops_image  # the package's, imported once it has loaded

    binds = [("/var/run/docker.sock", False), (c.deploy_root, False), (c.backup_dir, False), ("/etc/localtime", True)]
    key, value = c.swarm["data_label"].split("=", 1)
    update = {"parallelism": 1, "order": "stop-first", "failure_action": "rollback",
              "monitor": f"{c.swarm['update_monitor_s']}s"}
    edge = c.services.get("edge")
    env = {"NASOPS_STOP_GRACE_S": str(SCHEDULER_STOP_GRACE_S - 10)}
    if edge:
        env["NASOPS_EDGE_URL"] = f"http://edge:{edge.port}"
    return {
        "image": ops_image(c)[0],
        "command": ["schedule"],
        "working_dir": c.deploy_root,
        "environment": env,
        "volumes": [{"type": "bind", "source": path, "target": path, "read_only": ro} for path, ro in binds],
        "networks": c.networks_of("edge") if edge else [HOST_NETWORK],
        "stop_grace_period": f"{SCHEDULER_STOP_GRACE_S}s",
        # a hung scheduler runs no job: Swarm replaces a task whose clock stopped
        "healthcheck": {"test": ["CMD", "python3", "-m", "nasops", "schedule", "alive"], "interval": "10s",
                        "timeout": "10s", "retries": 6, "start_period": "30s"},
        "logging": _logging(c),
        "labels": {"marketplace.target": c.target, layout.SWARM_SERVICE_LABEL: layout.SCHEDULER},
        "deploy": {"endpoint_mode": "dnsrr", "replicas": 1, "restart_policy": {"condition": "any", "delay": "5s"},
                   "update_config": update, "rollback_config": {"parallelism": 1, "order": "stop-first"},
                   "placement": {"constraints": [f"node.labels.{key} == {value}"]},
                   "labels": {"marketplace.target": c.target}},
    }


def scheduler_hash(c: Catalog) -> str:
    """The scheduler's definition as its config hash label (the state read compares it)."""
    return hashlib.sha256(json.dumps(scheduler_spec(c), sort_keys=True).encode()).hexdigest()[:12]
