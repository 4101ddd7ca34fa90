"""The catalog: group_data files merged for one target, checked, and derived into one model.

Data flows one way: group_data -> Catalog -> templates -> operations -> checks. Nothing else
reads group_data; everything else reads a Catalog.
"""

from __future__ import annotations

import json
import re
import runpy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
GROUP_DATA = REPO / "group_data"
TARGETS = ("production", "staging", "local")

# Keys in group_data that belong to pyinfra (connection settings), not to the catalog.
PYINFRA_KEY = re.compile(r"^(ssh_|_)")
MACRO = re.compile(r"\{(secret|db|hostname):([A-Za-z0-9_.\-]+)\}|\{integrations\}")
SECRET_TOKEN = re.compile(r"\{secret:([A-Za-z0-9_]+)\}")
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
    """A hostname + path prefix the edge (and the tunnel, by hostname) sends to a service."""

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


@dataclass(frozen=True)
class Health:
    test: list[str] | None
    http_path: str | None
    http_status: int
    interval_s: int
    timeout_s: int
    retries: int
    start_period_s: int


@dataclass(frozen=True)
class Service:
    name: str
    image: str
    build: str | None
    build_args: dict[str, str]
    port: int | None
    host_port: int | None
    command: list[str] | None
    env: dict[str, str]
    secret_env: dict[str, str]
    secret_file: str
    volumes: dict[str, str]
    depends_on: list[str]
    routes: list[Route]
    health: Health
    egress: bool
    mem_limit: str | None

    @property
    def secrets(self) -> list[str]:
        """Names of the generated secrets this service needs."""
        return sorted({m for v in self.secret_env.values() for m in SECRET_TOKEN.findall(v)})

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

    @property
    def routes(self) -> list[Route]:
        """Every route, most specific first (longest path, then hostname)."""
        routes = [r for s in self.services.values() for r in s.routes]
        return sorted(routes, key=lambda r: (r.hostname, -len(r.prefix)))

    @property
    def edge(self) -> Service:
        return self.services["edge"]

    @property
    def secret_files(self) -> dict[str, dict[str, str]]:
        """Secret env files (one per concern): name -> merged secret_env of its services."""
        files: dict[str, dict[str, str]] = {}
        for svc in self.services.values():
            if svc.secret_env:
                files.setdefault(svc.secret_file, {}).update(svc.secret_env)
        return files

    @property
    def postgres_databases(self) -> dict[str, dict[str, Any]]:
        return {name: db for name, db in self.databases.items()
                if db["engine"] == "postgres" and db["service"] in self.services}

    @property
    def used_secrets(self) -> list[str]:
        return sorted({name for s in self.services.values() for name in s.secrets})


def _load_file(path: Path) -> dict[str, Any]:
    values = runpy.run_path(str(path))
    return {k: v for k, v in values.items()
            if not k.startswith("_") and not callable(v) and type(v).__name__ != "module"}


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return over


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
    result += [(group_data / f"{name}.py", _load_file(group_data / f"{name}.py")) for name in extends]
    result.append((target_file, own))
    return result


