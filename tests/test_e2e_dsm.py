"""DSM's Task Scheduler, converged by the deploy on the DSM stand-in (files/nas-standin): our
tasks created once, set back when edited on the NAS, deleted when dropped from the catalog; the
other site's task untouched by every operation; a sync job run on demand reported by the
Connector's /api/health."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.support.clone import Clone
from tests.support.staging import NAS, Deploy, containers

pytestmark = pytest.mark.e2e
STAGING = "group_data/staging.py"


def api(api_name: str, method: str, version: int, **params) -> dict:
    """synowebapi on the NAS, as root (the deploy's own calls go through sudo)."""
    argv = ["docker", "exec", NAS, "/usr/syno/bin/synowebapi", "-s", "--exec", f"api={api_name}",
            f"method={method}", f"version={version}", *(f"{k}={json.dumps(v)}" for k, v in params.items())]
    answer = json.loads(subprocess.run(argv, capture_output=True, text=True).stdout)
    assert answer["success"], answer
    return answer["data"]


def scheduled() -> dict[str, dict]:
    listed = api("SYNO.Core.TaskScheduler.Root", "list", 3)["tasks"]
    return {t["name"]: api("SYNO.Core.TaskScheduler.Root", "get", 4, id=t["id"]) for t in listed}


def boot_tasks() -> set[str]:
    return {t["task_name"] for t in api("SYNO.Core.EventScheduler.Root", "list", 1)["tasks"]}


@pytest.fixture(scope="module")
def foreign(staging_stack):
    """The other site's task, as its operator made it in DSM."""
    created = api("SYNO.Core.TaskScheduler.Root", "create", 4, name="wattsun: renew certificates",
                  owner="root", enable=True, type="script",
                  extra={"script": "bash /volume1/web/wattsun/renew.sh", "notify_enable": False},
                  schedule={"date_type": 0, "week_day": "0,1,2,3,4,5,6", "repeat_date": 1001, "hour": 4, "minute": 10})
    before = api("SYNO.Core.TaskScheduler.Root", "get", 4, id=created["id"])
    yield before
    api("SYNO.Core.TaskScheduler.Root", "delete", 2, tasks=[{"id": created["id"], "real_owner": "root"}])


def ours(catalog) -> str:
    return f"{catalog.project_name}: "


def test_the_deploy_holds_exactly_our_tasks_and_leaves_the_other_sites(staging_stack, foreign):
    run = Deploy()
    assert run.rc == 0, run
    held = scheduled()
    prefix = ours(staging_stack)
    assert {n for n in held if n.startswith(prefix)} == \
        {prefix + k for k, t in staging_stack.dsm_tasks.items() if t["on"] != "bootup"}
    assert prefix + "start-on-boot" in boot_tasks()
    backup = held[prefix + "backup"]
    assert backup["owner"] == "root" and (backup["schedule"]["hour"], backup["schedule"]["minute"]) == (3, 0)
    assert backup["extra"]["script"] == (f"bash {staging_stack.deploy_root}/scripts/backup.sh run --kind daily >> "
                                         f"{staging_stack.deploy_root}/logs/tasks/backup.log 2>&1")
    assert held["wattsun: renew certificates"] == foreign
    again = Deploy()
    assert again.changed == 0, again


def test_a_task_edited_on_the_nas_is_set_back_and_nothing_else_moves(staging_stack, foreign):
    prefix = ours(staging_stack)
    task = scheduled()[prefix + "backup"]
    edited = {**task["schedule"], "hour": 5}
    api("SYNO.Core.TaskScheduler.Root", "set", 4, id=task["id"], name=task["name"], owner="root",
        enable=task["enable"], type="script", extra=task["extra"], schedule=edited)
    api("SYNO.Core.EventScheduler.Root", "set", 1, task_name=prefix + "start-on-boot", owner={"0": "root"},
        event="bootup", operation="true", operation_type="script", enable=False)
    running = containers(staging_stack)
    repair = Deploy()
    # the tasks, under the deploy lock (taken and released): no release, no restart
    assert repair.rc == 0 and repair.changed == 3, repair
    assert containers(staging_stack) == running
    assert f"update: DSM task '{prefix}backup': differs in hour" in repair.output
    held = scheduled()
    assert held[prefix + "backup"]["schedule"]["hour"] == 3 and held[prefix + "backup"]["id"] == task["id"]
    boot = api("SYNO.Core.EventScheduler.Root", "get", 1, task_name=prefix + "start-on-boot")
    assert boot["enable"] is True and boot["operation"].startswith("bash ")
    assert held["wattsun: renew certificates"] == foreign


def test_a_sync_job_run_on_demand_is_reported_by_the_connector(staging_stack):
    prefix = ours(staging_stack)
    task = scheduled()[prefix + "sync-killbill"]
    run = subprocess.run(["docker", "exec", NAS, "/usr/syno/bin/synoschedtask", "--run", f"id={task['id']}"],
                         capture_output=True, text=True)
    assert run.returncode == 0 and "[DSM stand-in]" in run.stdout, run.stdout + run.stderr
    root = Path(staging_stack.deploy_root)
    status = json.loads((root / "logs/integration/killbill.status").read_text())
    assert status["ok"] is True and status["job"] == "killbill"
    assert "killbill's API answers" in (root / "logs/integration/killbill.log").read_text()
    request = urllib.request.Request(f"http://127.0.0.1:{staging_stack.edge.host_port}/api/health",
                                     headers={"Host": staging_stack.hostnames["main"]})
    import time

    time.sleep(5.5)  # the connector keeps an answer 5 s
    body = json.loads(urllib.request.urlopen(request, timeout=15).read())
    assert body["killbill_sync_ok"] is True and body["killbill_sync_at"] == status["at"]
    assert set(body) >= {"condo_sync_ok", "cocorico_sync_ok"}


@pytest.fixture(scope="module")
def clone(staging_stack, tmp_path_factory):
    clone = Clone(tmp_path_factory.mktemp("dsm") / "repo")
    yield clone
    assert Deploy().rc == 0  # staging back to its own catalog (every task)


def test_a_task_dropped_from_the_catalog_is_deleted_and_only_it(clone, staging_stack, foreign):
    prefix = ours(staging_stack)
    clone.commit("drop a task", append={STAGING: '\ndsm_tasks = {"sync-condo-units": None}\n'})
    run = clone.deploy()
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    held = scheduled()
    assert prefix + "sync-condo-units" not in held and prefix + "sync-killbill" in held
    assert held["wattsun: renew certificates"] == foreign
