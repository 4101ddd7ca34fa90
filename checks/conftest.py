"""testinfra checks against a deployed target: `pytest checks/ --target local` (or staging,
production). Expected values come from the target's catalog; nothing is written here by hand.

Without --hosts, this machine's targets are reached through .state/ssh/config (made by
files/local-target/setup.sh); for the NAS pass --hosts=ssh://user@nas --sudo as usual.
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
    if not config.option.hosts and config.option.target != "production":
        state = Path(os.environ.get("MARKETPLACE_STATE", REPO / ".state"))
        config.option.hosts = "ssh://marketplace-target"
        config.option.ssh_config = str(state / "ssh" / "config")


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

    ids = docker("ps", "-aq", "--filter", f"label={layout.PROJECT_LABEL}={catalog.project_name}").split()
    if not ids:
        return {}
    found = {}
    for item in json.loads(docker("inspect", *ids)):
        name = item["Config"]["Labels"].get(layout.SERVICE_LABEL)
        found[name] = {"state": item["State"]["Status"],
                       "health": (item["State"].get("Health") or {}).get("Status", "none"),
                       "ports": item["HostConfig"].get("PortBindings") or {}}
    return found
