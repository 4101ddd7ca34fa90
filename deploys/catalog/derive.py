"""From a checked draft to the catalog's model: services with their macros expanded, routes
most specific first, secrets and databases with their defaults. No rule is checked here."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from deploys.catalog.draft import Draft, merge
from deploys.catalog.macros import Expansion
from deploys.catalog.model import Catalog, Health, Route, Service
from deploys.layout import KEY_MOUNTS, STATUS_MOUNTS


def catalog(draft: Draft) -> Catalog:
    raw = draft.raw
    enabled = {name: _in_tunnel_mode(svc, raw["tunnel"]["mode"])
               for name, svc in draft.enabled_raw().items()}
    routes = _routes(raw, enabled)
    secrets = {name: merge(raw["secret_defaults"], spec) for name, spec in raw["secrets"].items()}
    for db in raw["databases"]:
        secrets.setdefault(f"db_{db}_password", dict(raw["secret_defaults"]))
    return Catalog(
        target=draft.target,
        project_name=raw["project_name"],
        deploy_root=raw["deploy_root"].rstrip("/"),
        docker_bin=raw["docker_bin"],
        bind_address=raw["bind_address"],
        port_offset=int(raw["port_offset"]),
        reserved_ports=dict(raw["reserved_ports"]),
        file_owner=raw["file_owner"],
        wait_timeout_s=int(raw["wait_timeout_s"]),
        drain_timeout_s=int(raw["drain_timeout_s"]),
        backup_dir=raw["backup_dir"].rstrip("/"),
        allow_in_exported_share=list(raw["allow_in_exported_share"]),
        backup=raw["backup"],
        alerts=raw["alerts"],
        monitoring=dict(raw["monitoring"]),
        killbill_tenant=dict(raw["killbill_tenant"]),
        housekeeping=dict(raw["housekeeping"]),
        ops_program={"build_args": dict(raw["ops_program"]["build_args"])},
        engine=raw["engine"],
        kubernetes=dict(raw["kubernetes"]),
        swarm=dict(raw["swarm"]),
        preflight=dict(raw["preflight"]),
        container_logs=dict(raw["container_logs"]),
        require_clean_tree=bool(raw["require_clean_tree"]),
        dsm_tasks={key: merge(raw["dsm_task_defaults"], task) for key, task in raw["dsm_tasks"].items()
                   if task is not None},
        hostnames=dict(raw["hostnames"]),
        tunnel=dict(raw["tunnel"]),
        secrets=secrets,
        databases={name: merge(raw["database_defaults"], db) for name, db in raw["databases"].items()},
        services=_relayed({name: _service(draft, name, svc, routes) for name, svc in enabled.items()},
                          raw["engine"]),
        routes=routes,
    )


def _in_tunnel_mode(svc: dict[str, Any], mode: str) -> dict[str, Any]:
    """A service as the tunnel mode wants it: `by_tunnel_mode[mode]` replaces whole keys."""
    return {**svc, **(svc.get("by_tunnel_mode") or {}).get(mode, {})}


def _service(draft: Draft, name: str, svc: dict[str, Any], routes: list[Route]) -> Service:
    where = ("services", name)
    health = svc["health"]
    http = health.get("http") or {}
    test = health.get("test")
    if test is None and http:  # exec form: the path never meets a shell
        test = ["CMD", "curl", "-fsS", "-o", "/dev/null", f"http://127.0.0.1:{svc['port']}{http['path']}"]
    macros = Expansion(draft, name)
    env = {k: macros.expand(v, where + ("env", k), False) for k, v in svc["env"].items()}
    secret_env = {k: macros.expand(v, where + ("secret_env", k), True) for k, v in svc["secret_env"].items()}
    volumes = dict(svc["volumes"])
    for part in sorted({k.partition(".")[2] for k in macros.keys}):
        source, mount, _ = KEY_MOUNTS[part]
        volumes[source] = f"{mount}:ro"
    # the status page and its password (on a swarm the scheduler serves them: the edge's
    # replicas on other nodes have no such folders)
    if name == "edge" and draft.raw["monitoring"]["enabled"] and draft.raw["engine"] != "swarm":
        volumes.update({source: f"{mount}:ro" for source, mount in STATUS_MOUNTS.items()})
    offset = int(draft.raw["port_offset"])
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
        keys=tuple(sorted({k.partition(".")[0] for k in macros.keys})),
        databases=tuple(sorted(macros.databases)),
        tunnel_published=_tunnel_published(draft.raw, name),
        image_from=svc["image_from"],
        release_tasks=tuple((task, tuple(str(a) for a in argv)) for task, argv in (svc["release_tasks"] or {}).items() if argv is not None),
        release_switch=svc["release_switch"],
        serves=svc.get("serves"),
    )


def _relayed(services: dict[str, Service], engine: str) -> dict[str, Service]:
    """The edge takes over the host port of each HTTP service that can be released without a
    gap (Kamal's proxy owns the ports): the app publishes nothing, the edge relays the port.
    Compose only (Swarm's own updates start the new task first)."""
    edge = services.get("edge")
    if not edge or engine != "compose":
        return services
    relays = []
    for name, svc in services.items():
        candidate = replace(svc, relayed=True)
        if (name != "edge" and svc.host_port is not None and not svc.public and svc.port
                and (svc.routes or svc.health.http_path) and candidate.zero_gap):
            services[name] = candidate
            relays.append((svc.host_port, name, svc.port))
    if relays:
        services["edge"] = replace(edge, relays=tuple(sorted(relays)))
    return services


def _tunnel_published(raw: dict[str, Any], name: str) -> tuple[int, int] | None:
    """(host port, container port) where the other site's cloudflared reaches the edge's tunnel
    port, in tunnel mode shared."""
    tunnel = raw["tunnel"]
    if name != "edge" or tunnel["mode"] != "shared":
        return None
    return int(tunnel["shared"]["edge_host_port"]) + int(raw["port_offset"]), int(tunnel["edge_port"])


def _routes(raw: dict[str, Any], enabled: dict[str, dict[str, Any]]) -> list[Route]:
    """Every route to an enabled service, most specific first (longest prefix first)."""
    routes = []
    for name, route in raw["routes"].items():
        host_key, service = route["host"], route["service"]
        if host_key not in raw["hostnames"] or service not in enabled:
            continue  # reported by the rules
        routes.append(Route(name, service, host_key, raw["hostnames"][host_key], route["path"],
                            bool(route.get("strip_prefix", False)), enabled[service].get("port") or 0,
                            route.get("max_body_size", "32m")))
    return sorted(routes, key=lambda r: (r.hostname, -len(r.prefix), r.name))
