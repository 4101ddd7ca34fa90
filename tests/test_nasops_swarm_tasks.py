"""A release task on a swarm (nasops.release.swarm_tasks), with a fake at the Docker SDK: the
one-off container of the service's image with its environment and secret env (never an argv),
on every network of the service, its data folders, its output and exit code kept, removed
whatever happened."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from nasops import service_env
from nasops.release.swarm_tasks import ONE_OFF_LABEL, OneOff
from tests.nasops_fixtures import stack_in


class FakeContainer:
    def __init__(self, engine, code, output, fail_start):
        self.engine, self.code, self.output, self.fail_start = engine, code, output, fail_start

    def start(self):
        self.engine.events.append("start")
        if self.fail_start:
            raise RuntimeError("network marketplace-swarm_web not manually attachable")

    def wait(self, timeout):
        self.engine.events.append(("wait", timeout))
        return {"StatusCode": self.code}

    def logs(self, stdout, stderr):
        return self.output

    def remove(self, force):
        self.engine.events.append(("remove", force))


class FakeEngine:
    def __init__(self, code=0, output=b"migrated 3 tables\n", fail_start=False):
        self.events, self.created = [], []
        self.containers = SimpleNamespace(create=self.create)
        self.networks = SimpleNamespace(get=lambda name: SimpleNamespace(
            connect=lambda container: self.events.append(("connect", name))))
        self.code, self.output, self.fail_start = code, output, fail_start

    def create(self, image, **kw):
        self.created.append((image, kw))
        self.events.append("create")
        return FakeContainer(self, self.code, self.output, self.fail_start)


@pytest.fixture
def stack(tmp_path):
    s = stack_in(tmp_path)
    s.raw["engine"] = "swarm"
    s.raw["swarm"] = {"one_off": {"killbill": {
        "image": "marketplace-swarm/killbill:abc", "environment": {"KILLBILL_DAO_USER": "killbill"},
        "secret_env_file": "secrets/killbill.env",
        "networks": ["marketplace-swarm_db-postgres", "marketplace-swarm_web"],
        "mounts": [{"source": "public/keys", "target": "/run/keys", "read_only": True}]}}}
    (s.root / "secrets").mkdir(parents=True, exist_ok=True)
    (s.root / "secrets/killbill.env").write_text("KILLBILL_DAO_PASSWORD=pa$$w0rd $(id)\n# a comment\nnot a line\n")
    return s


TASK = {"service": "killbill", "name": "migrate", "argv": ["migrate", "--yes"]}


def test_a_task_runs_in_a_one_off_container_of_its_services_image(stack, tmp_path):
    engine = FakeEngine()
    log = tmp_path / "killbill-migrate.log"
    assert OneOff(stack, engine)(TASK, log) == 0
    [(image, kw)] = engine.created
    assert image == "marketplace-swarm/killbill:abc"
    assert kw["command"] == ["migrate", "--yes"]  # the image's entrypoint stays, as Compose's `run`
    assert kw["environment"] == {"KILLBILL_DAO_USER": "killbill", "KILLBILL_DAO_PASSWORD": "pa$$w0rd $(id)"}
    assert "pa$$w0rd" not in " ".join(kw["command"])
    assert kw["network"] == "marketplace-swarm_db-postgres"
    assert kw["volumes"] == {str(stack.root / "public/keys"): {"bind": "/run/keys", "mode": "ro"}}
    assert kw["labels"][ONE_OFF_LABEL] == "killbill/migrate"
    assert engine.events == ["create", ("connect", "marketplace-swarm_web"), "start",
                             ("wait", stack.release["wait_timeout_s"]), ("remove", True)]
    assert log.read_bytes() == b"migrated 3 tables\n"


def test_a_failing_task_gives_its_exit_code_and_is_removed(stack, tmp_path):
    engine = FakeEngine(code=3, output=b"relation exists\n")
    log = tmp_path / "t.log"
    assert OneOff(stack, engine)(TASK, log) == 3
    assert engine.events[-1] == ("remove", True)
    assert log.read_text() == "relation exists\n"


def test_a_container_that_cannot_start_is_a_failed_task_said_in_its_log(stack, tmp_path):
    engine = FakeEngine(fail_start=True)
    log = tmp_path / "t.log"
    assert OneOff(stack, engine)(TASK, log) == 125
    assert "not manually attachable" in log.read_text()
    assert engine.events[-1] == ("remove", True)


def test_a_service_without_a_one_off_description_is_refused(stack, tmp_path):
    log = tmp_path / "t.log"
    assert OneOff(stack, FakeEngine())({"service": "condo", "name": "m", "argv": ["m"]}, log) == 125
    assert "swarm.one_off" in log.read_text()


def test_the_secret_env_file_is_read_literally():
    assert service_env.parse("A=1\nB=x=y\n_C=$HOME\n1D=no\nE F=no\n=no\n") == {"A": "1", "B": "x=y", "_C": "$HOME"}
