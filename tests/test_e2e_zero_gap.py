"""Releases nobody notices, on the staging target: request loops through the edge (one per
routed stateless service, plus an app's host port, which the edge relays) run while a release
changes every stateless service, and while a release whose new Connector never becomes
healthy is rolled back; every non-2xx answer and every connection error is counted.

The loops' figures (requests, errors, the longest answer) are printed here and measured in
`make bench` (its one-setting change runs inside such loops); the tests assert only that nothing failed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.clone import Clone
from bench.loops import RequestLoops
from tests.support.staging import changed_operations, container_name, healthy

pytestmark = pytest.mark.e2e

STAGING = "group_data/staging.py"
STATELESS = ("connector", "killbill", "kaui", "condo", "cocorico")
CONNECTOR_LIVE = ('        if path in ("/api/health", "/api/health/live"):\n'
                  '            status, body = health(with_integrations=path == "/api/health")')
BROKEN_LIVE = ('        if path in ("/api/health", "/api/health/live"):\n'
               '            status, body = 503, {"ok": False, "error": "this release is broken on purpose"}')


@pytest.fixture(scope="module")
def clone(staging_stack, tmp_path_factory):
    return Clone(tmp_path_factory.mktemp("zero-gap") / "repo")


def container_id(catalog, service: str) -> str:
    return subprocess.run(["docker", "inspect", "-f", "{{.Id}}", container_name(catalog, service)],
                          capture_output=True, text=True, check=True).stdout.strip()


def release_log(catalog) -> str:
    """The newest release's log (a release runs detached on the target; the deploy prints its end)."""
    releases = Path(catalog.deploy_root, "releases")
    newest = sorted(p for p in releases.iterdir() if p.is_dir() and p.name[:1].isdigit())[-1]
    return (newest / "apply.log").read_text()


def loops_for(catalog) -> RequestLoops:
    """A loop per stateless service's health route through the edge, and one on the
    Connector's host port (relayed by the edge)."""
    targets = {name: (catalog.edge.host_port, catalog.services[name].health_host, catalog.services[name].health_url)
               for name in STATELESS}
    connector = catalog.services["connector"]
    targets["connector host port"] = (connector.host_port, "localhost", connector.health.http_path)
    return RequestLoops(catalog.bind_address, targets)


def deploy_under_loops(catalog, clone) -> tuple[subprocess.CompletedProcess, str, dict]:
    """The clone's HEAD deployed while the loops run: (the deploy, its output, the loops' figures)."""
    with loops_for(catalog) as loops:
        result = clone.deploy()
    print(json.dumps(loops.figures(), indent=1))
    return result, result.stdout + result.stderr, loops.figures()


def assert_no_request_failed(figures: dict) -> None:
    for name, figure in figures.items():
        assert figure["requests"] > 0, name
        assert figure["errors"] == [], f"{name}: {figure}"


def test_a_release_of_every_stateless_service_fails_no_request(staging_stack, clone):
    before = {name: container_id(staging_stack, name) for name in STATELESS}
    clone.commit("zero gap: one setting of every stateless app", append={STAGING: "\nservices = {" + ", ".join(
        f'"{name}": {{"env": {{"E2E_ZERO_GAP": "1"}}}}' for name in STATELESS) + "}\n"})
    result, output, figures = deploy_under_loops(staging_stack, clone)
    assert result.returncode == 0, output[-3000:]
    log = release_log(staging_stack)
    assert f"release: {', '.join(sorted(STATELESS))} replaced without a gap" in log, log
    assert "Recreate" not in log  # Compose's own `up` found the new containers as it wants them
    for name in STATELESS:
        assert container_id(staging_stack, name) != before[name], f"{name} was not replaced"
    assert_no_request_failed(figures)
    assert healthy(staging_stack)


def test_a_release_of_the_edges_configuration_keeps_its_container_and_fails_no_request(staging_stack, clone):
    """The edge holds the stack's ports, so two of it cannot run: a change to its configuration
    alone is loaded by a graceful reload (its old workers finish what they serve)."""
    edge = container_id(staging_stack, "edge")
    clone.commit("zero gap: the edge's configuration alone", append={STAGING: (
        '\nroutes = {"condo": {"max_body_size": "31m"}}\n')})
    result, output, figures = deploy_under_loops(staging_stack, clone)
    assert result.returncode == 0, output[-3000:]
    log = release_log(staging_stack)
    assert "release: edge loaded its new configuration without a gap (nginx -s reload)" in log, log
    assert "edge is replaced with a gap" not in log
    assert container_id(staging_stack, "edge") == edge
    loaded = subprocess.run(["docker", "exec", container_name(staging_stack, "edge"), "nginx", "-T"],
                            capture_output=True, text=True, check=True).stdout
    assert "client_max_body_size 31m;" in loaded
    assert_no_request_failed(figures)
    again = clone.deploy()
    assert again.returncode == 0 and changed_operations(again.stdout + again.stderr) == 0, again.stdout[-3000:]


def test_a_release_whose_new_container_never_becomes_healthy_fails_no_request(staging_stack, clone):
    serving = container_id(staging_stack, "connector")
    clone.commit("zero gap: a connector that fails its health check", edits={
        "files/connector/connector.py": (CONNECTOR_LIVE, BROKEN_LIVE)}, append={
        STAGING: 'services = {"connector": {"env": {"E2E_ZERO_GAP": "2"}, '
                 '"health": {"interval_s": 2, "retries": 2, "start_period_s": 2}}}\n'})
    result, output, figures = deploy_under_loops(staging_stack, clone)
    assert result.returncode != 0
    assert "gate: connector FAILED: unhealthy" in output, output[-3000:]
    kept = [line for line in release_log(staging_stack).splitlines() if line.endswith("keep serving")]
    assert kept and "connector" in kept[0], kept
    assert_no_request_failed(figures)
    assert container_id(staging_stack, "connector") == serving
    assert healthy(staging_stack)
    clone.git("revert", "--no-edit", "HEAD")
