"""The Swarm target end to end, on two nodes (tests/support/swarm.py): `make deploy TARGET=swarm`
as the README says, the edge's replicas on both nodes answering through either node's address,
no secret in any service's spec, a second deploy that changes nothing, a change rolled, and a bad
image Swarm itself rolls back (its update's failure_action) while the release goes back to the
good one. Then the swarm is taken down: this engine leaves it, node 2 and its namespace go."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import requests

from deploys import catalog as catalog_mod
from bench import changed_operations
from tests.support.clone import Clone
from tests.support.staging import REPO
from tests.support.swarm import MANAGER, NODE2, TwoNodeSwarm, sh

pytestmark = pytest.mark.e2e

SWARM = "group_data/swarm.py"


@pytest.fixture(scope="module")
def swarm():
    return catalog_mod.load("swarm")


@pytest.fixture(scope="module")
def nodes(swarm):
    two = TwoNodeSwarm(swarm)
    two.up()
    two.load_image("edge")  # no registry: the edge's replica on node 2 needs its image there
    yield two
    two.down()
    assert "swnode2" not in sh("ip", "netns", "list").stdout
    assert sh("docker", "info", "-f", "{{.Swarm.LocalNodeState}}").stdout.strip() == "inactive"


def make_deploy() -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MARKETPLACE_NAS", "MARKETPLACE_SUDO_PASSWORD")}
    return subprocess.run(["make", "deploy", "TARGET=swarm"], cwd=REPO, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def deployed(nodes):
    first = make_deploy()
    assert first.returncode == 0, (first.stdout + first.stderr)[-4000:]
    return first


@pytest.fixture(scope="module")
def clone(deployed, tmp_path_factory):
    repo = Clone(tmp_path_factory.mktemp("swarm") / "repo")
    repo.env = {**repo.env, "MARKETPLACE_TARGET": "swarm"}
    return repo


def health(address: str, swarm) -> requests.Response:
    port = swarm.services["edge"].published and next(iter(swarm.services["edge"].published))
    return requests.get(f"http://{address}:{port}/api/health", headers={"Host": swarm.hostnames["main"]}, timeout=10)


def service_spec(swarm, service: str) -> dict:
    out = sh("docker", "service", "inspect", f"{swarm.project_name}_{service}").stdout
    return json.loads(out)[0]["Spec"]


def release_dir(swarm) -> Path:
    return Path(swarm.deploy_root, "releases")


def test_make_deploy_puts_the_edge_on_both_nodes_and_it_answers_through_either(swarm, nodes, deployed):
    table = deployed.stdout.split("SERVICE")[-1]
    assert "killbill" in table and "unhealthy" not in table
    edge = nodes.tasks("edge")
    assert sorted(address for address, _ in edge) == [MANAGER, NODE2], edge
    assert all(state == "running" for _, state in edge), edge
    for address in (NODE2, MANAGER, "127.0.0.1"):
        answer = health(address, swarm)
        assert answer.status_code == 200, (address, answer.text[:500])
    for service in ("postgres", "killbill", "connector"):  # with data or not published: the data node
        assert [a for a, _ in nodes.tasks(service)] == [MANAGER], service


def test_no_secret_reaches_a_service_spec_nor_the_stack_file(swarm, deployed):
    secrets = {line.split("=", 1)[1] for f in Path(swarm.deploy_root, "secrets").glob("*.env")
               for line in f.read_text().splitlines() if "=" in line and len(line.split("=", 1)[1]) >= 12}
    assert secrets
    stack = Path(swarm.deploy_root, "docker-compose.yml").read_text()
    for service in swarm.services:
        spec = json.dumps(service_spec(swarm, service))
        assert not [s for s in secrets if s in spec], service
    assert not [s for s in secrets if s in stack]
    assert not [s for s in secrets if s in deployed.stdout + deployed.stderr]


def test_a_second_deploy_changes_nothing(deployed):
    again = make_deploy()
    assert again.returncode == 0, again.stdout[-3000:]
    assert changed_operations(again.stdout + again.stderr) == 0, again.stdout[-6000:]


def test_a_change_is_rolled_into_the_running_service(swarm, clone):
    before = service_spec(swarm, "killbill")["TaskTemplate"]["ContainerSpec"]
    clone.commit("swarm: Kill Bill's log level", append={
        SWARM: '\nservices["killbill"]["env"] = {"LOG_LEVEL": "DEBUG"}\n'})
    result = clone.deploy()
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    after = service_spec(swarm, "killbill")["TaskTemplate"]["ContainerSpec"]
    assert "LOG_LEVEL=DEBUG" in after.get("Env", []) and "LOG_LEVEL=DEBUG" not in before.get("Env", [])
    assert (release_dir(swarm) / (release_dir(swarm) / "current").read_text().strip() / "status").read_text().strip() == "good"
    assert health(MANAGER, swarm).status_code == 200


def test_a_bad_image_is_rolled_back_by_swarm_and_the_release_by_the_deploy(swarm, clone, tmp_path):
    good = (release_dir(swarm) / "last-good").read_text().strip()
    image = service_spec(swarm, "killbill")["TaskTemplate"]["ContainerSpec"]["Image"]
    (tmp_path / "Dockerfile").write_text("FROM marketplace-local/base:bookworm\n"
                                         "LABEL org.opencontainers.image.title='broken on purpose (e2e)'\n")
    sh("docker", "build", "-q", "-t", "marketplace-swarm/broken:1.0.0", str(tmp_path))  # no `standin` in it
    clone.commit("swarm: a Kill Bill image that cannot start", append={
        SWARM: 'services["killbill"].update({"image": "marketplace-swarm/broken:1.0.0", "build": None})\n'})
    result = clone.deploy()
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "stack: Swarm rolled killbill back" in output, output[-4000:]
    assert f"rolled back: running now is release {good}, healthy" in output, output[-4000:]
    assert (release_dir(swarm) / "current").read_text().strip() == good
    assert service_spec(swarm, "killbill")["TaskTemplate"]["ContainerSpec"]["Image"] == image
    assert health(MANAGER, swarm).status_code == 200
