"""`nasops sync NAME`: the Connector's job run in its container, its log and its outcome recorded
as the Connector and the status page read it; through a fake at the exec boundary."""

from __future__ import annotations

import json

import pytest

from nasops import dockerexec, sync
from nasops.status_page import read_sync_jobs
from tests.nasops_fixtures import stack_in
from tests.test_nasops_backup import FakeClient, FakeContainer

T0 = 1_800_000_000


@pytest.fixture
def stack(tmp_path):
    return stack_in(tmp_path)


@pytest.mark.parametrize("rc,ok", [(0, True), (3, False)])
def test_a_job_is_run_by_the_connector_logged_and_recorded(stack, rc, ok):
    ran = []

    def connector(api, cid, argv, stdout=None, **kw):
        ran.append((cid, argv))
        stdout.write(b"synced 4 accounts\n")
        return dockerexec.Result(rc, b"", b"a warning\n")

    client = FakeClient([FakeContainer("id-connector", "connector", project=stack.project)])
    job = stack.sync_jobs[0]
    assert sync.run(stack, job, client, exec_run=connector, now=lambda: T0) == (0 if ok else 1)
    assert ran == [("id-connector", ["python3", "/app/connector.py", "sync", job])]
    folder = stack.path("integration")
    log = (folder / f"{job}.log").read_text().splitlines()
    assert log == ["2027-01-15T08:00:00Z sync %s: start" % job, "synced 4 accounts", "a warning",
                   f"2027-01-15T08:00:00Z sync {job}: ok={'true' if ok else 'false'}"]
    status = folder / f"{job}.status"
    assert json.loads(status.read_text()) == {"job": job, "ok": ok, "at": "2027-01-15T08:00:00Z"}
    assert status.stat().st_mode & 0o777 == 0o644  # the Connector reads it through a read-only mount
    assert [(j.name, j.ok) for j in read_sync_jobs(folder, [job])] == [(job, ok)]


def test_an_unknown_job_is_refused_naming_the_known_ones(stack):
    with pytest.raises(SystemExit, match="unknown job 'nope' \\(one of: "):
        sync.run(stack, "nope", FakeClient())


def test_no_connector_running_is_a_failed_run(stack):
    job = stack.sync_jobs[0]
    assert sync.run(stack, job, FakeClient([]), now=lambda: T0) == 1
    assert "no running container of connector" in (stack.path("integration") / f"{job}.log").read_text()
