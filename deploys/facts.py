"""StackState: everything the deploy needs to know about a target, read in ONE remote command.

Folders that exist, each managed file's sha256, mode and owner, the secrets' state, the stack's
containers (state, health, image, config hash) and every health route's HTTP status through
the edge. Read-only: facts never change the target.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from pyinfra.api import FactBase

from deploys.catalog import Catalog

SECRET_STATE = "secrets/.state"


@dataclass(frozen=True)
class FileState:
    sha256: str | None
    mode: int
    owner: str


@dataclass(frozen=True)
class ContainerState:
    service: str
    state: str
    health: str
    image: str
    config_hash: str

    @property
    def ok(self) -> bool:
        return self.state == "running" and self.health in ("healthy", "none")


@dataclass
class TargetState:
    root_exists: bool = False
    dirs: set[str] = field(default_factory=set)
    files: dict[str, FileState] = field(default_factory=dict)
    secret_values: set[str] = field(default_factory=set)
    secret_state_recorded: str = ""
    secret_state_now: str = ""
    containers: dict[str, ContainerState] = field(default_factory=dict)
    routes: dict[str, str] = field(default_factory=dict)
    # tunnel.mode "shared": the other site's config.yml as it is now (None: not read/missing).
    shared_config: str | None = None
    # The deploy lock's holder (releases/.lock/owner), None when free.
    lock: dict | None = None

    def secrets_current(self, names: list[str], script_sha: str) -> tuple[bool, str]:
        """Are the secret env files as scripts/secrets.sh last wrote them, from this script?"""
        missing = sorted(set(names) - self.secret_values)
        if missing:
            return False, f"secrets not generated yet: {', '.join(missing)}"
        if not self.secret_state_recorded:
            return False, "secret env files never written"
        if self.secret_state_recorded != self.secret_state_now:
            return False, "a secret env file differs from what scripts/secrets.sh wrote"
        if f"{script_sha}  scripts/secrets.sh" not in self.secret_state_recorded:
            return False, "the secret env templates changed"
        return True, "secrets present, env files as written"


def state_command(catalog: Catalog, files: list[str], dirs: list[str],
                  routes: dict[str, tuple[str, str]]) -> str:
    """The shell command behind StackState (POSIX sh, busybox-compatible for DSM)."""
    q = shlex.quote
    fmt = ('{{index .Config.Labels "com.docker.compose.service"}}|{{.State.Status}}|'
           '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}|'
           '{{.Config.Image}}|{{index .Config.Labels "marketplace.config-hash"}}')
    edge = f"http://{catalog.bind_address}:{catalog.edge.host_port}"
    route_checks = " ".join(
        f"(printf '%s %s\\n' {q(name)} \"$(curl -s -o /dev/null -m 10 -w '%{{http_code}}' "
        f"-H {q('Host: ' + host)} {q(edge + path)})\") &"
        for name, (host, path) in routes.items())
    return "\n".join([
        f"cd {q(catalog.deploy_root)} 2>/dev/null || {{ echo '@noroot'; exit 0; }}",
        "echo '@dirs'",
        f"for d in {' '.join(q(d) for d in dirs)}; do [ -d \"$d\" ] && echo \"$d\"; done",
        "echo '@stat'",
        f"stat -c '%a %U %n' {' '.join(q(f) for f in files)} 2>/dev/null",
        "echo '@sha'",
        f"sha256sum {' '.join(q(f) for f in files)} 2>/dev/null",
        "echo '@secret_values'",
        "ls secrets/values 2>/dev/null",
        "echo '@secret_state'",
        f"cat {SECRET_STATE} 2>/dev/null",
        "echo '@secret_now'",
        f"[ -f {SECRET_STATE} ] && sha256sum $(awk '{{print $2}}' {SECRET_STATE}) 2>/dev/null",
        "echo '@containers'",
        f"ids=$({q(catalog.docker_bin)} ps -aq --filter label=com.docker.compose.project={q(catalog.project_name)} 2>/dev/null)",
        f"[ -n \"$ids\" ] && {q(catalog.docker_bin)} inspect -f {q(fmt)} $ids 2>/dev/null",
        "echo '@lock'",
        "cat releases/.lock/owner 2>/dev/null || { [ -d releases/.lock ] && echo '{}'; }",
        "echo '@routes'",
        f"{route_checks} wait" if route_checks else "true",
        *([ "echo '@shared'",
            f"[ -f {q(catalog.tunnel['shared']['config_file'])} ] && "
            f"base64 < {q(catalog.tunnel['shared']['config_file'])}"]
          if catalog.tunnel["mode"] == "shared" else []),
        "echo '@end'",
    ])


class StackState(FactBase):
    """The deploy's view of a target (see module docstring); one remote command."""

    def command(self, script: str) -> str:
        """`script` comes from state_command (facts are cached by their plain arguments)."""
        return script

    def process(self, output: list[str]) -> TargetState:
        return parse_state(output)


def parse_state(output: list[str]) -> TargetState:
    state = TargetState()
    section = None
    lines: dict[str, list[str]] = {}
    for line in output:
        if line.startswith("@"):
            section = line[1:].strip()
            lines.setdefault(section, [])
        elif section:
            lines[section].append(line)
    if "noroot" in lines:
        return state
    state.root_exists = True
    state.dirs = set(lines.get("dirs", []))
    stats = {}
    for line in lines.get("stat", []):
        mode, owner, path = line.split(" ", 2)
        stats[path] = (int(mode, 8), owner)
    shas = {}
    for line in lines.get("sha", []):
        sha, path = line.split("  ", 1)
        shas[path] = sha
    state.files = {path: FileState(shas.get(path), mode, owner) for path, (mode, owner) in stats.items()}
    state.secret_values = {v for v in lines.get("secret_values", []) if not v.endswith(".tmp")}
    state.secret_state_recorded = "\n".join(lines.get("secret_state", []))
    state.secret_state_now = "\n".join(lines.get("secret_now", []))
    for line in lines.get("containers", []):
        parts = line.split("|")
        if len(parts) == 5 and parts[0]:
            state.containers[parts[0]] = ContainerState(*parts)
    for line in lines.get("routes", []):
        name, _, code = line.partition(" ")
        state.routes[name] = code
    if lines.get("lock"):
        import json

        try:
            state.lock = json.loads(lines["lock"][0]) or {"who": "an unknown deploy"}
        except ValueError:
            state.lock = {"who": "an unknown deploy (unreadable owner)"}
    if lines.get("shared"):
        import base64

        state.shared_config = base64.b64decode("".join(lines["shared"])).decode()
    return state
