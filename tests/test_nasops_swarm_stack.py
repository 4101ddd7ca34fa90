"""`nasops stack deploy` (Swarm's converge): its rule for a service's update as data, the
entrypoints file from the images' own config, and one deploy against a fake Docker SDK and CLI."""

from __future__ import annotations

import io
import json
import subprocess
from types import SimpleNamespace

import docker
import pytest

from deploys.catalog import load
from nasops import swarm_stack
from nasops.swarm_stack import Progress, StackDeploy, entrypoints, progress
from tests.nasops_fixtures import stack_in

NOW = 1_800_000_000
AFTER = "2027-01-15T08:00:05.123456789Z"  # NOW + 5 s
BEFORE = "2027-01-15T07:00:00Z"


@pytest.mark.parametrize("update,running,desired,placement,expect", [
    (None, 1, 1, "", Progress("done")),
    ({"State": "completed", "StartedAt": AFTER}, 2, 2, "", Progress("done")),
    ({"State": "completed", "StartedAt": AFTER}, 1, 2, "", Progress("wait", "starting (1/2)")),
    (None, 0, 0, "", Progress("wait", "starting (0/0)")),
    ({"State": "updating", "StartedAt": AFTER}, 1, 1, "", Progress("wait", "updating")),
    ({"State": "rollback_started", "StartedAt": AFTER}, 1, 1, "", Progress("wait", "rollback_started")),
    ({"State": "rollback_completed", "StartedAt": AFTER, "Message": "update rolled back"}, 1, 1, "",
     Progress("failed", "Swarm rolled web back (rollback_completed): update rolled back")),
    ({"State": "paused", "StartedAt": AFTER}, 1, 1, "", Progress("failed", "Swarm rolled web back (paused): its new task failed")),
    # an older deploy's rollback is not this one's failure
    ({"State": "rollback_completed", "StartedAt": BEFORE}, 1, 1, "", Progress("done")),
    (None, 0, 1, "no suitable node (host-mode port already in use on 1 node)", Progress(
        "failed", "web cannot run all its replicas (0/1): no suitable node (host-mode port already in use on 1 node)")),
])
def test_the_rule_for_one_services_update(update, running, desired, placement, expect):
    assert progress("web", update, NOW, running, desired, placement) == expect


def test_the_entrypoints_are_the_images_own_with_dollars_kept_literal():
    services = [{"service": "killbill", "image": "kb:1", "command": None},
                {"service": "connector", "image": "conn:1", "command": ["python3", "-c", "print('$HOME')"]},
                {"service": "unwanted", "image": "u:1", "command": None}]
    configs = {"kb:1": {"Entrypoint": ["/entry.sh"], "Cmd": ["run", "${X}"]}, "conn:1": {"Entrypoint": None, "Cmd": ["x"]}}
    assert entrypoints(services, ["killbill", "connector"], configs.__getitem__) == {"version": "3.8", "services": {
        "killbill": {"command": ["/entry.sh", "run", "$${X}"]},
        "connector": {"command": ["python3", "-c", "print('$$HOME')"]}}}


class FakeClient:
    """The Docker SDK's surface a stack deploy uses; services' updates follow `updates`."""

    def __init__(self, nodes=("node1",), images=(), updates=None, replicas=1, networks=()):
        self.nodes = SimpleNamespace(list=lambda filters: list(nodes))
        self.network_names, self.made_networks = list(networks), []
        self.networks = SimpleNamespace(list=lambda filters: [SimpleNamespace(name=n) for n in self.network_names],
                                        create=self._network)
        self.present, self.built = set(images), []
        self.updates = updates or {}
        self.replicas = replicas
        self.images = SimpleNamespace(get=self._image, build=self._build)
        self.services = SimpleNamespace(get=self._service)
        self.api = SimpleNamespace(tasks=self._tasks)

    def _network(self, name, **kw):
        self.made_networks.append((name, kw))
        self.network_names.append(name)

    def _image(self, tag):
        if tag not in self.present:
            raise docker.errors.ImageNotFound(tag)
        return SimpleNamespace(attrs={"Config": {"Entrypoint": ["/e"], "Cmd": ["c"]}})

    def _build(self, path, tag, buildargs, rm):
        self.built.append((path, tag, buildargs))
        self.present.add(tag)

    def _service(self, name):
        return SimpleNamespace(id=name, attrs={"Spec": {"Mode": {"Replicated": {"Replicas": 1}}},
                                               "UpdateStatus": self.updates.get(name)})

    def _tasks(self, filters):
        if filters["desired-state"] == "shutdown":
            return [{"Slot": 1, "Status": {"State": "failed", "Err": "task: non-zero exit (1)"}, "UpdatedAt": "x"}]
        return [{"ServiceID": filters["service"], "Status": {"State": "running"}}] * self.replicas


class CLI:
    def __init__(self, rc=0, said=""):
        self.calls, self.rc, self.said = [], rc, said

    def __call__(self, argv, cwd, env, capture_output, text):
        self.calls.append((argv, {k: v for k, v in env.items() if k.startswith("SECRET_HASH_")}))
        return subprocess.CompletedProcess(argv, self.rc, "", self.said)


@pytest.fixture
def swarm(tmp_path):
    stack = stack_in(tmp_path, load("swarm"))
    for s in stack.swarm["secret_env"]:
        (tmp_path / s["file"]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / s["file"]).write_text(f"SECRET_{s['service']}=x\n")
    (tmp_path / "swarm").mkdir(exist_ok=True)
    return stack


