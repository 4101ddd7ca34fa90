"""The stack as the NAS-side program reads it (layout.STACK_DESCRIPTION, JSON): everything it
checks, reports, alerts and rotates, derived from the catalog here and nowhere else.

The program (files/nasops) never sees the catalog or a template: this file is its whole input
besides the target's own state. Paths are relative to deploy_root unless they say otherwise;
secrets appear only as the path of the file that holds them."""

from __future__ import annotations

import hashlib
import json

from deploys import layout
from deploys.catalog import Catalog
from deploys.render.templates import edge_url

FORMAT = 1  # bumped when the program must refuse an older description


def describe(catalog: Catalog, managed: list[str] | None = None, edge_config_sha: str = "") -> dict:
    """managed: every file the deploy manages under deploy_root (what a release records);
    edge_config_sha: the hash of the edge's reloaded configuration (render.edge_config_sha)."""
    c = catalog
    return {
        "format": FORMAT,
        "project": c.project_name,
        "target": c.target,
        "engine": c.engine,
        "deploy_root": c.deploy_root,
        "labels": {"project": layout.project_label(c.engine), "service": layout.service_label(c.engine)},
        "edge_url": edge_url(c),
        "services": [{"name": s.name, "health_host": s.health_host, "health_path": s.health_url,
                      "http_status": s.health.http_status, "gate_timeout_s": s.health.gate_timeout_s}
                     for s in c.services.values()],
        "routes": [_route(c, r) for r in c.routes],
        "backup": _backup(c),
        "databases": _databases(c),
        "tenant": _tenant(c),
        "disks": [{"name": name, "path": path, "min_free_mib": c.preflight["min_free_mib"][name]}
                  for name, path in (("deploy_root", c.deploy_root), ("backup_dir", c.backup_dir))],
        "tunnel": _tunnel(c),
        "monitoring": _monitoring(c),
        "alerts": _alerts(c),
        "housekeeping": {"folders": list(layout.ROTATED_LOGS), "log_max_kib": c.housekeeping["log_max_kib"],
                         "log_keep": c.housekeeping["log_keep"]},
        "release": _release(c, managed or [], edge_config_sha),
        "swarm": _swarm(c) if c.engine == "swarm" else None,
        "schedule": schedule(c) if c.engine == "swarm" else None,
        "secrets": secrets_section(c),
        "sync_jobs": c.sync_jobs,
        # the jobs' logic is the Connector's: its sync command, run in its container
        "sync": {"service": "connector", "command": ["python3", "/app/connector.py", "sync"]},
        "paths": {"monitor": layout.MONITOR, "integration": layout.INTEGRATION, "releases": layout.RELEASES,
                  "status_dir": layout.STATUS_DIR, "audit_log": layout.AUDIT_LOG, "lock_dir": layout.LOCK_DIR,
                  "schedule_state": layout.SCHEDULE_STATE,
                  "secrets": layout.SECRETS,
                  "env_file": layout.ENV_FILE, "compose_file": layout.COMPOSE_FILE, "temp_suffix": layout.TEMP_SUFFIX},
    }


def render(catalog: Catalog, managed: list[str] | None = None, edge_config_sha: str = "") -> bytes:
    return (json.dumps(describe(catalog, managed, edge_config_sha), indent=1, sort_keys=True) + "\n").encode()


def secrets_section(c: Catalog) -> dict:
    """What the program's `secrets` makes and writes: every secret the stack uses (kind, size,
    whether a database takes it first), each secret env file's lines (templates with
    {secret:NAME}, never a value), the status page's auth file."""
    def spec(name: str) -> dict:
        raw = c.secrets[name]
        extra = {"password": {"length": raw.get("length")},
                 "rsa_keypair": {"bits": raw.get("bits"), "reader_uid": raw.get("reader_uid")}}.get(raw["kind"], {})
        return {"name": name, "kind": raw["kind"], "database": name in c.database_secrets, **extra}

    return {"target": c.target, "engine": c.engine, "secrets": [spec(n) for n in c.used_secrets],
            "state_file": layout.SECRET_STATE, "spec_line": layout.SECRETS_SPEC_LINE,
            "env_files": {layout.secret_env_file(name): [[k, v] for k, v in sorted(values.items())]
                          for name, values in sorted(c.secret_files.items())},
            "auth": ({"file": layout.STATUS_AUTH_FILE, "user": c.monitoring["user"],
                      "secret": c.monitoring["password_secret"]} if c.monitoring_hostname else None)}