class _Builder:
    """Turns merged raw data into a Catalog, collecting every problem on the way."""

    def __init__(self, target: str, layered: list[tuple[Path, dict[str, Any]]]):
        self.target = target
        self.layers = layered
        self.problems: list[Problem] = []
        raw: dict[str, Any] = {}
        for _, data in layered:
            raw = _merge(raw, {k: v for k, v in data.items() if not PYINFRA_KEY.match(k)})
        self.raw = raw

    def source(self, *path: str) -> str:
        """The last file that set this key path (where a fix belongs)."""
        found = self.layers[0][0]
        for file, data in self.layers:
            node: Any = data
            for key in path:
                if not isinstance(node, dict) or key not in node:
                    break
                node = node[key]
            else:
                found = file
        return str(found.relative_to(REPO)) if found.is_relative_to(REPO) else str(found)

    def problem(self, path: tuple[str, ...], message: str, hint: str = "") -> None:
        self.problems.append(Problem(".".join(path), message, self.source(*path), hint))

    # -- macros -----------------------------------------------------------------------------

    def db_field(self, ref: str, where: tuple[str, ...], secret_ok: bool) -> str:
        name, _, fld = ref.partition(".")
        db = self.raw["databases"].get(name)
        if db is None:
            self.problem(where, f"unknown database {name!r}", f"one of: {', '.join(self.raw['databases'])}")
            return ""
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

    def expand(self, value: str, where: tuple[str, ...], secret_ok: bool) -> str:
        def one(match: re.Match) -> str:
            kind, ref = match.group(1), match.group(2)
            if kind is None:
                return json.dumps(self.integrations(), sort_keys=True)
            if kind == "db":
                return self.db_field(ref, where, secret_ok)
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

    def enabled_raw(self) -> dict[str, dict[str, Any]]:
        defaults = self.raw["service_defaults"]
        return {name: _merge(defaults, svc) for name, svc in self.raw["services"].items()
                if _merge(defaults, svc).get("enabled")}

    def service(self, name: str, svc: dict[str, Any]) -> Service:
        where = ("services", name)
        offset = int(self.raw["port_offset"])
        if not svc.get("image") and not svc.get("build"):
            self.problem(where + ("image",), "no image and no build context",
                         "set a pinned image tag you built or pulled for this target, "
                         "or disable the service with enabled=False")
        routes = []
        for i, route in enumerate(svc["routes"]):
            host_key = route["host"]
            if host_key not in self.raw["hostnames"]:
                self.problem(where + ("routes", str(i), "host"), f"unknown hostname key {host_key!r}",
                             f"one of: {', '.join(self.raw['hostnames'])}")
                continue
            routes.append(Route(name, host_key, self.raw["hostnames"][host_key], route["path"],
                                bool(route.get("strip_prefix")), svc["port"]))
        health = svc["health"]
        http = health.get("http") or {}
        test = health.get("test")
        if test is None and http:
            test = ["CMD-SHELL", f"curl -fsS -o /dev/null 'http://127.0.0.1:{svc['port']}{http['path']}'"]
        image = svc.get("image") or ""
        secret_env = dict(svc["secret_env"])
        for db, spec in self.raw["databases"].items():
            if spec["service"] == name and spec["engine"] == "postgres":
                secret_env[f"DB_{db.upper()}_PASSWORD"] = "{db:" + db + ".password}"
        return Service(
            name=name,
            image=image,
            build=svc.get("build"),
            build_args={k: str(v) for k, v in svc["build_args"].items()},
            port=svc.get("port"),
            host_port=svc["host_port"] + offset if svc.get("host_port") is not None else None,
            command=svc.get("command"),
            env={k: self.expand(v, where + ("env", k), False) for k, v in svc["env"].items()},
            secret_env={k: self.expand(v, where + ("secret_env", k), True)
                        for k, v in secret_env.items()},
            secret_file=svc.get("secret_file") or name,
            volumes=dict(svc["volumes"]),
            depends_on=list(svc["depends_on"]),
            routes=routes,
            health=Health(test, http.get("path"), int(http.get("status", 200)),
                          health["interval_s"], health["timeout_s"], health["retries"],
                          health["start_period_s"]),
            egress=bool(svc["egress"]),
            mem_limit=svc.get("mem_limit"),
        )

    def build(self) -> Catalog:
        services = {name: self.service(name, svc) for name, svc in self.enabled_raw().items()}
        for name, svc in services.items():
            for dep in svc.depends_on:
                if dep not in services:
                    self.problem(("services", name, "depends_on"),
                                 f"{dep!r} is unknown or disabled", "enable it or drop the dependency")
        secrets = dict(self.raw["secrets"])
        for db in self.raw["databases"]:
            secrets.setdefault(f"db_{db}_password", {"length": 40})
        for name, svc in services.items():
            for secret in svc.secrets:
                if secret not in secrets:
                    self.problem(("services", name, "secret_env"), f"secret {secret!r} is not declared",
                                 "declare it under `secrets` in group_data/all.py")
        tunnel = dict(self.raw["tunnel"])
        if "cloudflared" in services and not tunnel.get("id"):
            self.problem(("tunnel", "id"), "cloudflared is enabled but no tunnel id is set",
                         "run `cloudflared tunnel create marketplace` and set its UUID here")
        if self.problems:
            raise CatalogError(self.target, self.problems)
        return Catalog(
            target=self.target,
            project_name=self.raw["project_name"],
            deploy_root=self.raw["deploy_root"].rstrip("/"),
            docker_bin=self.raw["docker_bin"],
            bind_address=self.raw["bind_address"],
            port_offset=int(self.raw["port_offset"]),
            file_owner=self.raw["file_owner"],
            wait_timeout_s=int(self.raw["wait_timeout_s"]),
            backup_dir=self.raw["backup_dir"].rstrip("/"),
            backup_keep_days=int(self.raw["backup_keep_days"]),
            backup_schedule=dict(self.raw["backup_schedule"]),
            hostnames=dict(self.raw["hostnames"]),
            tunnel=tunnel,
            secrets=secrets,
            databases=dict(self.raw["databases"]),
            services=services,
        )


def load(target: str, group_data: Path = GROUP_DATA) -> Catalog:
    """Build the catalog of one target; raises CatalogError listing every problem."""
    return _Builder(target, layers(target, group_data)).build()