def deploy_of(stack, client, cli, clock=None):
    out, err = io.StringIO(), io.StringIO()
    clock = clock or iter(range(NOW, NOW + 10_000, 1)).__next__
    return StackDeploy(stack, client, out, err, run=cli, clock=clock, sleep=lambda s: None), out, err


def every_image(stack):
    return {s["image"] for s in stack.swarm["secret_env"]} | {b["tag"] for b in stack.swarm["builds"]}


def test_a_deploy_builds_what_is_missing_names_the_secrets_and_waits(swarm, tmp_path):
    client, cli = FakeClient(images=every_image(swarm) - {swarm.swarm["builds"][0]["tag"]}), CLI()
    deploy, out, _ = deploy_of(swarm, client, cli)
    assert deploy(tmp_path / "failed", databases_only=False)
    assert [tag for _, tag, _ in client.built] == [swarm.swarm["builds"][0]["tag"]]
    (argv, hashes), = cli.calls
    assert argv == [swarm.swarm["docker"], "stack", "deploy", "--prune", "--resolve-image", "never",
                    "-c", "docker-compose.yml", "-c", "swarm/entrypoints.yml", swarm.project]
    assert set(hashes) == {s["variable"] for s in swarm.swarm["secret_env"]} and all(len(h) == 12 for h in hashes.values())
    written = (tmp_path / "swarm/entrypoints.yml").read_text()
    assert written.startswith("# Written by nasops") and set(json.loads(written.split("\n", 1)[1])["services"]) == {
        s["service"] for s in swarm.swarm["secret_env"]}
    assert (tmp_path / "failed").read_text() == ""
    assert "waiting for Swarm's updates" in out.getvalue()


def test_the_database_servers_alone_and_nothing_pruned(swarm, tmp_path):
    cli = CLI()
    deploy, _, _ = deploy_of(swarm, FakeClient(images=every_image(swarm)), cli)
    assert deploy(None, databases_only=True)
    (argv, _), = cli.calls
    assert "--prune" not in argv and argv[argv.index("-c") + 1] == "docker-compose.databases.yml"


def test_no_data_node_refuses_before_anything(swarm):
    cli = CLI()
    deploy, _, err = deploy_of(swarm, FakeClient(nodes=()), cli)
    assert not deploy(None)
    assert cli.calls == [] and "docker node update --label-add" in err.getvalue()


def test_a_refused_stack_file_says_what_docker_said(swarm):
    deploy, _, err = deploy_of(swarm, FakeClient(images=every_image(swarm)),
                               CLI(rc=1, said="Creating network x\nservices.edge Additional property foo is not allowed\n"))
    assert not deploy(None)
    assert err.getvalue() == "stack: docker stack deploy refused the stack:\nservices.edge Additional property foo is not allowed\n"


def test_a_rolled_back_service_fails_the_deploy_and_is_named(swarm, tmp_path):
    name = f"{swarm.project}_connector"
    client = FakeClient(images=every_image(swarm), updates={name: {"State": "rollback_completed", "StartedAt": AFTER}})
    deploy, _, err = deploy_of(swarm, client, CLI())
    assert not deploy(tmp_path / "failed")
    assert (tmp_path / "failed").read_text() == "connector\n"
    assert "stack: Swarm rolled connector back (rollback_completed)" in err.getvalue() and "non-zero exit (1)" in err.getvalue()


def test_a_service_that_never_gets_its_replicas_times_out(swarm, tmp_path):
    deploy, _, err = deploy_of(swarm, FakeClient(images=every_image(swarm), replicas=0), CLI(),
                               clock=iter(range(NOW, NOW + 100_000, 50)).__next__)
    assert not deploy(tmp_path / "failed")
    assert set((tmp_path / "failed").read_text().split()) == set(swarm.swarm["services"])
    assert f"still starting (0/1) after {swarm.swarm['wait_timeout_s']} s" in err.getvalue()


def test_the_command_refuses_on_compose(tmp_path):
    err = io.StringIO()
    assert swarm_stack.main(stack_in(tmp_path), ["deploy"], lambda: pytest.fail("no engine"), io.StringIO(), err) == 2


def test_an_engine_that_is_no_swarm_manager_is_said_so(swarm):
    def refuse(filters):
        raise docker.errors.APIError("503", explanation="This node is not a swarm manager.")

    client = FakeClient()
    client.nodes = SimpleNamespace(list=refuse)
    deploy, _, err = deploy_of(swarm, client, CLI())
    assert not deploy(None)
    assert "not a swarm manager (This node is not a swarm manager.): docker swarm init" in err.getvalue()


def test_the_stacks_missing_networks_are_made_as_the_stack_would_before_anything(swarm, tmp_path):
    """A release's tasks join the networks of their service before the apps that use them are
    deployed: the networks are made first, attachable, with the stack's namespace label."""
    project = swarm.project
    have = [f"{project}_db-postgres"]
    client, cli = FakeClient(images=every_image(swarm), networks=have), CLI()
    deploy, out, _ = deploy_of(swarm, client, cli)
    assert deploy(None, databases_only=True)
    made = dict(client.made_networks)
    assert set(made) == {n["name"] for n in swarm.swarm["networks"]} - set(have)
    web = made[f"{project}_web"]
    assert web == {"driver": "overlay", "internal": True, "attachable": True, "scope": "swarm",
                   "labels": {"com.docker.stack.namespace": project}}
    assert made[f"{project}_public"]["internal"] is False  # the one network with a way out
    assert f"stack: made the network {project}_web" in out.getvalue()
    again = FakeClient(images=every_image(swarm), networks=client.network_names)
    assert deploy_of(swarm, again, CLI())[0](None, databases_only=True) and again.made_networks == []