def secrets_sha(c: Catalog) -> str:
    """The hash of the secrets section as the program records it in secrets/.state (the same
    canonical JSON: nasops/secrets.py's spec_sha)."""
    return hashlib.sha256(json.dumps(secrets_section(c), sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def database_services(c: Catalog) -> list[str]:
    """The services that are database servers (started, and their databases made, first)."""
    return sorted({db["service"] for db in c.databases.values() if db["service"] in c.services})


def _release(c: Catalog, managed: list[str], edge_config_sha: str) -> dict:
    """What a release (the program's `release`) converges, runs first, records and keeps."""
    return {"managed": managed, "keep": c.housekeeping["keep_releases"], "wait_timeout_s": c.wait_timeout_s,
            "database_services": database_services(c),
            "tasks": [{"service": s.name, "name": name, "argv": list(argv)}
                      for s in c.services.values() for name, argv in s.release_tasks],
            "secrets_script": layout.script("secrets"),
            "switch": _switch(c, edge_config_sha)}


def _switch(c: Catalog, edge_config_sha: str) -> dict:
    """How a release replaces each service's container (Compose): zero-gap services start beside
    the old container and the edge is pointed at the new one by a file in its config folder;
    the others are replaced with a gap, for the reason given. The edge's own configuration is
    loaded by a graceful reload when its hash differs from the one recorded in `loaded`."""
    return {"zero_gap": [{"service": s.name, "routed": bool(s.routes)} for s in c.services.values() if s.zero_gap],
            "gap": {s.name: ("release_switch is \"replace\"" if s.gap_reason is None else s.gap_reason)
                    for s in c.services.values() if not s.zero_gap},
            "edge": ({"service": "edge", "folder": layout.EDGE_SWITCH, "inside": c.edge_switch_dir,
                      "config_sha": edge_config_sha, "loaded": layout.EDGE_LOADED}
                     if c.edge_switch_dir else None),
            "drain_timeout_s": c.drain_timeout_s}


def _swarm(c: Catalog) -> dict:
    """What `nasops stack deploy` needs: the stack's files, what it builds itself, the secret env
    files whose hashes name their Swarm secrets, the CLI that runs `docker stack deploy`."""
    from deploys.render import context_dir, image_tag  # the package's, imported once it has loaded
    from deploys.render.swarm import hash_variable

    return {"services": [*c.services, layout.SCHEDULER], "data_label": c.swarm["data_label"], "docker": c.docker_bin,
            "wait_timeout_s": c.wait_timeout_s, "stack_file": layout.COMPOSE_FILE,
            "databases_file": layout.SWARM_DATABASES, "entrypoints_file": layout.SWARM_ENTRYPOINTS,
            "builds": [{"tag": image_tag(c, s), "context": context_dir(s), "build_args": dict(s.build_args)}
                       for s in c.services.values() if s.build],
            "secret_env": [{"service": s.name, "file": layout.secret_env_file(s.name), "variable": hash_variable(s.name),
                            "image": image_tag(c, s), "command": list(s.command) if s.command else None}
                           for s in c.services.values() if s.secret_env],
            "one_off": {s.name: _one_off(c, s, image_tag(c, s)) for s in c.services.values() if s.release_tasks},
            "networks": [{"name": _stack_network(c, net.name), "internal": net.internal} for net in c.networks.values()],
            # the scheduler serves the status page's snapshot to the edge on this port
            "status_port": layout.SCHEDULER_STATUS_PORT if c.monitoring_hostname else None}


def schedule(c: Catalog) -> list[dict]:
    """The jobs of `dsm_tasks` as a swarm's scheduler (nasops schedule) runs them: DSM's times,
    the program's own command for the task's script (layout.PROGRAM_COMMANDS; the catalog's
    rules refuse any other on a swarm), the task's log."""
    return [{"key": key, "argv": [layout.PROGRAM_COMMANDS[t["script"]], *map(str, t["args"])], "at": t["at"],
             "every_min": t["every_min"], "every_hours": t["every_hours"], "enabled": bool(t["enabled"]),
             "log": layout.task_log(key)}
            for key, t in sorted(c.dsm_tasks.items()) if t["script"] in layout.PROGRAM_COMMANDS and t["at"]]


def _stack_network(c: Catalog, name: str) -> str:
    """A network's name as `docker stack deploy` makes it (the stack's name first)."""
    return f"{c.project_name}_{name}"


def _one_off(c: Catalog, s, image: str) -> dict:
    """What a release task's one-off container of service s is on a swarm (Compose's `run` reads
    the same from the compose file): its image (with its own entrypoint), environment, secret env
    file, the stack's networks it is on and its data folders."""
    return {"image": image, "environment": dict(s.env),
            "secret_env_file": layout.secret_env_file(s.name) if s.secret_env else None,
            "networks": [_stack_network(c, net) for net in c.networks_of(s.name)],
            "mounts": [{"source": src, "target": dst.removesuffix(":ro"), "read_only": dst.endswith(":ro")}
                       for src, dst in sorted(s.data_mounts.items())]}


def _route(c: Catalog, route) -> dict:
    """A route's probe: the service's health route where this is the service's first route (its
    status must match), else the route's prefix (any answer below 500)."""
    svc = c.services[route.service]
    if svc.health_url and svc.routes[0] == route:
        return {"name": route.name, "hostname": route.hostname, "path": svc.health_url,
                "service": route.service, "expect": svc.health.http_status}
    return {"name": route.name, "hostname": route.hostname, "path": route.prefix + "/",
            "service": route.service, "expect": None}


def _backup(c: Catalog) -> dict:
    """What scripts/backup.sh (the program's `backup`) dumps, verifies, restores and keeps."""
    b = c.backup
    servers = sorted({db["service"] for db in c.backup_databases.values()})
    return {
        "dir": c.backup_dir, "max_age_hours": b["max_age_hours"], "keep": dict(b["keep"]),
        "passphrase_file": f"{layout.SECRET_VALUES}/{b['passphrase_secret']}" if b["passphrase_secret"] else None,
        "verify_label": "marketplace.backup-verify",
        "wait_timeout_s": c.wait_timeout_s,
        "databases": [{"name": name, "engine": db["engine"], "service": db["service"], "user": db["user"],
                       "users": c.database_users(name)} for name, db in c.backup_databases.items()],
        "redis_users": sorted({u for db in c.databases_of("redis") for u in c.database_users(db)}),
        "servers": {svc: {"mem_limit": c.services[svc].mem_limit,
                          "admin_password_file": (f"{layout.SECRET_VALUES}/{c.admin_secret(svc)}"
                                                  if c.admin_secret(svc) else None),
                          "data": next((src for src, dest in c.services[svc].volumes.items()
                                        if dest.split(":")[0] == "/data"), None)} for svc in servers},
        "offsite": _offsite(c),
    }


def _databases(c: Catalog) -> dict:
    """What scripts/ensure_databases.sh (the program's `databases`) makes exist, per engine and
    server; secrets as the files that hold them."""
    from deploys.catalog.model import DB_ENGINES
    from deploys.render import ddl_files  # the package's own, loaded before this runs

    ddl = ddl_files(c)

    def secret(name: str | None) -> str | None:  # a secret's file (its value stays there)
        return f"{layout.SECRET_VALUES}/{name}" if name else None

    def password(db: str) -> str:
        return secret(f"db_{db}_password")

    def grouped(engine: str) -> dict[str, list]:
        servers: dict[str, list] = {}
        for name, db in c.databases_of(engine).items():
            servers.setdefault(db["service"], []).append((name, db))
        return dict(sorted(servers.items()))

    redis = DB_ENGINES["redis"]
    return {
        "postgres": [{"service": svc, "admin_password_file": secret(c.admin_secret(svc)),
                      "databases": [{"name": n, "user": db["user"], "password_file": password(n),
                                     "ddl": list(ddl.get(n, {}))} for n, db in dbs]}
                     for svc, dbs in grouped("postgres").items()],
        "mysql": [{"name": n, "service": db["service"], "user": db["user"],
                   "admin_password_file": secret(c.admin_secret(db["service"])), "password_file": password(n)} for n, db in c.databases_of("mysql").items()],
        "redis": [{"service": svc, "admin_password_file": secret(c.admin_secret(svc)), "admin_user": redis["admin_user"],
                   "reserved_users": list(redis["reserved_users"]),
                   "databases": [{"name": n, "user": db["user"], "password_file": password(n), "acl": db["redis_acl"]}
                                 for n, db in dbs]}
                  for svc, dbs in grouped("redis").items()],
    }


def _tenant(c: Catalog) -> dict | None:
    """Kill Bill's tenant a release makes (the program's `tenant`), reached through the edge."""
    t = c.tenant
    if not t:
        return None
    route = c.services[t["service"]].routes[0]
    kaui = c.tenant_kaui
    return {"host": route.hostname, "base_url": edge_url(c) + (route.prefix if route.strip_prefix else ""),
            "external_key": t["external_key"], "api_key": t["api_key"], "admin_user": t["admin_user"],
            "admin_password_file": f"{layout.SECRET_VALUES}/{t['admin_password_secret']}",
            "api_secret_file": f"{layout.SECRET_VALUES}/{t['api_secret_secret']}",
            "kaui": {"host": kaui.hostname, "base_url": edge_url(c)} if kaui else None}


def _offsite(c: Catalog) -> dict | None:
    off = c.backup["offsite"]
    if not off["repository"]:
        return None
    from deploys.render import offsite_image  # the package's own, loaded before this runs

    image, context = offsite_image(c)
    login = off["repository"].split(":")[1]
    return {"repository": off["repository"], "image": image, "build_context": context,
            "password_file": f"{layout.SECRET_VALUES}/{off['password_secret']}",
            "key_file": f"{layout.SECRET_KEYS}/{off['ssh_key_secret']}.pem",
            "known_hosts": layout.OFFSITE_KNOWN_HOSTS,
            "sftp_command": (f"ssh -i /run/offsite/key -p {off['port']} -o UserKnownHostsFile=/run/offsite/known_hosts "
                             f"-o StrictHostKeyChecking=yes -o BatchMode=yes {login} -s sftp")}


def _tunnel(c: Catalog) -> dict | None:
    """tunnel.mode shared: the other site's cloudflared, which must be ready, and its config file."""
    if c.tunnel["mode"] != "shared":
        return None
    shared = c.tunnel["shared"]
    return {"container": shared["container"], "ready_url": shared["metrics_url"] + "/ready",
            "config_file": shared["config_file"], "rendered_file": layout.SHARED_TUNNEL_FILE,
            "backup_dir": shared["backup_dir"], "ready_timeout_s": shared["ready_timeout_s"]}


def _monitoring(c: Catalog) -> dict | None:
    if not c.monitoring_hostname:
        return None
    m = c.monitoring
    return {"page_url": f"https://{c.monitoring_hostname}{layout.STATUS_PATH}/", "path": layout.STATUS_PATH,
            "user": m["user"],
            "password_file": f"{c.deploy_root}/{layout.SECRET_VALUES}/{m['password_secret']}",
            "recent_alerts": m["recent_alerts"]}


def _alerts(c: Catalog) -> dict:
    a = c.alerts
    email = a["email"]
    mail = None
    if email["relay"]:
        mail = {"relay": email["relay"], "port": email["port"], "from": email["from"], "to": list(email["to"]),
                "starttls": bool(email["starttls"]), "user": email["user"],
                "password_file": (f"{layout.SECRET_VALUES}/{email['password_secret']}"
                                  if email["user"] and email["password_secret"] else None)}
    return {"repeat_min": a["repeat_min"], "dsm_notify": bool(a["dsm_notify"]), "email": mail,
            "webhooks": [{"name": name, "shape": hook["shape"], "url_file": f"{layout.SECRET_VALUES}/{hook['url_secret']}"}
                         for name, hook in sorted(a["webhooks"].items())]}
