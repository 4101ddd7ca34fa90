"""The catalog: group_data files merged for one target, checked, and derived into one model.

Data flows one way: group_data -> Catalog -> templates -> operations -> checks. Nothing else
reads group_data; everything else reads a Catalog.
"""

from __future__ import annotations

import __future__
import json
import re
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
GROUP_DATA = REPO / "group_data"
TARGETS = ("production", "staging", "local")

# Keys in group_data that belong to pyinfra (connection settings), not to the catalog.
PYINFRA_KEY = re.compile(r"^(ssh_|_)")
MACRO = re.compile(r"\{(secret|db|hostname|key):([A-Za-z0-9_.\-]+)\}|\{integrations\}")
SECRET_TOKEN = re.compile(r"\{secret:([A-Za-z0-9_]+)\}")
# Where a service finds the files of an RSA key pair ({key:NAME.private|public}): the folders
# under deploy_root written by scripts/secrets.sh, mounted read-only when a service uses them.
KEY_MOUNTS = {"private": ("secrets/keys", "/run/secrets/marketplace", "{name}.pem"),
              "public": ("public/keys", "/run/marketplace/keys", "{name}.pub.pem")}
DB_ENGINES = {
    "postgres": {"port": 5432, "url": "postgresql://{user}:{password}@{host}:{port}/{name}",
                 "jdbc_url": "jdbc:postgresql://{host}:{port}/{name}"},
    "redis": {"port": 6379, "url": "redis://{user}:{password}@{host}:{port}/0"},
    "mysql": {"port": 3306, "url": "mysql://{user}:{password}@{host}:{port}/{name}",
              "jdbc_url": "jdbc:mysql://{host}:{port}/{name}"},
    "mongodb": {"port": 27017,
                "url": "mongodb://{user}:{password}@{host}:{port}/{name}?authSource=admin"},
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the catalog, said so an operator can fix it."""

    path: str
    message: str
    source: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.path}: {self.message} ({self.source})"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


class CatalogError(Exception):
    """Every problem found in a target's catalog, listed at once."""

    def __init__(self, target: str, problems: list[Problem]):
        self.target = target
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"catalog for target {target!r} has {len(problems)} problem(s):\n{lines}")


@dataclass(frozen=True)
class Route:
    """A hostname + path prefix the edge (and the tunnel) sends to a service."""

    name: str
    service: str
    host_key: str
    hostname: str
    path: str
    strip_prefix: bool
    port: int

    @property
    def prefix(self) -> str:
        """The path prefix without a trailing slash ('' for the root)."""
        return self.path.rstrip("/")

    @property
    def path_regex(self) -> str | None:
        """The tunnel's anchored path regex (None for the root: the whole hostname)."""
        return f"^{re.escape(self.prefix)}(/|$)" if self.prefix else None


@dataclass(frozen=True)
class Health:
    test: list[str] | None
    http_path: str | None
    http_status: int
    interval_s: int
    timeout_s: int
    retries: int
    start_period_s: int
    gate_timeout_s: int


@dataclass(frozen=True)
class Service:
    name: str
    image: str
    build: str | None
    build_args: dict[str, str]
    port: int | None
    host_port: int | None
    public: bool
    command: list[str] | None
    env: dict[str, str]
    secret_env: dict[str, str]
    volumes: dict[str, str]
    depends_on: list[str]
    routes: list[Route]
    health: Health
    egress: bool
    mem_limit: str | None
    compose: dict[str, Any]
    keys: tuple[str, ...] = ()
    databases: tuple[str, ...] = ()  # the databases its environment points at

    @property
    def secrets(self) -> list[str]:
        """Names of the secrets this service uses (env values and key pairs)."""
        found = {m for v in self.secret_env.values() for m in SECRET_TOKEN.findall(v)}
        return sorted(found | set(self.keys))

    @property
    def public_network(self) -> bool:
        """On the non-internal network: it publishes a port or needs the internet."""
        return self.host_port is not None or self.egress

    @property
    def health_host(self) -> str | None:
        """The hostname the health route is reached by through the edge."""
        return self.routes[0].hostname if self.health_url else None

    @property
    def health_url(self) -> str | None:
        """The service's health route as seen through the edge (path only)."""
        if not (self.health.http_path and self.routes):
            return None
        route = self.routes[0]
        return (route.prefix if route.strip_prefix else "") + self.health.http_path

    @property
    def internal_health_url(self) -> str | None:
        if not (self.health.http_path and self.port):
            return None
        return f"http://{self.name}:{self.port}{self.health.http_path}"


