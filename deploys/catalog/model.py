"""The catalog's model: what one target's validated, derived catalog holds. Everything after
validation reads these classes; nothing reads group_data itself."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from deploys import layout
from deploys.catalog.draft import Problem

MACRO = re.compile(r"\{(secret|db|hostname|key|tenant):([A-Za-z0-9_.\-]+)\}|\{(integrations|sync_jobs)\}")
SECRET_TOKEN = re.compile(r"\{secret:([A-Za-z0-9_]+)\}")
# What each database engine is: its port, its URLs ({db:NAME.url}, {db:NAME.jdbc_url}) and the
# environment variable of its image that holds the administrator's password (Redis: of the
# catalog's redis command, for its `admin` ACL user; `reserved_users`, the server's own accounts,
# are never an app's; MongoDB's app user is the server's root user, by design of its image).
DB_ENGINES = {
    "postgres": {"port": 5432, "url": "postgresql://{user}:{password}@{host}:{port}/{name}",
                 "jdbc_url": "jdbc:postgresql://{host}:{port}/{name}", "admin_env": "POSTGRES_PASSWORD",
                 "reserved_users": ("postgres",)},
    "redis": {"port": 6379, "url": "redis://{user}:{password}@{host}:{port}/0",
              "admin_env": "REDIS_ADMIN_PASSWORD", "admin_user": "admin",
              "reserved_users": ("admin", "default")},
    "mysql": {"port": 3306, "url": "mysql://{user}:{password}@{host}:{port}/{name}",
              "jdbc_url": "jdbc:mysql://{host}:{port}/{name}", "admin_env": "MYSQL_ROOT_PASSWORD",
              "reserved_users": ("root", "mysql.sys", "mysql.session", "mysql.infoschema")},
    "mongodb": {"port": 27017,
                "url": "mongodb://{user}:{password}@{host}:{port}/{name}?authSource=admin"},
}
def sync_jobs(tasks: dict[str, dict[str, Any]]) -> list[str]:
    """The integration sync jobs of DSM tasks (merged with their defaults): the first argument of
    each enabled task that runs scripts/sync.sh."""
    return sorted({str(t["args"][0]) for t in tasks.values()
                   if t.get("script") == "sync" and t.get("enabled") and t.get("args")})


# The fields of a database a macro may name ({db:NAME.FIELD}); the rest of an engine's entry is
# about the engine.
DB_FIELDS = ("host", "port", "name", "user", "password", "url", "jdbc_url")



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
    max_body_size: str = "32m"

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
    # name -> argv, run once per release in a one-off container before it receives traffic
    release_tasks: tuple[tuple[str, tuple[str, ...]], ...] = ()
    image_from: str = "registry"  # or "ship": only `make ship` brings it to the target
    # The edge in tunnel mode shared: (host port, tunnel.edge_port), its tunnel port published
    # for the other site's cloudflared.
    tunnel_published: tuple[int, int] | None = None
    # How a release replaces its container: "zero-gap", "replace" or None (derived: gap_reason).
    # Not the container's definition: left out of repr, so out of its config hash.
    release_switch: str | None = field(default=None, repr=False)
    serves: str | None = field(default=None, repr=False)  # the database engine it is the server of
    # A zero-gap service's host port is the edge's (two containers cannot hold one port): the
    # edge relays it to the app. relayed: this service's is; relays: the edge's (host port,
    # service, port) it relays.
    relayed: bool = False
    relays: tuple[tuple[int, str, int], ...] = ()

    @property
    def data_mounts(self) -> dict[str, str]:
        """The volumes that are folders of the node it runs on (not rendered files): source ->
        target."""
        return {src: dst for src, dst in self.volumes.items() if src not in layout.RENDERED_FOLDERS}

    @property
    def pinned(self) -> bool:
        """Runs once, on the node that holds its data (on Swarm, the data node): it mounts a
        folder of that node."""
        return bool(self.data_mounts)

    @property
    def gap_reason(self) -> str | None:
        """Why a release must stop this service before starting its new container (None: it
        can be replaced without a gap)."""
        if self.serves:
            return f"it is a {self.serves} server (two must not share its data)"
        if self.exclusive_mounts:
            return f"it writes the folder {sorted(self.exclusive_mounts)[0]}/ that two containers must not share"
        if self.published:
            owner = " (it owns the stack's ports)" if self.relays or self.name == "edge" else ""
            return f"it publishes host port {min(self.published)}: two containers cannot hold one port{owner}"
        if not self.health.test:
            return "it has no health check to tell when its new container is ready"
        return None

    @property
    def exclusive_mounts(self) -> dict[str, str]:
        """The data folders it writes (a read-only one may be shared by two containers)."""
        return {src: dst for src, dst in self.data_mounts.items() if not dst.endswith(":ro")}

    @property
    def zero_gap(self) -> bool:
        """A release starts its new container beside the old one (release_switch)."""
        return self.release_switch != "replace" and self.gap_reason is None

    @property
    def published(self) -> dict[int, int]:
        """host port -> container port: every port it publishes (on bind_address, or on every
        address when public)."""
        found = {self.host_port: self.port} if self.host_port is not None and not self.relayed else {}
        found.update({host_port: host_port for host_port, _, _ in self.relays})
        if self.tunnel_published:
            found[self.tunnel_published[0]] = self.tunnel_published[1]
        return found

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


@dataclass(frozen=True)
class Network:
    """A Compose network of the stack: who is on it, and why."""

    name: str
    internal: bool
    members: tuple[str, ...]
    purpose: str


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
    drain_timeout_s: int
    backup_dir: str
    backup: dict[str, Any]
    alerts: dict[str, Any]
    monitoring: dict[str, Any]
    killbill_tenant: dict[str, Any]
    housekeeping: dict[str, Any]
    ops_program: dict[str, Any]
    engine: str
    kubernetes: dict[str, Any]
    swarm: dict[str, Any]
    dsm_tasks: dict[str, dict[str, Any]]
    preflight: dict[str, Any]
    container_logs: dict[str, Any]
    require_clean_tree: bool
    hostnames: dict[str, str]
    tunnel: dict[str, Any]
    secrets: dict[str, dict[str, Any]]
    databases: dict[str, dict[str, Any]]
    services: dict[str, Service]
    routes: list[Route] = field(default_factory=list)
    allow_in_exported_share: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def sync_jobs(self) -> list[str]:
        return sync_jobs(self.dsm_tasks)

    @property
    def edge(self) -> Service:
        return self.services["edge"]

    @property
    def edge_switch_dir(self) -> str | None:
        """layout.EDGE_SWITCH as the edge's nginx sees it (None: no edge mounts its config)."""
        edge = self.services.get("edge")
        inside = edge.volumes.get(layout.EDGE_CONF) if edge else None
        return inside.split(":")[0] + layout.EDGE_SWITCH[len(layout.EDGE_CONF):] if inside else None

    @property
    def edge_reloads(self) -> str | None:
        """The edge's config folder when a change to it is loaded by a graceful reload instead of
        a new container (Compose: the folder is mounted; Swarm's content-named configs update
        the service instead). None: no such folder."""
        return layout.EDGE_CONF if self.engine == "compose" and self.edge_switch_dir else None

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
    def networks(self) -> dict[str, Network]:
        """Least privilege between containers: each database server on an internal network of
        its own with the services that use its databases; the edge with the HTTP services
        (`web`); cloudflared with the edge only (`tunnel`); and `public`, the one network with a
        way out, for the services that publish a port or need the internet."""
        services = self.services
        found = []
        for server in sorted({db["service"] for db in self.databases.values()} & set(services)):
            served = {name for name, db in self.databases.items() if db["service"] == server}
            users = sorted(n for n, s in services.items() if served & set(s.databases) and n != server)
            found.append(Network(f"db-{server}", True, (server, *users),
                                 f"{server} and the services that use its databases"))
        web = [n for n, s in services.items() if n == "edge" or s.routes or s.health.http_path]
        found.append(Network("web", True, tuple(web), "the edge and the services it routes to"))
        if "cloudflared" in services and "edge" in services:
            found.append(Network("tunnel", True, ("cloudflared", "edge"), "the tunnel and its origin, the edge"))
        public = [n for n, s in services.items() if s.public_network]
        found.append(Network("public", False, tuple(public),
                             f"a published port on {self.bind_address}, or the internet (the tunnel)"))
        return {n.name: n for n in found if n.members}

    def networks_of(self, service: str) -> list[str]:
        return [name for name, net in self.networks.items() if service in net.members]

    @property
    def database_secrets(self) -> set[str]:
        """The secrets a database must accept before the services use them (the passwords
        scripts/ensure_databases.sh sets: PostgreSQL's, MySQL's and Redis's users and
        administrators)."""
        managed = {db: spec for db, spec in self.databases.items()
                   if spec["engine"] in ("postgres", "mysql", "redis") and spec["service"] in self.services}
        servers = {spec["service"] for spec in managed.values()}
        admins = {self.admin_secret(server) for server in servers} - {None}
        return {f"db_{db}_password" for db in managed} | admins

    @property
    def postgres_databases(self) -> dict[str, dict[str, Any]]:
        return self.databases_of("postgres")

    def databases_of(self, engine: str) -> dict[str, dict[str, Any]]:
        """The databases of one engine whose server is enabled."""
        return {name: db for name, db in self.databases.items()
                if db["engine"] == engine and db["service"] in self.services}

    @property
    def used_secrets(self) -> list[str]:
        """Every secret an enabled service or database uses (what scripts/secrets.sh makes)."""
        names = {name for s in self.services.values() for name in s.secrets}
        names.update(f"db_{db}_password" for db, spec in self.databases.items()
                     if spec["service"] in self.services)
        names.update(self.backup_secrets)
        names.update(self.alert_secrets)
        if self.monitoring["enabled"]:
            names.add(self.monitoring["password_secret"])
        if self.tenant:
            names.update(self.tenant[k] for k in ("api_secret_secret", "admin_password_secret"))
        return sorted(names & set(self.secrets))

    @property
    def backup_secrets(self) -> list[str]:
        """The secrets the backups use: the passphrase, and the off-NAS copy's password and key."""
        found = [self.backup["passphrase_secret"]] if self.backup["passphrase_secret"] else []
        offsite = self.backup["offsite"]
        if offsite["repository"]:
            found += [offsite["password_secret"], offsite["ssh_key_secret"]]
        return found

    @property
    def alert_secrets(self) -> list[str]:
        """The secrets the alert channels use: the webhooks' URLs, the SMTP relay's password."""
        found = [hook["url_secret"] for hook in self.alerts["webhooks"].values()]
        email = self.alerts["email"]
        if email["relay"] and email["user"] and email["password_secret"]:
            found.append(email["password_secret"])
        return found

    @property
    def tenant(self) -> dict[str, Any] | None:
        """Kill Bill's tenant the release makes, or None (disabled, or no such service)."""
        spec = self.killbill_tenant
        if not spec["enabled"] or spec["service"] not in self.services or not self.services[spec["service"]].routes:
            return None
        return spec

    @property
    def tenant_kaui(self) -> Any | None:
        """The route the release reaches Kaui by to tell it of the tenant, or None (no tenant, no
        such service, or no route at / on a hostname)."""
        name = self.tenant and self.tenant.get("kaui_service")
        service = self.services.get(name) if name else None
        routes = [r for r in service.routes if r.prefix in ("", "/")] if service else []
        return routes[0] if routes else None

    @property
    def monitoring_hostname(self) -> str | None:
        """The hostname the status page is served on, or None without one."""
        if not self.monitoring["enabled"] or "edge" not in self.services:
            return None
        return self.hostnames.get(self.monitoring["host"])

    @property
    def backup_databases(self) -> dict[str, dict[str, Any]]:
        """The databases a backup holds: every one whose server is enabled."""
        return {name: db for name, db in self.databases.items() if db["service"] in self.services}

    def database_users(self, database: str) -> list[str]:
        """The services whose environment points at a database (stopped while it is restored)."""
        server = self.databases[database]["service"]
        return sorted(n for n, s in self.services.items() if database in s.databases and n != server)

    def admin_secret(self, service: str) -> str | None:
        """The secret holding a database server's administrator password (the variable its
        engine's image reads, DB_ENGINES[...]["admin_env"]), if it has one."""
        env = self.services[service].secret_env
        for engine in {db["engine"] for db in self.databases.values() if db["service"] == service}:
            found = SECRET_TOKEN.findall(env.get(DB_ENGINES[engine].get("admin_env", ""), ""))
            if found:
                return found[0]
        return None
