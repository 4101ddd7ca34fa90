"""TargetState: what a target holds now, parsed from the output of the one state command
(templates/commands/state.sh.j2, run by the StackState fact in deploys/target/facts.py).

Pure data and parsing: no pyinfra, no connection. The output is sections, each introduced by a
line `@NAME`; `@noroot` alone means the deploy root does not exist yet.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import NamedTuple

from deploys import layout
from deploys.render.dsm import Held, parse as parse_dsm
from deploys.target.preflight import facts as preflight_facts


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


class LastRelease(NamedTuple):
    """The newest deploy release on the target."""

    id: str
    status: str      # applying, good, failed, rolled-back-to:ID, none
    reported: bool   # its deploy saw the outcome
    running: bool    # its release script still runs


@dataclass(frozen=True)
class Export:
    """A folder the target shares over the network: protocol (smb, nfs), share name, path."""

    protocol: str
    share: str
    path: str

    def holds(self, path: str) -> bool:
        """Is `path` this shared folder or inside it?"""
        base = self.path.rstrip("/") or "/"
        return path == base or path.startswith(base.rstrip("/") + "/")


@dataclass
class TargetState:
    dirs: set[str] = field(default_factory=set)
    files: dict[str, FileState] = field(default_factory=dict)
    secret_values: set[str] = field(default_factory=set)
    secret_state_recorded: str = ""
    secret_state_now: str = ""
    containers: dict[str, ContainerState] = field(default_factory=dict)
    # service -> the HTTP status its health route answered through the edge
    routes: dict[str, str] = field(default_factory=dict)
    # tunnel.mode "shared": the other site's config.yml as it is now (None: not read/missing).
    shared_config: str | None = None
    # The deploy lock's holder (releases/.lock/owner), None when free.
    lock: dict | None = None
    # Folders of the stack that are symbolic links: "folder -> where it leads".
    links: list[str] = field(default_factory=list)
    # The shared folders the target exports over SMB or NFS (a NAS's; none elsewhere).
    exports: list[Export] = field(default_factory=list)
    # The state command failed (as root: sudo refused): nothing else here is true.
    unreadable: bool = False
    # DSM's Task Scheduler as the target holds it (not available on a target without DSM).
    dsm: Held = field(default_factory=Held)
    # The hash of the configuration the edge last loaded (layout.EDGE_LOADED; "" when none is
    # recorded).
    edge_loaded: str = ""
    # The newest deploy release: (id, status, its deploy saw the outcome, still running).
    last_release: LastRelease | None = None
    # What the target offers (deploys/target/preflight.py judges it): KEY -> VALUE.
    preflight: dict[str, str] = field(default_factory=dict)

    def secrets_current(self, names: list[str], spec_sha: str) -> tuple[bool, str]:
        """Are the secret env files as the program's `secrets` last wrote them, from this
        description's secrets section (spec_sha: its hash)?"""
        missing = sorted(set(names) - self.secret_values)
        if missing:
            return False, f"not generated yet: {', '.join(missing)}"
        if not self.secret_state_recorded:
            return False, "their env files never written"
        recorded = self.secret_state_recorded.splitlines()
        if [line for line in recorded if not line.startswith("#")] != self.secret_state_now.splitlines():
            return False, "an env file differs from what scripts/secrets.sh wrote"
        if f"{layout.SECRETS_SPEC_LINE}{spec_sha}" not in recorded:
            return False, "the env templates changed"
        return True, "secrets present, env files as written"


def _sections(output: list[str]) -> dict[str, list[str]]:
    section = None
    lines: dict[str, list[str]] = {}
    for line in output:
        if line.startswith("@"):
            section = line[1:].strip()
            lines.setdefault(section, [])
        elif section:
            lines[section].append(line)
    return lines


def parse_state(output: list[str]) -> TargetState:
    """The state command's output lines -> TargetState."""
    lines = _sections(output)
    state = TargetState()
    if "unreadable" in lines or "end" not in lines and "noroot" not in lines:
        return TargetState(unreadable=True)
    for line in lines.get("exports", []):
        parts = line.split("\t")
        if len(parts) == 3 and parts[2].startswith("/"):
            state.exports.append(Export(*parts))
    state.dsm = parse_dsm(lines.get("dsm", []))
    state.preflight = preflight_facts(lines.get("preflight", []))
    if "noroot" in lines:
        return state
    state.dirs = set(lines.get("dirs", []))
    state.links = list(lines.get("links", []))
    stats = {}
    for line in lines.get("stat", []):
        mode, owner, path = line.split(" ", 2)
        stats[path] = (int(mode, 8), owner)
    shas = {path: sha for sha, path in (line.split("  ", 1) for line in lines.get("sha", []))}
    state.files = {path: FileState(shas.get(path), mode, owner) for path, (mode, owner) in stats.items()}
    state.secret_values = {v for v in lines.get("secret_values", []) if not v.endswith((".tmp", ".next"))}
    state.secret_state_recorded = "\n".join(lines.get("secret_state", []))
    state.secret_state_now = "\n".join(lines.get("secret_now", []))
    for line in lines.get("containers", []):  # layout.STATE_FORMAT
        parts = line.split()
        if len(parts) == 6:
            service, status, health, image, _image_id, config_hash = parts
            state.containers[service] = ContainerState(service, status, health, image, config_hash)
    state.edge_loaded = next(iter(lines.get("edge_loaded", [])), "").strip()
    for line in lines.get("last_release", [])[:1]:
        parts = line.split()
        if len(parts) == 4:
            state.last_release = LastRelease(parts[0], parts[1], parts[2] == "yes", parts[3] == "yes")
    for line in lines.get("routes", []):
        name, _, code = line.partition(" ")
        state.routes[name] = code
    if lines.get("lock"):
        try:
            state.lock = json.loads(lines["lock"][0]) or {"who": "an unknown deploy"}
        except ValueError:
            state.lock = {"who": "an unknown deploy (unreadable owner)"}
    if lines.get("shared"):
        state.shared_config = base64.b64decode("".join(lines["shared"])).decode()
    return state
