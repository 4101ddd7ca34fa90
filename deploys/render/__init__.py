"""Render every file a deploy manages on the target from a Catalog (no connection needed).

The package is the data flow's render step: the Jinja2 environments and their quoting filters
(templates), the engines' files (swarm, kubernetes), the ingress and its proof (ingress,
validate), the shared tunnel's block (shared_tunnel), DSM's tasks (dsm) and the NAS-side
program's input (stack_description).

Paths are relative to the catalog's deploy_root. Secret values never pass through here: the
secret env files are written on the target by scripts/secrets.sh from the templates it embeds.
"""

from __future__ import annotations

import functools
import hashlib
import json
import posixpath
from pathlib import Path

from deploys.render import dsm, stack_description
from deploys import layout
from deploys.render.swarm import WITH_ENV, StackFile, hash_variable, scheduler_hash
from deploys.catalog import REPO, Catalog, Service
from deploys.render.ingress import tunnel_rules
from deploys.layout import COMPOSE_FILE, ManagedFile
from deploys.render.templates import shell_context, template


def build_files(service: Service) -> dict[str, bytes]:
    """The build context of a service: repo files, relative to the context folder."""
    return dict(_context_files(service.build))


@functools.lru_cache(maxsize=None)
def _context_files(build: str) -> tuple[tuple[str, bytes], ...]:
    """Read once per process: several services share a context, and every run tags each."""
    root = REPO / build
    return tuple((str(p.relative_to(root)), p.read_bytes())
                 for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts)


@functools.lru_cache(maxsize=None)
def _context_digest(build: str, build_args: str) -> str:
    digest = hashlib.sha256()
    for name, content in _context_files(build):
        digest.update(name.encode() + b"\0" + content + b"\0")
    digest.update(build_args.encode())
    return digest.hexdigest()[:12]


def context_dir(service: Service) -> str:
    return f"{layout.BUILD}/{Path(service.build).name}"


def offsite_image(catalog: Catalog) -> tuple[str, str | None]:
    """The image restic runs in for the off-NAS copy, and the folder it is built from on the
    target (None: pulled)."""
    offsite = catalog.backup["offsite"]
    if not offsite["build"]:
        return offsite["image"], None
    digest = _context_digest(offsite["build"], "{}")
    return f"{catalog.project_name}/offsite:{digest}", f"{layout.BUILD}/{Path(offsite['build']).name}"


OPS_PROGRAM = "files/nasops"


def ops_image(catalog: Catalog) -> tuple[str, str]:
    """The NAS-side program's image (tagged after its content and build arguments) and the
    folder it is built from on the target."""
    digest = _context_digest(OPS_PROGRAM, json.dumps(catalog.ops_program["build_args"], sort_keys=True))
    return f"{catalog.project_name}/nasops:{digest}", f"{layout.BUILD}/{Path(OPS_PROGRAM).name}"


def image_tag(catalog: Catalog, service: Service) -> str:
    """A pinned image, or for a build a tag named after the content it is built from."""
    if not service.build:
        return service.image
    digest = _context_digest(service.build, json.dumps(service.build_args, sort_keys=True))
    return f"{catalog.project_name}/{service.name}:{digest}"


def cloudflared_config(catalog: Catalog) -> dict:
    """cloudflared's config.yml of a locally managed tunnel, as data (the template serializes it)."""
    return {"tunnel": catalog.tunnel["id"],
            "credentials-file": f"/etc/cloudflared/{posixpath.basename(catalog.tunnel['credentials_file'])}",
            "no-autoupdate": True, "ingress": [rule.as_config() for rule in tunnel_rules(catalog)]}


