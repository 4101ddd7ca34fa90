"""Render every file a deploy manages on the target from a Catalog (no connection needed).

Paths are relative to the catalog's deploy_root. Secret values never pass through here: the
secret env files are written on the target by scripts/secrets.sh from the templates it embeds.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shlex
from pathlib import Path

import jinja2

from deploys import layout
from deploys.catalog import REPO, Catalog, Service
from deploys.ingress import tunnel_rules
from deploys.layout import COMPOSE_FILE, ManagedFile

TEMPLATES = REPO / "templates"
# The ops scripts (templates/scripts/NAME.sh.j2 -> scripts/NAME.sh) and their modes.
SCRIPTS = {"start_all": 0o755, "stop_all": 0o755, "backup_postgres": 0o755, "healthcheck": 0o755,
           "compose": 0o755, "ensure_databases": 0o755, "gate": 0o755, "secrets": 0o700}


class Shell(str):
    """Text that is safe where a shell template puts it: a quoted word (`sq`, `words`) or a
    checked heredoc line (`line`)."""


def shell_word(value) -> Shell:
    """The one quoting filter of shell templates (`| sq`): one word, whatever the value."""
    return Shell(shlex.quote(str(value)))


def shell_words(values) -> Shell:
    """An argv list as shell words (`| words`)."""
    return Shell(" ".join(shlex.quote(str(v)) for v in values))


def heredoc_line(value) -> Shell:
    """A value inside a quoted heredoc (`| line`): taken literally, so only a line break could
    escape it, and it is refused."""
    text = str(value)
    if "\n" in text or "\r" in text:
        raise ValueError(f"{text[:40]!r}...: a line break cannot be written into a script's heredoc")
    return Shell(text)


def _finalize(value):
    """Shell templates print nothing that has not been through one of their quoting filters."""
    if isinstance(value, Shell):
        return value
    raise jinja2.TemplateError(f"unquoted value {str(value)[:60]!r} in a shell template: "
                               "pass it through | sq (a word), | words (an argv) or | line")


def pg_ident(name: str) -> str:
    """A PostgreSQL identifier, double-quoted."""
    return '"' + str(name).replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    """An SQL string literal, single-quoted."""
    return "'" + str(text).replace("'", "''") + "'"


def mysql_ident(name: str) -> str:
    """A MySQL identifier, backquoted."""
    return "`" + str(name).replace("`", "``") + "`"


def _compose_scalar(value) -> str:
    """A YAML (JSON) value with Compose's `$` interpolation escaped in every string."""
    def escape(v):
        if isinstance(v, str):
            return v.replace("$", "$$")
        if isinstance(v, dict):
            return {k: escape(x) for k, x in v.items()}
        if isinstance(v, list):
            return [escape(x) for x in v]
        return v
    return json.dumps(escape(value), sort_keys=True)


@functools.lru_cache(maxsize=None)
def _env(shell: bool) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True,
                             finalize=_finalize if shell else None,
                             # bash's ${#array[@]} is not a Jinja comment in a shell template
                             comment_start_string="{##" if shell else "{#",
                             comment_end_string="##}" if shell else "#}")
    env.filters.update(cq=_compose_scalar, sq=shell_word, words=shell_words, line=heredoc_line,
                       json=lambda v: json.dumps(v, sort_keys=True), pg_ident=pg_ident,
                       sql_literal=sql_literal, mysql_ident=mysql_ident)
    env.globals["layout"] = layout
    return env


def template(name: str) -> jinja2.Template:
    """A template by its path under templates/; `.sh.j2` ones are shell templates."""
    return _env(name.endswith(".sh.j2")).get_template(name)


def shell_context(catalog: Catalog) -> dict:
    """What every shell template may use besides the catalog."""
    edge = catalog.services.get("edge")
    edge_url = f"http://{catalog.bind_address}:{edge.host_port}" if edge and edge.host_port else ""
    return {"c": catalog, "state_format": layout.STATE_FORMAT, "edge_url": edge_url}


def command(catalog: Catalog, name: str, **values) -> str:
    """A command that runs on the target (templates/commands/NAME.sh.j2), rendered."""
    return template(f"commands/{name}.sh.j2").render(**shell_context(catalog), **values)


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


