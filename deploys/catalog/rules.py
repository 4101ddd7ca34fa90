"""What the catalog must never ask of the NAS: one function per rule, facts from
docs/FIELD-NOTES.md.

The schema (schema.py) checks shapes; these rules check meaning on the derived catalog of one
target. Each reports through the draft, so every problem names its key path and the file that
set it, and all of them are listed at once.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

from deploys.catalog import safety
from deploys.catalog.safety import URL_PASSWORD, not_normal
from deploys.catalog.draft import REPO, Draft
from deploys.catalog.model import MACRO, Catalog

# -- facts (docs/FIELD-NOTES.md, "The applications" and "Synology DSM 7.2") -------------------------

# Apps whose routes are root-absolute or locale-prefixed: they cannot live under a path prefix.
ROOT_ONLY = {
    "kaui": "Kaui is not documented to work under a path prefix",
    "condo": "Condo's routes are root-absolute: it cannot live under a path prefix",
    "cocorico": "Cocorico's routes are locale-prefixed: it cannot live under a path prefix",
}
# Apps with no public image fit to deploy: the operator builds one (or disables the app).
NO_PUBLIC_IMAGE = {
    "condo": "Condo has no public image (build one from open-condo-software/condo)",
    "cocorico": "Cocorico has no production image (build one from Cocolabs-SAS/cocorico)",
}
# Image repositories that must not be deployed.
BAD_IMAGES = {
    "condo/condo": "does not exist: Condo has no public image",
    "cocolabs/cocorico": "is a 2019 all-in-one debug container, not a production image",
}
# Kill Bill's ports that must never be published.
KILLBILL_DEBUG_PORTS = {8000: "Kill Bill's unauthenticated JMX port",
                        12345: "Kill Bill's JDWP remote debugger port"}
# Apps whose DDL drops and creates generic objects: they need a database of their own.
DDL_OWNERS = {"killbill": "Kill Bill's DDL drops and creates generic tables (accounts, "
                          "invoices, users, sessions...)",
              "kaui": "Kaui's DDL creates its own users and sessions tables"}
# Passwords seen in the original plans and in the apps' docs, and the obvious ones.
WEAK_PASSWORDS = {"password", "strongpassword", "marketpass", "killbill", "kaui", "admin",
                  "changeme", "secret", "root", "postgres", "mysql", "redis", "123456",
                  "12345678", "letmein", "qwerty", "lavabo"}
MIN_SECRET_LENGTH = 16
# An environment variable whose value is a credential, by its name (PGPASSWORD, REDISCLI_AUTH,
# AWS_SECRET_ACCESS_KEY, ...) unless the name says it holds something else (a path, a duration:
# JWT_PRIVATE_KEY_FILE, TOKEN_TTL_SECONDS).
SECRET_KEY = re.compile(r"PASSW(OR)?D|(^|_)(PWD|SECRET|TOKEN|AUTH|API_?KEY|ACCESS_KEY|PRIVATE_KEY|"
                        r"CREDENTIALS?)(_|$)", re.IGNORECASE)
NOT_A_SECRET = re.compile(r"_(FILE|PATH|DIR|TTL|SECONDS|MINUTES|HOURS|DAYS|LENGTH|TIMEOUT|URL|HOST|PORT|"
                          r"ENABLED|TYPE|NAME|HEADER|USER|METHOD|ALGORITHM|ISSUER|AUDIENCE)$", re.IGNORECASE)
# A credential inside a value: a URL's password (redis://:pw@, postgresql://u:pw@) or a query
# parameter (jdbc:...?password=pw).
QUERY_PASSWORD = re.compile(r"[?&;](?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key)=([^&;\s]+)",
                            re.IGNORECASE)
# Compose keys Synology's Compose 2.20.1 rejects or ignores (and what needs them).
COMPOSE_2_20_REJECTS = {
    "develop": "Compose Watch (`develop`) needs Compose 2.22",
    "start_interval": "healthcheck.start_interval needs Engine API 1.44; DSM ships Docker 24",
}
FLOATING_PULL_POLICIES = re.compile(r"^(daily|weekly|every_.+)$")
# Compose keys the catalog owns: set through the catalog, not `compose`.
CATALOG_OWNED = {"image": "image", "build": "build", "ports": "host_port", "environment": "env",
                 "env_file": "secret_env", "volumes": "volumes", "networks": "egress",
                 "network_mode": "egress", "depends_on": "depends_on", "healthcheck": "health",
                 "command": "command", "labels": "(managed)", "restart": "(managed)",
                 "mem_limit": "mem_limit", "container_name": "project_name"}
# A tag that names one build: a version with at least major.minor (16.4, 7.2.5-bookworm,
# 2024.12.2), a commit sha (deadbeef), or a date or build number of six digits or more.
# `latest`, `16`, `1-alpine`, `bookworm`, `lts` float.
PINNED_TAG = re.compile(r"^v?\d+\.\d+|^[0-9a-f]{7,40}$|\d{6,}")
HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
TUNNEL_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ACCOUNT_ID = re.compile(r"^[0-9a-f]{32}$")
PREFIX = re.compile(r"^/([A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*)?/?$")


def check(catalog: Catalog, draft: Draft) -> None:
    """Run every rule (safety.py's first); problems go to the draft."""
    for rule in [*safety.RULES, *RULES]:
        rule(catalog, draft)


def _database_services(catalog: Catalog) -> dict[str, str]:
    """service -> engine, for the services that serve a database."""
    return {db["service"]: db["engine"] for db in catalog.databases.values()}


def published_ports(catalog: Catalog, b: Draft) -> None:
    """Host ports: in range, not twice, not taken on the NAS, never a database, loopback only."""
    seen: dict[int, str] = {}
    db_services = _database_services(catalog)
    for name, svc in catalog.services.items():
        if svc.host_port is None:
            if svc.public:
                b.problem(("services", name, "public"), "public without a host_port publishes nothing",
                          "set host_port, or drop public")
            continue
        where = ("services", name, "host_port")
        if name in db_services:
            b.problem(where, f"{name} serves a {db_services[name]} database: it is never published",
                      "drop host_port: the services that use it reach it on its internal network")
            if svc.public:
                b.problem(("services", name, "public"), "a database is never public")
        _host_port(catalog, b, where, svc.host_port, seen, "give each service its own host port")
        seen.setdefault(svc.host_port, name)
    edge = catalog.services.get("edge")
    if edge and edge.tunnel_published:
        _host_port(catalog, b, ("tunnel", "shared", "edge_host_port"), edge.tunnel_published[0], seen,
                   "give the tunnel's edge port a host port of its own")


def _host_port(catalog: Catalog, b: Draft, where: tuple[str, ...], port: int, seen: dict[int, str],
               twice: str) -> None:
    """One published port: a TCP port, not reserved on the NAS, not published twice."""
    offset = (("port_offset",),)
    if not 1 <= port <= 65535:
        b.problem(where, f"{port} (with port_offset {catalog.port_offset}) is not a TCP port",
                  "a host_port and port_offset that add up to 1-65535", because=offset)
    if port in catalog.reserved_ports:
        b.problem(where, f"{port} is already taken on the NAS by {catalog.reserved_ports[port]}",
                  "pick a free port (see reserved_ports)", because=(*offset, ("reserved_ports", str(port))))
    if port in seen:
        b.problem(where, f"{port} is also published by services.{seen[port]}", twice,
                  because=(*offset, ("services", seen[port], "host_port")))


def killbill_debug_ports(catalog: Catalog, b: Draft) -> None:
    """Kill Bill's JMX (8000) and JDWP (12345) are never published."""
    svc = catalog.services.get("killbill")
    if not svc:
        return
    published = []
    if svc.host_port is not None:
        published.append((("services", "killbill", "port"), svc.port))
        published.append((("services", "killbill", "host_port"), svc.host_port - catalog.port_offset))
    for path, port in published:
        if port in KILLBILL_DEBUG_PORTS:
            b.problem(path, f"{port} is {KILLBILL_DEBUG_PORTS[port]} and must not be published",
                      "publish Kill Bill's API port 8080 only")


def exposure(catalog: Catalog, b: Draft) -> None:
    """Published ports bind a loopback address: the tunnel is the only way in."""
    address = catalog.bind_address
    bracketed = address.startswith("[") and address.endswith("]")
    try:
        ip = ipaddress.ip_address(address[1:-1] if bracketed else address)
    except ValueError:
        ip = None
    if ip is None or not ip.is_loopback:
        b.problem(("bind_address",), f"{address!r} is not a loopback address: every "
                  "published port would be reachable from the network",
                  "keep 127.0.0.1 (or [::1]); mark a service public=True if it really must be reachable")
    elif ip.version == 6 and not bracketed:
        b.problem(("bind_address",), f"{address!r}: an IPv6 address in a port binding is bracketed",
                  f"write [{address}]")


def images(catalog: Catalog, b: Draft) -> None:
    """Every image is pinned (a versioned tag or a digest), exists and is fit to deploy."""
    for name, svc in catalog.services.items():
        where = ("services", name, "image")
        if svc.build:
            continue
        if not svc.image:
            why = NO_PUBLIC_IMAGE.get(name, "no image and no build context")
            b.problem(where, why, "set a pinned image tag you built or pulled for this target, "
                      "or disable the service with enabled=False (and set its routes to None)")
            continue
        repo, tag, digest = _image_parts(svc.image)
        if repo in BAD_IMAGES:
            b.problem(where, f"{repo} {BAD_IMAGES[repo]}",
                      f"build an image and set its pinned tag, or set services.{name}.enabled=False")
        if digest:
            continue
        if tag is None:
            b.problem(where, f"{svc.image!r} has no tag: it means `latest`",
                      f"pin a version, e.g. {repo}:1.2.3")
        elif not PINNED_TAG.search(tag):
            b.problem(where, f"{svc.image!r} uses the floating tag {tag!r}",
                      f"pin a version, e.g. {repo}:1.2.3 (a tag that names a release)")


    offsite = catalog.backup["offsite"]
    if offsite["repository"] and not offsite["build"]:
        repo, tag, digest = _image_parts(str(offsite["image"]))
        if not digest and (tag is None or not PINNED_TAG.search(tag)):
            b.problem(("backup", "offsite", "image"), f"{offsite['image']!r} is not pinned",
                      "a tag that names a release, e.g. restic/restic:0.16.4")


def _image_parts(image: str) -> tuple[str, str | None, str | None]:
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repo, _, tag = name.rpartition(":")
        return repo, tag, digest or None
    return name, None, digest or None


def routes(catalog: Catalog, b: Draft) -> None:
    """Routes name a hostname and an enabled service, use plain prefixes, put no root-only app
    under a prefix, and never shadow each other."""
    if b.raw["routes"] and "edge" not in catalog.services:
        b.problem(("services", "edge", "enabled"), "the routes need the edge: it is the tunnel's only "
                  "origin", "enable the edge, or set every route to None")
    services = b.all_raw()
    claimed: dict[tuple[str, str], str] = {}
    for key, route in sorted(b.raw["routes"].items()):
        where = ("routes", key)
        host, service, path = route["host"], route["service"], route["path"]
        if host not in catalog.hostnames:
            b.problem(where + ("host",), f"unknown hostname key {host!r}",
                      f"one of: {', '.join(catalog.hostnames)}")
        if service not in services:
            b.problem(where + ("service",), f"unknown service {service!r}",
                      f"one of: {', '.join(services)}")
            continue
        if service not in catalog.services:
            b.problem(where + ("service",), f"routes to {service!r}, which is disabled",
                      f"drop the route (routes.{key} = None) or enable services.{service}",
                      because=(("services", service, "enabled"),))
            continue
        if not services[service].get("port"):
            b.problem(where + ("service",), f"{service!r} has no port to route to")
        rewritten = not_normal(path)
        if not PREFIX.match(path) or rewritten:
            b.problem(where + ("path",), f"{path!r} is not a plain path prefix" + (f": {rewritten}" if rewritten else ""),
                      "write the prefix itself, e.g. '/api' (no glob, no regex: the tunnel gets "
                      "the anchored regex ^/api(/|$) rendered for it)")
            continue
        prefix = path.rstrip("/")
        if prefix and service in ROOT_ONLY:
            b.problem(where + ("path",), f"{ROOT_ONLY[service]} ({path!r})",
                      f"serve {service} at '/' of a hostname of its own")
        if route.get("strip_prefix") and not prefix:
            b.problem(where + ("strip_prefix",), "there is no prefix to strip at '/'")
        hostname = catalog.hostnames.get(host, host)
        other = claimed.get((hostname, prefix))
        if other:
            b.problem(where + ("path",), f"routes.{other} already claims {hostname}{prefix or '/'}: "
                      "one of them can never match", "give each route its own hostname or prefix")
        claimed.setdefault((hostname, prefix), key)


def hostnames(catalog: Catalog, b: Draft) -> None:
    """Hostnames are DNS names, each used once."""
    seen: dict[str, str] = {}
    for key, name in catalog.hostnames.items():
        if not HOSTNAME.match(name):
            b.problem(("hostnames", key), f"{name!r} is not a DNS hostname",
                      "lowercase labels of letters, digits and '-', e.g. boma.example.com")
        if name in seen:
            b.problem(("hostnames", key), f"{name!r} is also hostnames.{seen[name]}")
        seen.setdefault(name, key)


def secrets(catalog: Catalog, b: Draft) -> None:
    """Every referenced secret is declared; generated ones are long enough."""
    for name, svc in catalog.services.items():
        for secret in svc.secrets:
            if secret not in catalog.secrets:
                b.problem(("services", name, "secret_env"), f"secret {secret!r} is not declared",
                          "declare it under `secrets` in group_data/all.py")
    for name in catalog.used_secrets:
        spec = catalog.secrets[name]
        if spec["kind"] == "password" and spec["length"] < MIN_SECRET_LENGTH:
            b.problem(("secrets", name, "length"), f"{spec['length']} characters is too short",
                      f"at least {MIN_SECRET_LENGTH}")
        if spec["kind"] == "rsa_keypair" and spec["bits"] < 2048:
            b.problem(("secrets", name, "bits"), f"a {spec['bits']}-bit RSA key is too weak",
                      "at least 2048 (3072 is the default)")


def inline_secrets(catalog: Catalog, b: Draft) -> None:
    """No password is written in the catalog: weak ones are named, strong ones would be in git."""
    for name, svc in b.enabled_raw().items():
        for section in ("env", "secret_env"):
            for key, value in svc[section].items():
                value = str(value)
                # a macro is one opaque word here: `https://{secret:dsn}@host/1` has no inline
                # password, `https://user:{secret:pw}@host` neither; `https://u:hunter2@h` has
                masked = MACRO.sub("\x00", value)
                embedded = URL_PASSWORD.search(masked) or QUERY_PASSWORD.search(masked)
                if embedded and "\x00" not in embedded.group(1):
                    value = embedded.group(1)
                elif (not SECRET_KEY.search(key) or NOT_A_SECRET.search(key) or MACRO.search(value)
                      or not value):
                    continue
                where = ("services", name, section, key)
                if value.lower() in WEAK_PASSWORDS or len(value) < MIN_SECRET_LENGTH:
                    b.problem(where, "a weak or well-known password is given inline",
                              "declare a secret and write {secret:NAME}: it is generated on the "
                              "target, random and at least 16 characters")
                else:
                    b.problem(where, "a password given inline would be committed to git",
                              "declare a secret and write {secret:NAME}")
                if section == "env":
                    b.problem(where, "looks like a secret but is in the clear env",
                              "move it to secret_env")


def compose_extras(catalog: Catalog, b: Draft) -> None:
    """`compose` adds only what the catalog has no key for, and only what Compose 2.20.1 takes."""
    for name, svc in catalog.services.items():
        for key, value in svc.compose.items():
            where = ("services", name, "compose", key)
            if key in CATALOG_OWNED:
                b.problem(where, f"{key!r} is set by the catalog",
                          f"use services.{name}.{CATALOG_OWNED[key]}"
                          if not CATALOG_OWNED[key].startswith("(") else "the deploy manages it")
            if key in COMPOSE_2_20_REJECTS:
                b.problem(where, COMPOSE_2_20_REJECTS[key], "drop it: Synology ships Compose 2.20.1")
            if key == "pull_policy" and FLOATING_PULL_POLICIES.match(str(value)):
                b.problem(where, f"pull_policy {value!r} needs Compose 2.34",
                          "drop it: images are pinned anyway")
            if key == "env_file" and any(isinstance(e, dict) for e in _as_list(value)):
                b.problem(where, "env_file in the map form (path/required) needs Compose 2.24")
            if key == "healthcheck" and isinstance(value, dict) and "start_interval" in value:
                b.problem(where + ("start_interval",), COMPOSE_2_20_REJECTS["start_interval"])


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def databases(catalog: Catalog, b: Draft) -> None:
    """Databases sit on enabled services of their engine; Kill Bill and Kaui get their own, with
    their DDL; DDL files exist."""
    users: dict[str, set[str]] = {}
    for name, svc in b.enabled_raw().items():
        for section in ("env", "secret_env"):
            for value in svc[section].values():
                for db in re.findall(r"\{db:([A-Za-z0-9_\-]+)\.", str(value)):
                    users.setdefault(db, set()).add(name)
    servers = b.all_raw()
    for db, spec in catalog.databases.items():
        server = servers.get(spec["service"])
        if server is None:
            b.problem(("databases", db, "service"), f"unknown service {spec['service']!r}")
        elif server.get("serves") != spec["engine"]:
            b.problem(("databases", db, "service"), f"{spec['service']} serves "
                      f"{server.get('serves') or 'no database'}, not a {spec['engine']} database",
                      f"name a service with serves={spec['engine']!r}")
        for i, ddl in enumerate(spec["ddl"]):
            if not (REPO / ddl).is_file() and spec["service"] in catalog.services:
                b.problem(("databases", db, "ddl"), f"DDL file {ddl} (item {i}) does not exist",
                          "see README, \"Kill Bill's and Kaui's DDL\"")
    for app, why in DDL_OWNERS.items():
        if app not in catalog.services:
            continue
        for db in sorted(db for db, u in users.items() if app in u):
            others = sorted(users[db] - {app})
            where = ("services", app, "env")
            if db == "marketplace" or others:
                shared = f" (also used by {', '.join(others)})" if others else ""
                b.problem(where, f"{app} is pointed at the {db} database{shared}: {why}",
                          f"give {app} its own database ({{db:{app}.jdbc_url}})")
            elif not catalog.databases[db]["ddl"]:
                b.problem(("databases", db, "ddl"), f"{app} never creates its tables: its "
                          "database needs its DDL loaded before the first start",
                          "list the DDL files under ddl")


def dependencies(catalog: Catalog, b: Draft) -> None:
    """depends_on names enabled services."""
    for name, svc in catalog.services.items():
        for dep in svc.depends_on:
            if dep not in catalog.services:
                b.problem(("services", name, "depends_on"), f"{dep!r} is unknown or disabled",
                          "enable it or drop the dependency")


def tunnel(catalog: Catalog, b: Draft) -> None:
    """Each tunnel mode has what it needs."""
    t = catalog.tunnel
    mode = t["mode"]
    edge = catalog.services.get("edge")
    if not 1 <= t["edge_port"] <= 65535 or (edge and t["edge_port"] == edge.port):
        b.problem(("tunnel", "edge_port"), f"{t['edge_port']} cannot be the edge's tunnel port",
                  "a TCP port other than the edge's own port (default 8080)")
    own = "cloudflared" in catalog.services
    if mode in ("local", "remote") and own and not t.get("id"):
        b.problem(("tunnel", "id"), "cloudflared is enabled but no tunnel id is set",
                  "run `cloudflared tunnel create marketplace` and set its UUID here")
    elif t.get("id") is not None and not TUNNEL_ID.match(str(t["id"])):
        b.problem(("tunnel", "id"), f"{str(t['id'])[:60]!r} is not a tunnel id",
                  "the tunnel's UUID, as `cloudflared tunnel list` shows it")
    if t.get("account_id") is not None and not ACCOUNT_ID.match(str(t["account_id"])):
        b.problem(("tunnel", "account_id"), f"{str(t['account_id'])[:60]!r} is not an account id",
                  "the 32 hexadecimal digits of Cloudflare dashboard > Account > Account ID")
    if mode == "remote":
        if not t.get("account_id"):
            b.problem(("tunnel", "account_id"), "a remotely managed tunnel needs the account id",
                      "Cloudflare dashboard > Account > Account ID")
        if catalog.secrets.get("tunnel_token", {}).get("kind") != "provided":
            b.problem(("secrets", "tunnel_token"), "remote mode needs the secret tunnel_token "
                      "(kind 'provided')", "declare it; place the token in secrets/values/tunnel_token")
    if mode == "shared":
        if own:
            b.problem(("services", "cloudflared", "enabled"), "tunnel.mode is 'shared': the other "
                      "site's cloudflared serves our hostnames, ours must not run too",
                      "set services.cloudflared.enabled=False")
        if "edge" not in catalog.services or catalog.services["edge"].host_port is None:
            b.problem(("services", "edge", "host_port"), "the deploy's health probes reach the "
                      "edge on its host port", "publish the edge (host_port)")
        if not Path(t["shared"]["config_file"]).is_absolute():
            b.problem(("tunnel", "shared", "config_file"), "must be an absolute path on the target")


def health(catalog: Catalog, b: Draft) -> None:
    """Health routes are paths, and a service with one has a port."""
    for name, svc in catalog.services.items():
        if svc.health.http_path is not None:
            if not svc.health.http_path.startswith("/"):
                b.problem(("services", name, "health", "http", "path"), "must start with '/'")
            if not svc.port:
                b.problem(("services", name, "port"), "an HTTP health route needs the app's port")


def memory(catalog: Catalog, b: Draft) -> None:
    """Every service has a memory limit Compose 2.20.1 takes (preflight adds them up)."""
    for name, svc in catalog.services.items():
        if not svc.mem_limit:
            b.problem(("services", name, "mem_limit"), "no memory limit: one service could take the "
                      "whole NAS", 'set one, e.g. "512m" or "2g"')
        elif not re.fullmatch(r"\d+[kmg]", str(svc.mem_limit)):
            b.problem(("services", name, "mem_limit"), f"{svc.mem_limit!r} is not a memory size",
                      'a number and k, m or g: "512m", "2g"')
    logs = catalog.container_logs
    if not re.fullmatch(r"\d+[kmg]", str(logs.get("max_size"))):
        b.problem(("container_logs", "max_size"), f"{logs.get('max_size')!r} is not a size", '"10m"')
    if not isinstance(logs.get("max_files"), int) or not 1 <= logs["max_files"] <= 100:
        b.problem(("container_logs", "max_files"), f"{logs.get('max_files')!r} is not a file count", "1 to 100")


def release_switch(catalog: Catalog, b: Draft) -> None:
    """A zero-gap replacement asked for where two containers of the service cannot run at once."""
    for name, svc in catalog.services.items():
        if svc.release_switch == "zero-gap" and svc.gap_reason:
            b.problem(("services", name, "release_switch"), f"cannot be zero-gap: {svc.gap_reason}",
                      'set "replace" (or None: the safe one is chosen)')


RULES = [published_ports, killbill_debug_ports, exposure, images, routes, hostnames, secrets,
         inline_secrets, compose_extras, databases, dependencies, tunnel, health, memory, release_switch]
