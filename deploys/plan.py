"""The plan: every change a deploy makes, and why, decided once from what the target must hold
(`Desired`, derived from the validated catalog and the rendered files) and what it holds now
(`TargetState`, the one state fact).

Pure: no pyinfra, no connection, no clock. The operations in deploys/converge/operations.py apply a plan
and decide nothing themselves. Tested as data: tests/fixtures/plan/*.json.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import Callable

from deploys.render import dsm, shared_tunnel, stack_description
from deploys import layout, render
from deploys.catalog import Catalog
from deploys.layout import ManagedFile
from deploys.target.state import TargetState

class PlanRefused(Exception):
    """The deploy must not start: nothing was touched (the message says why)."""


@dataclass(frozen=True)
class Change:
    """One thing the deploy changes on the target, and why."""

    action: str     # create | upload | fix | write | converge | snapshot | install
    subject: str    # a folder, a file, a service, a database
    reason: str

    def __str__(self) -> str:
        return f"{self.action}: {self.subject}: {self.reason}"


@dataclass(frozen=True)
class Probe:
    """A service's health route through the edge: Host header, path, expected status."""

    host: str
    path: str
    status: int


@dataclass(frozen=True)
class Desired:
    """What the target must hold, as plain data (hand-written in the plan's test fixtures)."""

    root: str
    owner: str
    dirs: tuple[str, ...]
    # The managed files by group: "contexts" (build contexts), "config" (configuration and
    # scripts, secrets.sh among them), "compose" (checked by `docker compose config -q` against
    # the secret env files before it replaces the old one), "shared" (shared tunnel mode: the
    # other site's config with our block; added by the plan).
    groups: dict[str, tuple[ManagedFile, ...]]
    # service -> (image tag, config hash) its running container must carry
    containers: dict[str, tuple[str, str]]
    probes: dict[str, Probe]
    secrets: tuple[str, ...]
    secrets_sha: str = ""  # the hash of the description's secrets section (what secrets/.state records)
    # Postgres database -> the service serving it; service -> the Postgres databases it uses
    servers: dict[str, str] = field(default_factory=dict)
    users: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # DDL file (path under root) -> its database
    ddl: dict[str, str] = field(default_factory=dict)
    # tunnel.mode "shared": the other site's config.yml, and how our block merges into it
    shared_config_file: str | None = None
    merge_shared: Callable[[str], str] | None = None
    # setting -> absolute folder on the target (deploy_root, backup_dir), and the shared folders
    # they may lie in although exported (allow_in_exported_share)
    roots: dict[str, str] = field(default_factory=dict)
    allowed_shares: tuple[str, ...] = ()
    # DSM Task Scheduler tasks (deploys/render/dsm.py), and the prefix that makes a task ours
    dsm_tasks: tuple[dsm.Task, ...] = ()
    project: str = ""
    # the hash of the edge's configuration it must have loaded (render.edge_config_sha; "":
    # the edge's config is part of its container's config hash)
    edge_config: str = ""

    @classmethod
    def of(cls, catalog: Catalog, files: dict[str, ManagedFile]) -> Desired:
        """What a catalog and its rendered files ask of the target."""
        postgres = catalog.postgres_databases
        shared = catalog.tunnel["mode"] == "shared"
        return cls(
            root=catalog.deploy_root,
            owner=catalog.file_owner,
            dirs=tuple(render.directories(catalog, files)),
            groups={
                "contexts": tuple(f for p, f in files.items() if p.startswith(f"{layout.BUILD}/")),
                "config": tuple(f for p, f in files.items()
                                if not p.startswith(f"{layout.BUILD}/") and p != layout.COMPOSE_FILE),
                "compose": (files[layout.COMPOSE_FILE],),
            },
            containers=render.expected_containers(catalog, files),
            probes={name: Probe(svc.health_host, svc.health_url, svc.health.http_status)
                    for name, svc in catalog.services.items() if svc.health_url},
            secrets=tuple(catalog.used_secrets), secrets_sha=stack_description.secrets_sha(catalog),
            servers={db: spec["service"] for db, spec in postgres.items()},
            users={name: tuple(db for db in svc.databases if db in postgres)
                   for name, svc in catalog.services.items()},
            ddl={path: db for db, paths in render.ddl_files(catalog).items() for path in paths},
            shared_config_file=catalog.tunnel["shared"]["config_file"] if shared else None,
            merge_shared=functools.partial(shared_tunnel.merge, catalog=catalog) if shared else None,
            roots={"deploy_root": catalog.deploy_root, "backup_dir": catalog.backup_dir},
            allowed_shares=tuple(catalog.allow_in_exported_share),
            dsm_tasks=tuple(dsm.desired(catalog)),
            project=catalog.project_name,
            edge_config=render.edge_config_sha(catalog, files),
        )

    @property
    def files(self) -> dict[str, ManagedFile]:
        return {mf.path: mf for group in self.groups.values() for mf in group}

    @property
    def state_files(self) -> list[str]:
        """Every file the state command reads: the managed ones and the shared tunnel's."""
        return sorted({*self.files, *([layout.SHARED_TUNNEL_FILE] if self.shared_config_file else [])})