def image_tag(catalog: Catalog, service: Service) -> str:
    """A pinned image, or for a build a tag named after the content it is built from."""
    if not service.build:
        return service.image
    digest = _context_digest(service.build, json.dumps(service.build_args, sort_keys=True))
    return f"{catalog.project_name}/{service.name}:{digest}"


def render(catalog: Catalog) -> dict[str, ManagedFile]:
    """Every managed file, keyed by its path under deploy_root."""
    ddl = ddl_files(catalog)
    ctx = {**shell_context(catalog), "image_tag": lambda s: image_tag(catalog, s),
           "context_dir": context_dir,
           "tunnel_rules": tunnel_rules(catalog) if "edge" in catalog.services else [],
           "ddl_files": {db: list(paths) for db, paths in ddl.items()},
           "database_services": sorted({db["service"] for db in catalog.databases.values()
                                        if db["service"] in catalog.services})}
    files: dict[str, ManagedFile] = {}

    def add(path: str, name: str, mode: int = 0o644, **extra) -> None:
        files[path] = ManagedFile(path, template(name).render(**ctx, **extra).encode(), mode)

    for svc in catalog.services.values():
        if svc.build:
            for name, content in build_files(svc).items():
                path = f"{context_dir(svc)}/{name}"
                files[path] = ManagedFile(path, content, 0o644)
    if "edge" in catalog.services:
        add(f"{layout.EDGE_CONF}/marketplace.conf", "edge.conf.j2")
        add(f"{layout.EDGE_CONF}/proxy_headers.inc", "proxy_headers.inc.j2")
    if "cloudflared" in catalog.services and catalog.tunnel["mode"] == "local":
        add(f"{layout.CLOUDFLARED}/config.yml", "cloudflared.yml.j2")
    for paths in ddl.values():
        for path, source in paths.items():
            files[path] = ManagedFile(path, (REPO / source).read_bytes(), 0o644)
    if catalog.tunnel["mode"] == "shared":
        add(layout.script("shared_tunnel"), "scripts/shared_tunnel.sh.j2", 0o755,
            shared=catalog.tunnel["shared"])
    for name, mode in SCRIPTS.items():
        add(layout.script(name), f"scripts/{name}.sh.j2", mode)
    add(layout.DSM_TASKS, "dsm_tasks.json.j2")
    add(layout.ENV_FILE, "env.j2")
    # Last: the compose file labels each service with the hash of the config it mounts, so
    # a changed nginx or cloudflared config recreates exactly that service.
    add(COMPOSE_FILE, "docker-compose.yml.j2", config_hash=lambda s: config_hash(files, s))
    # Last of all: a release records (and a rollback restores) every managed file, itself too.
    add(layout.script("release"), "scripts/release.sh.j2", 0o755,
        managed=sorted([*files, layout.script("release")]))
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
    """service -> (image tag, config hash) its running container must carry."""
    return {name: (image_tag(catalog, svc), config_hash(files, svc))
            for name, svc in catalog.services.items()}


def config_hash(files: dict[str, ManagedFile], service: Service) -> str:
    """Hash of a service's definition and of the managed files under the folders it mounts:
    the running container carries it as a label, so drift from the catalog is visible."""
    digest = hashlib.sha256(repr(service).encode())
    for source in sorted(service.volumes):
        for path in sorted(p for p in files if p.startswith(source.rstrip("/") + "/")):
            digest.update(path.encode() + b"\0" + files[path].content)
    return digest.hexdigest()[:12]


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


def state_command(catalog: Catalog, desired) -> str:
    """The StackState fact's command (templates/commands/state.sh.j2) for a plan.Desired."""
    return command(catalog, "state", dirs=desired.dirs, files=desired.state_files,
                   routes=desired.probes, shared_config_file=desired.shared_config_file)


def install_command(catalog: Catalog, pushes: list[tuple[ManagedFile, str]]) -> str:
    """templates/commands/install.sh.j2 for (file, "upload" | "fix") pairs of one group."""
    by_mode: dict[str, list[str]] = {}
    moves = []
    for mf, action in pushes:
        path = mf.path + layout.TEMP_SUFFIX if action == "upload" else mf.path
        by_mode.setdefault(f"{mf.mode:o}", []).append(path)
        if action == "upload":
            moves.append((path, mf.path))
    return command(catalog, "install", by_mode=dict(sorted(by_mode.items())), moves=moves)