def render(catalog: Catalog) -> dict[str, ManagedFile]:
    """Every managed file, keyed by its path under deploy_root."""
    ddl = ddl_files(catalog)
    ctx = {**shell_context(catalog), "image_tag": lambda s: image_tag(catalog, s),
           "context_dir": context_dir, "swarm_hash_variable": hash_variable,
           "database_services": stack_description.database_services(catalog)}
    ctx["ops_image"], ctx["ops_context"] = ops_image(catalog)
    files: dict[str, ManagedFile] = {}

    def add(path: str, name: str, mode: int = 0o644, **extra) -> None:
        files[path] = ManagedFile(path, template(name).render(**ctx, **extra).encode(), mode)

    for svc in catalog.services.values():
        if svc.build:
            for name, content in build_files(svc).items():
                path = f"{context_dir(svc)}/{name}"
                files[path] = ManagedFile(path, content, 0o644)
    offsite = catalog.backup["offsite"]
    if offsite["repository"]:
        files[layout.OFFSITE_KNOWN_HOSTS] = ManagedFile(
            layout.OFFSITE_KNOWN_HOSTS, "".join(f"{line}\n" for line in offsite["known_hosts"]).encode(), 0o644)
        if offsite["build"]:
            for name, content in _context_files(offsite["build"]):
                path = f"{offsite_image(catalog)[1]}/{name}"
                files[path] = ManagedFile(path, content, 0o644)
    for name, content in _context_files(OPS_PROGRAM):
        path = f"{ctx['ops_context']}/{name}"
        files[path] = ManagedFile(path, content, 0o644)
    if "edge" in catalog.services:
        add(f"{layout.EDGE_CONF}/marketplace.conf", "edge.conf.j2")
        add(f"{layout.EDGE_CONF}/proxy_headers.inc", "proxy_headers.inc.j2")
    if "cloudflared" in catalog.services and catalog.tunnel["mode"] == "local":
        add(f"{layout.CLOUDFLARED}/config.yml", "cloudflared.yml.j2", config=cloudflared_config(catalog))
    for paths in ddl.values():
        for path, source in paths.items():
            files[path] = ManagedFile(path, (REPO / source).read_bytes(), 0o644)
    if catalog.tunnel["mode"] == "shared":
        add(layout.script("shared_tunnel"), "scripts/shared_tunnel.sh.j2", 0o755,
            shared=catalog.tunnel["shared"])
    for name, mode in layout.OPS_SCRIPTS.items():
        add(layout.script(name), f"scripts/{name}.sh.j2", mode)
    add(layout.DSM_TASKS, "dsm_tasks.json.j2", tasks=[t.params() for t in dsm.desired(catalog)])
    add(layout.ENV_FILE, "env.j2")
    # Last: the compose file labels each service with the hash of the config it mounts, so
    # a changed nginx or cloudflared config recreates exactly that service.
    if catalog.engine == "swarm":
        files[layout.SWARM_WITH_ENV] = ManagedFile(layout.SWARM_WITH_ENV, WITH_ENV.read_bytes(), 0o644)
        stack = StackFile(catalog, files, lambda s: image_tag(catalog, s), lambda s: config_hash(files, s))
        files[COMPOSE_FILE] = ManagedFile(COMPOSE_FILE, stack.render().encode(), 0o644)
        databases = set(ctx["database_services"])
        files[layout.SWARM_DATABASES] = ManagedFile(layout.SWARM_DATABASES, stack.render(databases).encode(), 0o644)
    else:
        add(COMPOSE_FILE, "docker-compose.yml.j2", config_hash=lambda s: config_hash(files, s, reloaded(catalog, s)))
    add(layout.script("release"), "scripts/release.sh.j2", 0o755)
    # Last of all: the description, which names every managed file (a release records and a
    # rollback restores them all, the description too).
    files[layout.STACK_DESCRIPTION] = ManagedFile(
        layout.STACK_DESCRIPTION, stack_description.render(catalog, sorted([*files, layout.STACK_DESCRIPTION]),
                                                           edge_config_sha(catalog, files)), 0o644)
    return files


def edge_config(catalog: Catalog) -> str:
    """The edge's nginx config alone (what `make route` and the ingress proof read)."""
    return template("edge.conf.j2").render(c=catalog)


def ddl_files(catalog: Catalog) -> dict[str, dict[str, str]]:
    """database -> {path under deploy_root: repo file} of the DDL it is loaded with, in order."""
    return {name: {f"{layout.DDL}/{name}/{i:02d}-{Path(src).name}": src
                   for i, src in enumerate(db["ddl"], 1)}
            for name, db in catalog.postgres_databases.items() if db["ddl"]}


def expected_containers(catalog: Catalog, files: dict[str, ManagedFile]) -> dict[str, tuple[str, str]]:
    """service -> (image tag, config hash) its running container must carry (on a swarm, the
    scheduler service too)."""
    found = {name: (image_tag(catalog, svc), config_hash(files, svc, reloaded(catalog, svc)))
             for name, svc in catalog.services.items()}
    if catalog.engine == "swarm":
        found[layout.SCHEDULER] = (ops_image(catalog)[0], scheduler_hash(catalog))
    return found


def _under(folder: str, path: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")


def config_hash(files: dict[str, ManagedFile], service: Service, reloaded_folder: str | None = None) -> str:
    """Hash of a service's definition and of the managed files under the folders it mounts:
    the running container carries it as a label, so drift from the catalog is visible. The
    folder it reloads without a restart (reloaded_folder) is left out: a change there is
    loaded by the release (edge_config_sha), the container stays."""
    digest = hashlib.sha256(repr(service).encode())
    for source in sorted(service.volumes):
        if source == reloaded_folder:
            continue
        for path in sorted(p for p in files if _under(source, p)):
            digest.update(path.encode() + b"\0" + files[path].content)
    return digest.hexdigest()[:12]


def reloaded(catalog: Catalog, service: Service) -> str | None:
    """The folder of a service's own config it loads by a graceful reload (the edge's, on
    Compose), None for every other service."""
    return catalog.edge_reloads if service.name == "edge" else None


def edge_config_sha(catalog: Catalog, files: dict[str, ManagedFile]) -> str:
    """The hash of the edge's reloaded configuration, as a release records it once loaded
    (layout.EDGE_LOADED); "" when the edge reloads nothing."""
    folder = catalog.edge_reloads
    if not folder:
        return ""
    digest = hashlib.sha256()
    for path in sorted(p for p in files if _under(folder, p)):
        digest.update(path.encode() + b"\0" + files[path].content + b"\0")
    return digest.hexdigest()[:16]


def directories(catalog: Catalog, files: dict[str, ManagedFile]) -> list[str]:
    """Every folder under deploy_root the stack needs, parents first."""
    dirs = set(layout.EXTRA_DIRS)
    for path in files:
        parent = str(Path(path).parent)
        if parent != ".":
            dirs.add(parent)
    for svc in catalog.services.values():
        dirs.update(src for src in svc.volumes if src not in files)
    expanded = set()
    for d in dirs:
        parts = Path(d).parts
        expanded.update(str(Path(*parts[:i])) for i in range(1, len(parts) + 1))
    return sorted(expanded, key=lambda d: (d.count("/"), d))


def secret_file_preview(catalog: Catalog) -> dict[str, str]:
    """What scripts/secrets.sh writes, with each secret shown as a placeholder."""
    return {layout.secret_env_file(name): "".join(f"{k}={v}\n" for k, v in sorted(values.items()))
            for name, values in sorted(catalog.secret_files.items())}