@dataclass
class Catalog:
    target: str
    project_name: str
    deploy_root: str
    docker_bin: str
    bind_address: str
    port_offset: int
    reserved_ports: dict[int, str]
    file_owner: str
    wait_timeout_s: int
    backup_dir: str
    backup_keep_days: int
    backup_schedule: dict[str, int]
    hostnames: dict[str, str]
    tunnel: dict[str, Any]
    secrets: dict[str, dict[str, Any]]
    databases: dict[str, dict[str, Any]]
    services: dict[str, Service]
    routes: list[Route] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def edge(self) -> Service:
        return self.services["edge"]

    @property
    def secret_files(self) -> dict[str, dict[str, str]]:
        """Secret env files, one per service that has secrets: service -> its secret_env."""
        return {name: svc.secret_env for name, svc in self.services.items() if svc.secret_env}

    def secret_users(self, secret: str) -> list[str]:
        """The services a secret reaches (what a rotation of it must restart)."""
        return [name for name, svc in self.services.items() if secret in svc.secrets]

    def secret_database(self, secret: str) -> str | None:
        """The database whose password a secret is, if any."""
        return next((db for db in self.databases if secret == f"db_{db}_password"), None)

    @property
    def postgres_databases(self) -> dict[str, dict[str, Any]]:
        return {name: db for name, db in self.databases.items()
                if db["engine"] == "postgres" and db["service"] in self.services}

    @property
    def used_secrets(self) -> list[str]:
        """Every secret an enabled service or database uses (what scripts/secrets.sh makes)."""
        names = {name for s in self.services.values() for name in s.secrets}
        names.update(f"db_{db}_password" for db, spec in self.databases.items()
                     if spec["service"] in self.services)
        return sorted(names & set(self.secrets))

    def admin_secret(self, service: str) -> str | None:
        """The secret holding a database server's administrator password (its image's
        POSTGRES_PASSWORD or MYSQL_ROOT_PASSWORD), if it has one."""
        env = self.services[service].secret_env
        for key in ("POSTGRES_PASSWORD", "MYSQL_ROOT_PASSWORD"):
            found = SECRET_TOKEN.findall(env.get(key, ""))
            if found:
                return found[0]
        return None


def _load_file(path: Path) -> dict[str, Any]:
    values = runpy.run_path(str(path))
    return {k: v for k, v in values.items()
            if not k.startswith("_") and not callable(v) and type(v).__name__ != "module"
            and not isinstance(v, __future__._Feature)}


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return over