@dataclass(frozen=True)
class Plan:
    """Every change, grouped the way the operations apply them. An empty plan touches nothing."""

    desired: Desired
    folders: list[Change]
    files: dict[str, list[Change]]           # group -> upload/fix changes
    secrets: Change | None
    shared: Change | None                    # install the shared tunnel's file
    converge: list[Change]
    snapshots: list[Change]
    dsm_calls: list[dsm.Call] = field(default_factory=list)  # Task Scheduler calls, in order
    takeover: str | None = None              # the id of a stale lock to take over
    notes: dict[str, str] = field(default_factory=dict)  # why an empty step has nothing to do

    @property
    def changes(self) -> list[Change]:
        """Every change, in the order the deploy makes it (deploys/marketplace.py): folders,
        contexts, config, secrets, the compose file, the shared tunnel, the DSM tasks, the release
        (its converge reasons, then the databases it dumps first)."""
        files = self.files
        return [*self.folders, *files.get("contexts", []), *files.get("config", []),
                *([self.secrets] if self.secrets else []), *files.get("compose", []),
                *files.get("shared", []), *([self.shared] if self.shared else []),
                *(Change(c.action, f"DSM task {c.name!r}", c.reason) for c in self.dsm_calls),
                *self.converge, *self.snapshots]

    def pushes(self, group: str) -> list[tuple[ManagedFile, str]]:
        """(file, "upload" | "fix") of a group, as the files operation applies them."""
        files = self.desired.files
        return [(files[c.subject], c.action) for c in self.files.get(group, [])]


def _exposed_roots(desired: Desired, state: TargetState) -> list[str]:
    """The deploy's folders that lie in a shared folder the target exports, unless allowed."""
    found = []
    for key, path in desired.roots.items():
        for export in state.exports:
            if export.holds(path) and export.share not in desired.allowed_shares:
                found.append(f"{key} {path} is in the shared folder {export.share!r} "
                             f"({export.path}), which the target exports over {export.protocol.upper()}")
    return found


def build(desired: Desired, state: TargetState, lock_is_stale: Callable[[dict], bool]) -> Plan:
    """The plan that takes a target from `state` to `desired`. Raises PlanRefused when the
    deploy must not start (another deploy holds the lock; the shared tunnel refuses our block)."""
    takeover = _lock(state, lock_is_stale)  # a live deploy holding the lock is named first
    if state.last_release and state.last_release.running:
        raise PlanRefused(f"release {state.last_release.id} is still running on the target (its deploy "
                          "was disconnected): it finishes, or rolls back, on its own; nothing was touched. "
                          "Deploy again once it has ended (make releases shows it)")
    exposed = _exposed_roots(desired, state)
    if exposed:
        raise PlanRefused("; ".join(exposed) + ": their users could read the stack's secrets and "
                          "dumps through the shared folder's ACLs, whatever the files' modes; nothing "
                          "was touched. Move the folder out of the shared folder, or name the share "
                          "in allow_in_exported_share (group_data) if that is intended")
    if state.links:
        raise PlanRefused(f"{', '.join(state.links)}: a folder of the stack is a symbolic link, so a "
                          "volume or a file written there could land outside the deploy root; nothing "
                          "was touched. Replace the link by a real folder")
    if state.dsm.refused:
        raise PlanRefused("DSM's Task Scheduler refused a read the deploy needs (" + "; ".join(state.dsm.refused)
                          + "): its tasks cannot be known, so none is written; nothing was touched. "
                          "make preflight shows what the NAS offers")
    shared = _shared(desired, state)
    groups = {g: list(files) for g, files in desired.groups.items()}
    if shared is not None:
        groups["shared"] = [ManagedFile(layout.SHARED_TUNNEL_FILE, shared.encode(), 0o644)]
        desired = replace(desired, groups={g: tuple(f) for g, f in groups.items()})
    current, why = state.secrets_current(list(desired.secrets), desired.secrets_sha)
    converge = _converge(desired, state, current)
    notes = {"secrets": why, "converge": _healthy(desired),
             "dsm": (f"the {len(desired.dsm_tasks)} DSM tasks match the catalog" if state.dsm.available
                     else "the target has no DSM Task Scheduler (no synowebapi): no tasks")}
    return Plan(
        desired=desired,
        folders=[Change("create", d, "missing") for d in desired.dirs if d not in state.dirs],
        files={g: _file_changes(files, state, desired.owner) for g, files in groups.items()},
        secrets=None if current else Change("write", layout.SECRETS, why),
        shared=(Change("install", desired.shared_config_file, "the managed block differs")
                if shared is not None and shared != state.shared_config else None),
        converge=converge,
        snapshots=_snapshots(desired, state) if converge else [],
        dsm_calls=dsm.calls(list(desired.dsm_tasks), state.dsm, desired.project),
        takeover=takeover,
        notes=notes,
    )


