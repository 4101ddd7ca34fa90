"""What a deploy must do, decided from the catalog, the rendered files and the target's state.

Pure functions (no pyinfra, no connection): unit-tested with fixtures in tests/.
"""

from __future__ import annotations

from deploys.catalog import Catalog
from deploys.facts import TargetState, state_command
from deploys.render import COMPOSE_FILE, SHARED_TUNNEL_FILE, ManagedFile, expected_containers

# Files whose change means the containers must be converged. Everything a container depends
# on is in the compose file itself (image tags are content hashes of the build contexts, and
# each service carries a hash of the config it mounts); the secret env files are tracked apart.
STACK_FILES = (COMPOSE_FILE, ".env")


def health_routes(catalog: Catalog) -> dict[str, tuple[str, str]]:
    """service -> (hostname, path) of its health route through the edge."""
    return {name: (svc.health_host, svc.health_url)
            for name, svc in catalog.services.items() if svc.health_url}


def state_script(catalog: Catalog, files: dict[str, ManagedFile], dirs: list[str]) -> str:
    extra = [SHARED_TUNNEL_FILE] if catalog.tunnel["mode"] == "shared" else []
    return state_command(catalog, sorted(files) + extra, dirs, health_routes(catalog))


def converge_reasons(catalog: Catalog, files: dict[str, ManagedFile], state: TargetState,
                     secrets_current: bool) -> list[str]:
    """Why the stack must be converged; empty when the running stack matches the catalog."""
    reasons = [f"{path} changed" for path in STACK_FILES
               if path in files and (state.files.get(path) is None
                                     or state.files[path].sha256 != files[path].sha256)]
    if not secrets_current:
        reasons.append("secret env files are (re)written")
    for name, (image, config) in expected_containers(catalog, files).items():
        container = state.containers.get(name)
        if container is None:
            reasons.append(f"{name}: no container")
        elif not container.ok:
            reasons.append(f"{name}: {container.state}, health {container.health}")
        elif container.image != image:
            reasons.append(f"{name}: runs {container.image}, catalog says {image}")
        elif container.config_hash != config:
            reasons.append(f"{name}: its configuration differs from the catalog")
    for name in sorted(set(state.containers) - set(catalog.services)):
        reasons.append(f"{name}: container not in the catalog (removed as an orphan)")
    if not reasons:
        for name, svc in catalog.services.items():
            code = state.routes.get(name)
            if svc.health_url and code != str(svc.health.http_status):
                reasons.append(f"{name}: {svc.health_url} answered {code}, "
                               f"expected {svc.health.http_status}")
    return reasons


def healthy_summary(catalog: Catalog) -> str:
    routes = sum(1 for s in catalog.services.values() if s.health_url)
    return (f"{len(catalog.services)} containers running and healthy as the catalog says; "
            f"{routes} health routes answer as declared")


def files_to_push(managed: list[ManagedFile], state: TargetState, owner: str) -> list[tuple[ManagedFile, str]]:
    """(file, "upload" | "fix") for every managed file whose content, or mode/owner, differs."""
    found = []
    for mf in managed:
        current = state.files.get(mf.path)
        if current is None or current.sha256 != mf.sha256:
            found.append((mf, "upload"))
        elif current.mode != mf.mode or current.owner != owner:
            found.append((mf, "fix"))
    return found


def snapshot_databases(catalog: Catalog, files: dict[str, ManagedFile], state: TargetState) -> list[str]:
    """The Postgres databases to dump before a release: those of a database server whose image
    changes, and those of an app whose image changes or whose DDL files changed."""
    postgres = catalog.postgres_databases
    changing = {name for name, (image, _) in expected_containers(catalog, files).items()
                if name in state.containers and state.containers[name].image != image}
    found = set()
    for name in changing:
        found.update(db for db, spec in postgres.items() if spec["service"] == name)
        found.update(db for db in catalog.services[name].databases if db in postgres)
    for path, mf in files.items():
        if path.startswith("postgres/ddl/"):
            current = state.files.get(path)
            if current is not None and current.sha256 != mf.sha256:
                found.add(path.split("/")[2])
    return sorted(found)