def _source_label(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def layers(target: str, group_data: Path = GROUP_DATA) -> list[tuple[Path, dict[str, Any]]]:
    """The group_data files for a target, in merge order: all, what it extends, itself."""
    target_file = group_data / f"{target}.py"
    if not target_file.exists():
        raise CatalogError(target, [Problem("target", f"no group_data file {target_file.name}",
                                            str(group_data), f"one of: {', '.join(TARGETS)}")])
    own = _load_file(target_file)
    extends = own.pop("extends", [])
    extends = [extends] if isinstance(extends, str) else list(extends)
    result = [(group_data / "all.py", _load_file(group_data / "all.py"))]
    for name in extends:
        data = _load_file(group_data / f"{name}.py")
        data.pop("extends", None)  # a file's own extends apply when it is the target
        result.append((group_data / f"{name}.py", data))
    result.append((target_file, own))
    return result


class _Builder:
    """Turns merged raw data into a Catalog, collecting every problem on the way."""

    def __init__(self, target: str, layered: list[tuple[Path, dict[str, Any]]]):
        self.target = target
        self.layers = [(file, {k: v for k, v in data.items() if not PYINFRA_KEY.match(k)})
                       for file, data in layered]
        self.problems: list[Problem] = []
        self.db_refs: set[str] = set()
        raw: dict[str, Any] = {}
        for _, data in self.layers:
            raw = _merge(raw, data)
        raw["routes"] = {k: v for k, v in raw.get("routes", {}).items() if v is not None}
        self.raw = raw

    def source(self, *path: str) -> str:
        """The last file that set this key path (where a fix belongs)."""
        found = self.layers[0][0]
        for file, data in self.layers:
            node: Any = data
            for key in path:
                if isinstance(node, dict) and key not in node and key.isdigit() and int(key) in node:
                    key = int(key)  # noqa: PLW2901 - int keys (reserved_ports)
                if not isinstance(node, dict) or key not in node:
                    break
                node = node[key]
            else:
                found = file
        return _source_label(found)

    def problem(self, path: tuple[str, ...], message: str, hint: str = "") -> None:
        self.problems.append(Problem(".".join(path), message, self.source(*path), hint))

    def check_schema(self) -> None:
        """Unknown keys and wrong types in each file (named), then required keys once merged."""
        from deploys import schema

        types = schema.annotations(self.layers[0][0])
        for file, data in self.layers:
            for path, message, hint in schema.check(data, types, merged=False):
                self.problems.append(Problem(path, message, _source_label(file), hint))
        if not self.problems:
            for path, message, hint in schema.check(self.raw, types, merged=True):
                self.problems.append(Problem(path, message, self.source(*path.split(".")), hint))

    # -- macros -----------------------------------------------------------------------------

    def db_field(self, ref: str, where: tuple[str, ...], secret_ok: bool) -> str:
        name, _, fld = ref.partition(".")
        db = self.raw["databases"].get(name)
        if db is None:
            self.problem(where, f"unknown database {name!r}", f"one of: {', '.join(self.raw['databases'])}")
            return ""
        self.db_refs.add(name)
        engine = DB_ENGINES[db["engine"]]
        values = {"host": db["service"], "port": str(engine["port"]), "name": name, "user": db["user"],
                  "password": "{secret:" + f"db_{name}_password" + "}"}
        values.update({k: v.format(**values) for k, v in engine.items() if k != "port"})
        if fld not in values:
            self.problem(where, f"database field {fld!r} does not exist for {db['engine']}",
                         f"one of: {', '.join(sorted(values))}")
            return ""
        if fld in ("password", "url") and not secret_ok:
            self.problem(where, f"{{db:{ref}}} holds a password: it belongs in secret_env, not env")
        return values[fld]

    def key_path(self, ref: str, where: tuple[str, ...], used: set[str]) -> str:
        name, _, part = ref.partition(".")
        spec = self.raw["secrets"].get(name)
        if spec is None or _merge(self.raw["secret_defaults"], spec)["kind"] != "rsa_keypair":
            self.problem(where, f"{{key:{ref}}}: {name!r} is not a declared rsa_keypair secret",
                         "declare it under `secrets` with kind='rsa_keypair'")
            return ""
        if part not in KEY_MOUNTS:
            self.problem(where, f"{{key:{ref}}}: expected {name}.private or {name}.public")
            return ""
        used.add(f"{name}.{part}")
        _, mount, filename = KEY_MOUNTS[part]
        return f"{mount}/{filename.format(name=name)}"

    def expand(self, value: str, where: tuple[str, ...], secret_ok: bool,
               keys: set[str] | None = None) -> str:
        def one(match: re.Match) -> str:
            kind, ref = match.group(1), match.group(2)
            if kind is None:
                return json.dumps(self.integrations(), sort_keys=True)
            if kind == "db":
                return self.db_field(ref, where, secret_ok)
            if kind == "key":
                return self.key_path(ref, where, keys if keys is not None else set())
            if kind == "hostname":
                if ref not in self.raw["hostnames"]:
                    self.problem(where, f"unknown hostname key {ref!r}")
                return self.raw["hostnames"].get(ref, "")
            if not secret_ok:
                self.problem(where, "a {secret:...} belongs in secret_env, not env")
            return match.group(0)

        return MACRO.sub(one, str(value))

    def integrations(self) -> dict[str, str]:
        found = {}
        for name, svc in self.enabled_raw().items():
            http = (svc.get("health") or {}).get("http")
            if name != "connector" and http and svc.get("port"):
                found[name] = f"http://{name}:{svc['port']}{http['path']}"
        return found

    # -- services ---------------------------------------------------------------------------

    def all_raw(self) -> dict[str, dict[str, Any]]:
        """Every service (enabled or not) with the defaults merged in."""
        defaults = self.raw["service_defaults"]
        return {name: _merge(defaults, svc) for name, svc in self.raw["services"].items()}

    def enabled_raw(self) -> dict[str, dict[str, Any]]:
        return {name: svc for name, svc in self.all_raw().items() if svc.get("enabled")}

    def tunnel_adjusted(self, name: str, svc: dict[str, Any]) -> dict[str, Any]:
        """cloudflared in remote mode: a token instead of config.yml and credentials."""
        if name != "cloudflared" or self.raw["tunnel"].get("mode") != "remote":
            return svc
        command = list(svc.get("command") or [])
        if "--config" in command:
            i = command.index("--config")
            del command[i:i + 2]
        volumes = {k: v for k, v in svc["volumes"].items() if k != "cloudflared"}
        return {**svc, "command": command, "volumes": volumes,
                "secret_env": {**svc["secret_env"], "TUNNEL_TOKEN": "{secret:tunnel_token}"}}

    def service(self, name: str, svc: dict[str, Any], routes: list[Route]) -> Service:
        where = ("services", name)
        svc = self.tunnel_adjusted(name, svc)
        offset = int(self.raw["port_offset"])
        health = svc["health"]
        http = health.get("http") or {}
        test = health.get("test")
        if test is None and http:
            test = ["CMD-SHELL", f"curl -fsS -o /dev/null 'http://127.0.0.1:{svc['port']}{http['path']}'"]
        keys: set[str] = set()
        self.db_refs = set()
        env = {k: self.expand(v, where + ("env", k), False, keys) for k, v in svc["env"].items()}
        secret_env = {k: self.expand(v, where + ("secret_env", k), True, keys)
                      for k, v in svc["secret_env"].items()}
        volumes = dict(svc["volumes"])
        for part in sorted({k.partition(".")[2] for k in keys}):
            source, mount, _ = KEY_MOUNTS[part]
            volumes[source] = f"{mount}:ro"
        return Service(
            name=name,
            image=svc.get("image") or "",
            build=svc.get("build"),
            build_args={k: str(v) for k, v in svc["build_args"].items()},
            port=svc.get("port"),
            host_port=svc["host_port"] + offset if svc.get("host_port") is not None else None,
            public=bool(svc["public"]),
            command=svc.get("command"),
            env=env,
            secret_env=secret_env,
            volumes=volumes,
            depends_on=list(svc["depends_on"]),
            routes=[r for r in routes if r.service == name],
            health=Health(test, http.get("path"), int(http.get("status", 200)),
                          health["interval_s"], health["timeout_s"], health["retries"],
                          health["start_period_s"],
                          health.get("gate_timeout_s") or health["start_period_s"]
                          + health["interval_s"] * (health["retries"] + 1) + 30),
            egress=bool(svc["egress"]),
            mem_limit=svc.get("mem_limit"),
            compose=dict(svc["compose"]),
            keys=tuple(sorted({k.partition(".")[0] for k in keys})),
            databases=tuple(sorted(self.db_refs)),
        )

    def routes(self, enabled: dict[str, dict[str, Any]]) -> list[Route]:
        """Every route to an enabled service, most specific first (longest prefix first)."""
        routes = []
        for name, route in self.raw["routes"].items():
            host_key, service = route["host"], route["service"]
            if host_key not in self.raw["hostnames"] or service not in enabled:
                continue  # reported by the rules
            routes.append(Route(name, service, host_key, self.raw["hostnames"][host_key], route["path"],
                                bool(route.get("strip_prefix", False)), enabled[service].get("port") or 0))
        return sorted(routes, key=lambda r: (r.hostname, -len(r.prefix), r.name))

    def build(self, strict: bool = True) -> Catalog:
        self.check_schema()
        if self.problems:
            raise CatalogError(self.target, self.problems)
        enabled = self.enabled_raw()
        routes = self.routes(enabled)
        services = {name: self.service(name, svc, routes) for name, svc in enabled.items()}
        secrets = {name: _merge(self.raw["secret_defaults"], spec)
                   for name, spec in self.raw["secrets"].items()}
        for db in self.raw["databases"]:
            secrets.setdefault(f"db_{db}_password", dict(self.raw["secret_defaults"]))
        catalog = Catalog(
            target=self.target,
            project_name=self.raw["project_name"],
            deploy_root=self.raw["deploy_root"].rstrip("/"),
            docker_bin=self.raw["docker_bin"],
            bind_address=self.raw["bind_address"],
            port_offset=int(self.raw["port_offset"]),
            reserved_ports=dict(self.raw["reserved_ports"]),
            file_owner=self.raw["file_owner"],
            wait_timeout_s=int(self.raw["wait_timeout_s"]),
            backup_dir=self.raw["backup_dir"].rstrip("/"),
            backup_keep_days=int(self.raw["backup_keep_days"]),
            backup_schedule=dict(self.raw["backup_schedule"]),
            hostnames=dict(self.raw["hostnames"]),
            tunnel=dict(self.raw["tunnel"]),
            secrets=secrets,
            databases={name: {"ddl": [], **db} for name, db in self.raw["databases"].items()},
            services=services,
            routes=routes,
        )
        from deploys import rules

        rules.check(catalog, self)
        if self.problems and strict:
            raise CatalogError(self.target, self.problems)
        catalog.problems = list(self.problems)
        return catalog


def load(target: str, group_data: Path = GROUP_DATA, strict: bool = True) -> Catalog:
    """Build the catalog of one target; raises CatalogError listing every problem. With
    strict=False only shape errors raise, and rule problems are kept in `problems` (for tools
    that read a catalog without deploying it, like `make route`)."""
    return _Builder(target, layers(target, group_data)).build(strict)