def _lock(state: TargetState, is_stale: Callable[[dict], bool]) -> str | None:
    if state.lock is None:
        return None
    if not is_stale(state.lock):
        holder = state.lock
        raise PlanRefused(f"deploy lock held by {holder.get('who', '?')} (deploy {holder.get('id', '?')}, "
                          f"pid {holder.get('pid', '?')}) since {holder.get('since', '?')}: another "
                          "deploy is running; nothing was touched. If it is not running: make unlock")
    return str(state.lock.get("id"))


def _shared(desired: Desired, state: TargetState) -> str | None:
    """The other site's config.yml with our block, merged from what it holds now."""
    if not desired.shared_config_file:
        return None
    if state.shared_config is None:
        raise PlanRefused(f"tunnel.mode is 'shared' but {desired.shared_config_file} does not exist "
                          "on the target: nothing was touched")
    try:
        return desired.merge_shared(state.shared_config)
    except shared_tunnel.SharedTunnelError as exc:
        raise PlanRefused(f"shared tunnel {desired.shared_config_file}: {exc}; nothing was touched") from None


def _file_changes(files: list[ManagedFile], state: TargetState, owner: str) -> list[Change]:
    found = []
    for mf in files:
        current = state.files.get(mf.path)
        if current is None:
            found.append(Change("upload", mf.path, "missing"))
        elif current.sha256 != mf.sha256:
            found.append(Change("upload", mf.path, "content differs"))
        elif current.mode != mf.mode or current.owner != owner:
            found.append(Change("fix", mf.path, f"mode {current.mode:o} owner {current.owner}, "
                                                f"expected {mf.mode:o} {owner}"))
    return found


def _converge(desired: Desired, state: TargetState, secrets_current: bool) -> list[Change]:
    """Why the stack must be converged; empty when the running stack matches the catalog."""
    files = desired.files
    found = [Change("converge", path, "changed") for path in layout.STACK_FILES
             if path in files and (state.files.get(path) is None
                                   or state.files[path].sha256 != files[path].sha256)]
    if not secrets_current:
        found.append(Change("converge", "secret env files", "(re)written"))
    for name, (image, config) in desired.containers.items():
        container = state.containers.get(name)
        if container is None:
            found.append(Change("converge", name, "no container"))
        elif not container.ok:
            found.append(Change("converge", name, f"{container.state}, health {container.health}"))
        elif container.image != image:
            found.append(Change("converge", name, f"runs {container.image}, catalog says {image}"))
        elif container.config_hash != config:
            found.append(Change("converge", name, "its configuration differs from the catalog"))
    edge = state.containers.get("edge")
    if desired.edge_config and edge and edge.ok and state.edge_loaded != desired.edge_config and not any(
            c.subject == "edge" for c in found):
        found.append(Change("converge", "edge", "its configuration changed: loaded by a graceful reload "
                                                "(no new container)"))
    for name in sorted(set(state.containers) - set(desired.containers)):
        found.append(Change("converge", name, "container not in the catalog (removed as an orphan)"))
    if not found:  # containers as declared: do their routes answer?
        for name, probe in desired.probes.items():
            code = state.routes.get(name)
            if code != str(probe.status):
                found.append(Change("converge", name, f"{probe.path} answered {code}, "
                                                      f"expected {probe.status}"))
    return found


def _snapshots(desired: Desired, state: TargetState) -> list[Change]:
    """The Postgres databases dumped before a release: those of a database server whose image
    changes, those of an app whose image changes, and those whose DDL files changed."""
    found: dict[str, str] = {}
    for name, (image, _) in desired.containers.items():
        container = state.containers.get(name)
        if container is None or container.image == image:
            continue
        for db, server in desired.servers.items():
            if server == name:
                found.setdefault(db, f"its server {name} changes image")
        for db in desired.users.get(name, ()):
            found.setdefault(db, f"{name} changes image")
    for path, db in desired.ddl.items():
        current = state.files.get(path)
        if current is not None and current.sha256 != desired.files[path].sha256:
            found.setdefault(db, f"its DDL {path} changed")
    return [Change("snapshot", db, why) for db, why in sorted(found.items())]


def _healthy(desired: Desired) -> str:
    return (f"{len(desired.containers)} containers running and healthy as the catalog says; "
            f"{len(desired.probes)} health routes answer as declared")
