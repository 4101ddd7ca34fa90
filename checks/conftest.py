"""testinfra checks against a deployed target: `pytest checks/ --target local` (or staging,
production). Expected values come from the target's catalog; nothing is written here by hand.

Without --hosts, the target is reached through pyinfra's own connection (checks/backend.py):
the inventory's SSH account, key and port, root through sudo where the target needs it (the
password from MARKETPLACE_SUDO_PASSWORD), one SSH connection for the whole run.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from deploys import catalog as catalog_mod
from deploys import layout
from deploys.render import render

REPO = Path(__file__).resolve().parent.parent


def pytest_addoption(parser):
    parser.addoption("--target", default=os.environ.get("MARKETPLACE_TARGET", "local"),
                     choices=catalog_mod.targets(), help="whose catalog the checks expect")


def pytest_configure(config):
    # The target, reached as the deploy reaches it (checks/backend.py): its inventory's SSH
    # account, sudo, one connection for the whole run.
    import testinfra.backend

    testinfra.backend.BACKENDS["pyinfra"] = "checks.backend.PyinfraBackend"
    if not config.option.hosts:
        config.option.hosts = f"pyinfra://{config.option.target}"


def _catalog(config) -> catalog_mod.Catalog:
    return catalog_mod.load(config.getoption("target"))


def pytest_generate_tests(metafunc):
    catalog = _catalog(metafunc.config)
    if "service" in metafunc.fixturenames:
        metafunc.parametrize("service", list(catalog.services))
    if "routed" in metafunc.fixturenames:
        names = [n for n, s in catalog.services.items() if s.health_url]
        metafunc.parametrize("routed", names)


@pytest.fixture(scope="session")
def catalog(pytestconfig) -> catalog_mod.Catalog:
    return _catalog(pytestconfig)


@pytest.fixture(scope="session")
def managed_files(catalog):
    return render(catalog)


@pytest.fixture(scope="module")
def docker(host, catalog):
    """Run `docker ARGS` on the target and return its stdout."""
    def run(*args: str) -> str:
        return host.check_output(shlex.join([catalog.docker_bin, *args]))
    return run


@pytest.fixture(scope="module")
def stack_containers(docker, catalog) -> dict[str, dict]:
    """service -> {state, health, ports} of the stack's containers, read once per module."""
    import json

    ids = docker("ps", "-aq", "--filter", f"label={layout.project_label(catalog.engine)}={catalog.project_name}").split()
    if not ids:
        return {}
    found = {}
    for item in json.loads(docker("inspect", *ids)):
        name = item["Config"]["Labels"].get(layout.service_label(catalog.engine))
        found[name] = {"state": item["State"]["Status"],
                       "health": (item["State"].get("Health") or {}).get("Status", "none"),
                       "ports": item["HostConfig"].get("PortBindings") or {}}
    return found
