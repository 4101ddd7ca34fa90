"""The Swarm target end to end, on two nodes (tests/support/swarm.py): `make deploy TARGET=swarm`
as the README says, the whole stack of the NAS's catalog with the edge's replicas on both nodes
answering every route through either node's address, the release tasks run once in one-off
containers (a failing one stops the release before any app rolls), no secret in any service's
spec, a second deploy that changes nothing, a change rolled, and a bad image Swarm itself rolls
back (its update's failure_action) while the release goes back to the good one. Then the swarm is taken down: this engine leaves it, node 2 and its namespace go."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from deploys import catalog as catalog_mod
from bench import changed_operations
from tests.support.clone import Clone
from tests.support.staging import REPO
from tests.support.swarm import MANAGER, NODE2, NODE2_NETNS, NODE2_SOCKET, TwoNodeSwarm, sh

pytestmark = pytest.mark.e2e

SWARM = "group_data/swarm.py"


@pytest.fixture(scope="module")
def swarm():
    return catalog_mod.load("swarm")


@pytest.fixture(scope="module")
def nodes(swarm):
    two = TwoNodeSwarm(swarm)
    two.up()
    for service in ("edge", "killbill"):  # no registry: their replicas on node 2 need their images there
        two.load_image(service)
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
    for service in ("postgres", "connector", "condo"):  # with data, or not spread: the data node
        assert [a for a, _ in nodes.tasks(service)] == [MANAGER], service
    assert sorted(a for a, _ in nodes.tasks("killbill")) == [MANAGER, NODE2]  # swarm.replicas


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


def current_release(swarm) -> Path:
    return release_dir(swarm) / (release_dir(swarm) / "current").read_text().strip()


def test_the_whole_stack_answers_through_the_edge_on_either_node(swarm, nodes, deployed):
    for service in swarm.services:
        assert [state for _, state in nodes.tasks(service)] and all(
            state == "running" for _, state in nodes.tasks(service)), (service, nodes.tasks(service))
    port = next(iter(swarm.services["edge"].published))
    for route in swarm.routes:
        svc = swarm.services[route.service]
        for address in (MANAGER, NODE2):
            answer = requests.get(f"http://{address}:{port}{svc.health_url}", headers={"Host": svc.health_host},
                                  timeout=10)
            assert answer.status_code == svc.health.http_status, (route.service, address, answer.text[:300])
    # Kill Bill's tenant, on Kaui's screens too (made by the first release, there since)
    log = (current_release(swarm) / "apply.log").read_text()
    assert "tenant: " in log and ("to Kaui, for" in log or "tenant: Kaui lists marketplace" in log), log[-3000:]


def test_release_tasks_ran_once_before_the_apps_in_one_off_containers(swarm, deployed):
    tasks = current_release(swarm) / "tasks"
    assert sorted(p.name for p in tasks.iterdir()) == ["cocorico-schema-update.log", "condo-migrate.log",
                                                       "killbill-ddl-check.log"]
    assert "DDL present" in (tasks / "killbill-ddl-check.log").read_text()
    postgres = sh("docker", "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={swarm.project_name}_postgres").stdout.split()
    applied = sh("docker", "exec", postgres[0], "psql", "-U", "postgres", "-d", "condo", "-Atc",
                 "SELECT name FROM standin_migrations").stdout.split()
    assert applied == ["0001_initial"]  # with condo's secret env, on its networks
    assert not sh("docker", "ps", "-aq", "--filter", "label=marketplace.release-task").stdout.split()  # removed


def test_a_failing_release_task_stops_the_release_before_any_app_rolls(swarm, clone):
    good = (release_dir(swarm) / "last-good").read_text().strip()
    before = {name: service_spec(swarm, name)["TaskTemplate"]["ContainerSpec"] for name in ("condo", "kaui")}
    clone.commit("swarm: a migration that fails", append={SWARM: (
        'services["condo"].update({"env": {"E2E_TASK": "1"}, "release_tasks": {"migrate": ["standin", "task", "no-such-task"]}})\n'
        'services["kaui"].update({"env": {"E2E_TASK": "1"}})\n')})
    result = clone.deploy()
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "release: task condo/migrate FAILED" in output, output[-4000:]
    assert f"before any app was switched: release {good} still serves, healthy" in output, output[-4000:]
    for name, spec in before.items():  # no app rolled
        assert service_spec(swarm, name)["TaskTemplate"]["ContainerSpec"] == spec, name
    assert health(MANAGER, swarm).status_code == 200
    clone.git("revert", "--no-edit", "HEAD")


def test_a_bad_image_is_rolled_back_by_swarm_and_the_release_by_the_deploy(swarm, clone, tmp_path):
    good = (release_dir(swarm) / "last-good").read_text().strip()
    image = service_spec(swarm, "killbill")["TaskTemplate"]["ContainerSpec"]["Image"]
    (tmp_path / "Dockerfile").write_text("FROM marketplace-local/base:bookworm\n"
                                         "LABEL org.opencontainers.image.title='broken on purpose (e2e)'\n")
    sh("docker", "build", "-q", "-t", "marketplace-swarm/broken:1.0.0", str(tmp_path))  # no `standin` in it
    clone.commit("swarm: a Kill Bill image that cannot start", append={
        # its release task off: it would run in the broken image first and stop the release
        # before Swarm sees the image (test_a_failing_release_task_... proves that path)
        SWARM: 'services["killbill"].update({"image": "marketplace-swarm/broken:1.0.0", "build": None, '
               '"release_tasks": {"ddl-check": None}})\n'})
    result = clone.deploy()
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "stack: Swarm rolled killbill back" in output, output[-4000:]
    assert f"rolled back: running now is release {good}, healthy" in output, output[-4000:]
    assert (release_dir(swarm) / "current").read_text().strip() == good
    assert service_spec(swarm, "killbill")["TaskTemplate"]["ContainerSpec"]["Image"] == image
    assert health(MANAGER, swarm).status_code == 200


def scheduler_container(swarm) -> str:
    [cid] = sh("docker", "ps", "-q", "--filter",
               f"label=com.docker.swarm.service.name={swarm.project_name}_scheduler").stdout.split()
    return cid


def test_the_jobs_run_without_dsm_by_the_stacks_scheduler_on_the_data_node(swarm, nodes, deployed):
    """The scheduler service runs dsm_tasks at DSM's times (the status job every minute), and a
    job run by hand in it (as DSM's "Run") is the same program: the nightly backup, verified in
    throwaway containers on the data node, the alerts' monitor reading Swarm's tasks on both
    nodes, a sync through the Connector."""
    assert nodes.tasks("scheduler") == [(MANAGER, "running")]
    record = Path(swarm.deploy_root, "logs/monitor/schedule.json")
    deadline = time.monotonic() + 130
    while time.monotonic() < deadline:  # the status job's minute comes round
        if record.is_file() and json.loads(record.read_text()).get("status", {}).get("exit") == 0:
            break
        time.sleep(2)
    else:
        raise AssertionError(record.read_text() if record.is_file() else "no job ran within 130 s")
    cid = scheduler_container(swarm)
    backup = sh("docker", "exec", cid, "python3", "-m", "nasops", "schedule", "run", "backup", check=False)
    log = Path(swarm.deploy_root, "logs/tasks/backup.log").read_text()
    assert backup.returncode == 0, log[-4000:]
    assert "verified in" in log and "schedule: backup ended, exit 0" in log, log[-4000:]
    backup_id = Path(swarm.backup_dir, "last-verified").read_text().split()[0]
    assert json.loads(Path(swarm.backup_dir, backup_id, "manifest.json").read_text())["kind"] == "daily"
    monitor = sh("docker", "exec", cid, "python3", "-m", "nasops", "schedule", "run", "healthcheck", check=False)
    assert monitor.returncode == 0, Path(swarm.deploy_root, "logs/tasks/healthcheck.log").read_text()[-3000:]
    state = Path(swarm.deploy_root, "logs/monitor/state").read_text()
    assert "killbill" in state and "failing" not in state.lower(), state  # both of Kill Bill's tasks counted
    sync = sh("docker", "exec", cid, "python3", "-m", "nasops", "schedule", "run", "sync-killbill", check=False)
    assert sync.returncode == 0, Path(swarm.deploy_root, "logs/tasks/sync-killbill.log").read_text()[-3000:]


def test_the_status_page_answers_through_the_edge_on_either_node(swarm, nodes, deployed):
    """The snapshot the scheduler's status job writes on the data node, served by the scheduler
    to the edge's replica on each node, behind the page's password."""
    port = next(iter(swarm.services["edge"].published))
    password = Path(swarm.deploy_root, "secrets/values", swarm.monitoring["password_secret"]).read_text().strip()
    host = {"Host": swarm.hostnames[swarm.monitoring["host"]]}
    deadline = time.monotonic() + 130  # the status job runs every minute
    while True:
        answer = requests.get(f"http://{NODE2}:{port}/monitoring/status.json", headers=host,
                              auth=(swarm.monitoring["user"], password), timeout=10)
        if answer.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store, private"
    page = answer.json()
    assert {s["name"] for s in page["services"]} >= set(swarm.services), page
    for address in (MANAGER, NODE2):
        assert requests.get(f"http://{address}:{port}/monitoring/", headers=host, timeout=10).status_code == 401
        html = requests.get(f"http://{address}:{port}/monitoring/", headers=host, timeout=10,
                            auth=(swarm.monitoring["user"], password))
        assert html.status_code == 200 and "<html" in html.text.lower(), address


def routes_answer(swarm, address: str) -> bool:
    port = next(iter(swarm.services["edge"].published))
    for route in swarm.routes:
        svc = swarm.services[route.service]
        try:
            answer = requests.get(f"http://{address}:{port}{svc.health_url}", headers={"Host": svc.health_host}, timeout=3)
        except requests.RequestException:
            return False
        if answer.status_code != svc.health.http_status:
            return False
    return True


def test_a_lost_worker_its_tasks_move_and_the_routes_answer_through_the_data_node(swarm, nodes, deployed):
    """Node 2 lost as a power cut loses it (its engine, containerd and every container killed, no
    clean leave): its Kill Bill task moves to the manager, every route answers through the
    manager, the data node's services keep their data. Last of the module: node 2 stays down."""
    postgres = sh("docker", "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={swarm.project_name}_postgres").stdout.split()
    rows = "SELECT name FROM standin_migrations"
    before = sh("docker", "exec", postgres[0], "psql", "-U", "postgres", "-d", "condo", "-Atc", rows).stdout
    node2 = {**os.environ, "DOCKER_HOST": NODE2_SOCKET}
    ids = sh("docker", "ps", "-q", env=node2).stdout.split()
    pids = sh("docker", "inspect", "-f", "{{.State.Pid}}", *ids, env=node2).stdout.split() if ids else []
    t0 = time.monotonic()
    for pid in [*pids, *sh("ip", "netns", "pids", NODE2_NETNS).stdout.split()]:  # its containers, its engine
        os.kill(int(pid), signal.SIGKILL)
    answered, down, moved, streak = None, None, None, 0
    while time.monotonic() - t0 < 180 and None in (answered, down, moved):
        now = time.monotonic() - t0
        streak = streak + 1 if routes_answer(swarm, MANAGER) else 0
        if answered is None and streak >= 5:  # five rounds in a row: every route, every time
            answered = now
        if down is None and "Down" in sh("docker", "node", "ls", "--format", "{{.Status}}").stdout:
            down = now
        kill_bill = nodes.tasks("killbill")
        if moved is None and len(kill_bill) == 2 and all(a == MANAGER and s == "running" for a, s in kill_bill):
            moved = now
        time.sleep(0.5)
    print(json.dumps({"routes_answer_again_s": answered, "node_down_after_s": down,
                      "killbill_rescheduled_after_s": moved}))
    assert answered is not None, "the routes did not answer through the manager again"
    assert down is not None, "Swarm never marked node 2 down"
    assert moved is not None, nodes.tasks("killbill")
    assert sh("docker", "exec", postgres[0], "psql", "-U", "postgres", "-d", "condo", "-Atc", rows).stdout == before
    assert nodes.tasks("postgres") == [(MANAGER, "running")]
