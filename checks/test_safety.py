"""Exposure, databases and secrets on the deployed target (read-only)."""

from __future__ import annotations

import ipaddress
import json
import shlex

import pytest

from deploys import layout

PRIVATE_KEYS = layout.KEY_MOUNTS["private"][1]  # where a private key is mounted in a container


@pytest.fixture(scope="module")
def inspected(docker, catalog) -> dict[str, dict]:
    """service -> `docker inspect` of its container."""
    ids = docker("ps", "-q", "--filter", f"label={layout.project_label(catalog.engine)}={catalog.project_name}").split()
    return {item["Config"]["Labels"][layout.service_label(catalog.engine)]: item
            for item in json.loads(docker("inspect", *ids))} if ids else {}


@pytest.fixture(scope="module")
def secret_values(host, catalog) -> dict[str, str]:
    """name -> value of every secret on the target (kept in memory; never printed)."""
    values = {}
    for name in catalog.used_secrets:
        text = host.file(f"{catalog.deploy_root}/{layout.SECRET_VALUES}/{name}").content_string.strip()
        if catalog.secrets[name]["kind"] == "rsa_keypair":
            # The key's body lines: any of them in a command line would be a leak.
            values.update({f"{name}[{i}]": line for i, line in enumerate(text.splitlines()[1:-1])})
        else:
            values[name] = text
    return values


def _database_services(catalog) -> set[str]:
    return {db["service"] for db in catalog.databases.values() if db["service"] in catalog.services}


def test_every_published_port_is_loopback_unless_public(inspected, catalog):
    for name, item in inspected.items():
        for spec in (item["HostConfig"].get("PortBindings") or {}).values():
            for binding in spec or []:
                if catalog.services[name].public:
                    continue
                assert ipaddress.ip_address(binding["HostIp"]).is_loopback, (name, binding)


def test_nothing_of_the_stack_listens_beyond_loopback(host, catalog):
    ports = {port for s in catalog.services.values() if not s.public for port in s.published}
    for line in host.check_output("ss -Hltn").splitlines():
        local = line.split()[3]
        address, _, port = local.rpartition(":")
        if int(port) in ports:
            assert ipaddress.ip_address(address.strip("[]").split("%")[0]).is_loopback, line


def test_databases_and_killbill_debug_ports_are_never_published(inspected, catalog):
    databases = _database_services(catalog)
    for name, item in inspected.items():
        bindings = item["HostConfig"].get("PortBindings") or {}
        if name in databases:
            assert not bindings, f"{name} publishes {bindings}"
        if name == "killbill":
            assert not {"8000/tcp", "12345/tcp"} & set(bindings)


def test_every_container_is_on_the_networks_the_catalog_gives_it(inspected, catalog):
    for name, item in inspected.items():
        wanted = {f"{catalog.project_name}_{net}" for net in catalog.networks_of(name)}
        assert set(item["NetworkSettings"]["Networks"]) == wanted, name


def test_databases_sit_on_internal_networks_only(inspected, docker, catalog):
    for name in _database_services(catalog):
        for network in inspected[name]["NetworkSettings"]["Networks"]:
            assert json.loads(docker("network", "inspect", network))[0]["Internal"] is True, (name, network)


def test_each_postgres_database_is_owned_by_its_own_user(host, catalog):
    listing = host.check_output(
        f"cd {shlex.quote(catalog.deploy_root)} && echo \"SELECT datname || ' ' || "
        "pg_get_userbyid(datdba) FROM pg_database WHERE NOT datistemplate\" | "
        "bash scripts/compose.sh exec -T postgres psql -At -U postgres -d postgres")
    owners = dict(line.split() for line in listing.splitlines())
    for name, db in catalog.postgres_databases.items():
        assert owners.get(name) == db["user"], name
    users = [db["user"] for db in catalog.postgres_databases.values()]
    assert len(users) == len(set(users)), "a user shared between databases"


def test_killbill_and_kaui_have_their_ddl_loaded(host, catalog):
    for name, db in catalog.postgres_databases.items():
        if not db["ddl"]:
            continue
        count = host.check_output(
            f"cd {shlex.quote(catalog.deploy_root)} && echo \"SELECT count(*) FROM pg_tables "
            f"WHERE schemaname = 'public' AND tableowner = '{db['user']}'\" | "
            f"bash scripts/compose.sh exec -T postgres psql -At -U postgres -d {shlex.quote(name)}")
        assert int(count) > 0, f"{name}: no tables owned by {db['user']}"


def test_the_private_key_is_mounted_only_where_it_is_used(inspected, catalog):
    for name, item in inspected.items():
        mounts = {m["Destination"]: m for m in item["Mounts"]}
        private = [d for d in mounts if d.startswith(PRIVATE_KEYS)]
        uses = any(v.startswith(PRIVATE_KEYS) for v in catalog.services[name].env.values())
        assert bool(private) == uses, name
        for dest in private + [d for d in mounts if d.startswith("/run/marketplace/keys")]:
            assert mounts[dest]["RW"] is False, (name, dest)


def test_no_secret_in_any_command_line(host, inspected, secret_values):
    """Neither the containers' configured commands nor any process on the target."""
    argv = [" ".join([item["Path"], *item["Args"]]) for item in inspected.values()]
    argv += host.check_output("ps -eo args").splitlines()
    leaked = sorted(name for name, value in secret_values.items()
                    if len(value) >= 8 and any(value in line for line in argv))
    assert not leaked, f"secret values in command lines: {leaked}"


def test_no_secret_in_the_stack_logs(host, catalog, secret_values):
    logs = host.check_output(f"cd {shlex.quote(catalog.deploy_root)} && "
                             "bash scripts/compose.sh logs --no-color --tail 2000 2>&1; "
                             "cat scripts/logs/*.log 2>/dev/null || true")
    leaked = sorted(name for name, value in secret_values.items() if len(value) >= 8 and value in logs)
    assert not leaked, f"secret values in logs: {leaked}"


def test_every_container_has_its_memory_limit_and_capped_logs(inspected, catalog):
    from deploys.target.preflight import mib

    for name, item in inspected.items():
        svc = catalog.services[name]
        assert item["HostConfig"]["Memory"] == int(mib(svc.mem_limit) * 1024 * 1024), name
        log = item["HostConfig"]["LogConfig"]
        assert log["Type"] == "json-file", name
        assert log["Config"] == {"max-size": catalog.container_logs["max_size"],
                                 "max-file": str(catalog.container_logs["max_files"])}, name
