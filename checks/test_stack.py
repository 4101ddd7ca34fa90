"""The deployed stack is what the catalog says: containers, ports, routes, files."""

from __future__ import annotations

import shlex

from deploys import layout

# Database ports that must never be published, whatever the catalog says.
NEVER_PUBLISHED = {5432, 6379, 3306, 27017, 8000, 12345}


def test_container_running_and_healthy(stack_containers, catalog, service):
    container = stack_containers.get(service)
    assert container, f"{service}: no container"
    assert container["state"] == "running"
    expected = "healthy" if catalog.services[service].health.test else "none"
    assert container["health"] == expected


def test_no_container_outside_the_catalog(stack_containers, catalog):
    assert set(stack_containers) <= set(catalog.services)


def test_declared_port_listens_on_bind_address_only(host, catalog, service):
    svc = catalog.services[service]
    if svc.host_port is None:
        return
    assert host.socket(f"tcp://{catalog.bind_address}:{svc.host_port}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{svc.host_port}").is_listening
    assert not host.socket(f"tcp://:::{svc.host_port}").is_listening


def test_published_ports_are_exactly_the_declared_ones(stack_containers, catalog, service):
    svc = catalog.services[service]
    bindings = [b for spec in stack_containers[service]["ports"].values() for b in spec or []]
    published = {(b["HostIp"], int(b["HostPort"])) for b in bindings}
    expected = {("0.0.0.0" if svc.public else catalog.bind_address, port) for port in svc.published}
    assert published == expected
    assert not {port for _, port in published} & NEVER_PUBLISHED


def test_health_route_answers_through_the_edge(host, catalog, routed):
    svc = catalog.services[routed]
    url = f"http://{catalog.bind_address}:{catalog.edge.host_port}{svc.health_url}"
    cmd = f"curl -s -o /dev/null -m 15 -D - -H {shlex.quote('Host: ' + svc.health_host)} {shlex.quote(url)}"
    headers = host.check_output(cmd).lower()
    status = headers.split()[1]
    assert status == str(svc.health.http_status), headers
    # The stand-ins name themselves: where one answers, it must be the routed service.
    for line in headers.splitlines():
        if line.startswith("x-standin:"):
            assert line.split(":", 1)[1].strip() == routed


def test_unknown_hostname_gets_404_at_the_edge(host, catalog):
    url = f"http://{catalog.bind_address}:{catalog.edge.host_port}/"
    code = host.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' -H 'Host: unknown.invalid' {url}")
    assert code == "404"


def test_managed_files_match_the_catalog(host, catalog, managed_files):
    """Every managed file: present, its content as rendered, the right owner and mode."""
    paths = " ".join(shlex.quote(p) for p in managed_files)
    listing = host.check_output(f"cd {shlex.quote(catalog.deploy_root)} && "
                                f"stat -c '%a %U %n' {paths} && sha256sum {paths}")
    stats = {}
    for line in listing.splitlines():
        first, rest = line.split(" ", 1)
        if len(first) == 64:
            stats.setdefault(rest.strip(), {})["sha"] = first
        else:
            owner, path = rest.split(" ", 1)
            stats.setdefault(path, {}).update(mode=int(first, 8), owner=owner)
    wrong = {path: stats.get(path) for path, mf in managed_files.items()
             if stats.get(path) != {"mode": mf.mode, "owner": catalog.file_owner, "sha": mf.sha256}}
    assert not wrong


def test_secret_files_are_private(host, catalog):
    secrets = host.file(f"{catalog.deploy_root}/secrets")
    assert secrets.is_directory and secrets.mode == 0o700
    assert host.file(f"{catalog.deploy_root}/{layout.SECRET_VALUES}").mode == 0o700
    for name in catalog.secret_files:
        env = host.file(f"{catalog.deploy_root}/{layout.secret_env_file(name)}")
        assert env.exists and env.mode == 0o600, name
        assert "{secret:" not in env.content_string, f"{name}.env has an unresolved secret"
    for name in catalog.used_secrets:
        assert host.file(f"{catalog.deploy_root}/{layout.SECRET_VALUES}/{name}").mode == 0o600, name
