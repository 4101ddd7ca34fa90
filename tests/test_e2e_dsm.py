"""DSM's Task Scheduler, converged by the deploy on the DSM stand-in (files/nas-standin, which
answers from DSM 7.2.2's own API table): our tasks created once (two deploys, one task per key),
set back when edited on the NAS, a removed repeat no longer repeating, deleted when dropped from
the catalog; the other site's scheduled and boot-up tasks untouched by every operation; a DSM
that refuses a read stops the deploy naming the call; a sync job run on demand reported by the
Connector's /api/health."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.support.clone import Clone
from tests.support.staging import NAS, VENV_BIN, Deploy, containers, sh

pytestmark = pytest.mark.e2e
STAGING = "group_data/staging.py"


def api(api_name: str, method: str, version: int, **params) -> dict:
    """synowebapi on the NAS, as root (the deploy's own calls go through sudo)."""
    argv = ["docker", "exec", NAS, "/usr/syno/bin/synowebapi", "-s", "--exec", f"api={api_name}",
            f"method={method}", f"version={version}", *(f"{k}={json.dumps(v)}" for k, v in params.items())]
    answer = json.loads(subprocess.run(argv, capture_output=True, text=True).stdout)
    assert answer["success"], answer
    return answer["data"]


def copies() -> dict[str, list[dict]]:
    """Every scheduled task DSM holds, by name (more than one: duplicates)."""
    found: dict[str, list[dict]] = {}
    for row in api("SYNO.Core.TaskScheduler", "list", 3, offset=0, limit=1000)["tasks"]:
        found.setdefault(row["name"], []).append(
            api("SYNO.Core.TaskScheduler", "get", 4, id=row["id"], real_owner=row["real_owner"]))
    return found


def scheduled() -> dict[str, dict]:
    held = copies()
    assert all(len(c) == 1 for c in held.values()), {n: len(c) for n, c in held.items()}
    return {name: c[0] for name, c in held.items()}


def boot_tasks() -> set[str]:
    return {t["task_name"] for t in api("SYNO.Core.EventScheduler", "list", 1)}


@pytest.fixture(scope="module")
def foreign(staging_stack):
    """The other site's task, as its operator made it in DSM."""
    created = api("SYNO.Core.TaskScheduler.Root", "create", 4, name="wattsun: renew certificates",
                  owner="root", enable=True, type="script",
                  extra={"script": "bash /volume1/web/wattsun/renew.sh", "notify_enable": False},
                  schedule={"date_type": 0, "week_day": "0,1,2,3,4,5,6", "repeat_date": 1001, "hour": 4, "minute": 10})
    api("SYNO.Core.EventScheduler.Root", "create", 1, task_name="wattsun: on boot", owner={"0": "root"},
        event="bootup", operation="bash /volume1/web/wattsun/start.sh", operation_type="script", enable=True)
    before = api("SYNO.Core.TaskScheduler", "get", 4, id=created["id"], real_owner="root")
    boot = api("SYNO.Core.EventScheduler", "get", 1, task_name="wattsun: on boot")
    yield before, boot
    api("SYNO.Core.TaskScheduler", "delete", 2, tasks=[{"id": created["id"], "real_owner": "root"}])
    api("SYNO.Core.EventScheduler", "delete", 1, task_name="wattsun: on boot")


def untouched(foreign) -> bool:
    task, boot = foreign
    return (scheduled()["wattsun: renew certificates"] == task
            and api("SYNO.Core.EventScheduler", "get", 1, task_name="wattsun: on boot") == boot)


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
    assert untouched(foreign)
    again = Deploy()
    assert again.changed == 0, again
    assert {n: len(c) for n, c in copies().items() if n.startswith(prefix)} == \
        {prefix + k: 1 for k, t in staging_stack.dsm_tasks.items() if t["on"] != "bootup"}


def test_a_task_edited_on_the_nas_is_set_back_and_nothing_else_moves(staging_stack, foreign):
    prefix = ours(staging_stack)
    task = scheduled()[prefix + "backup"]
    edited = {**task["schedule"], "hour": 5, "last_work_hour": 5}
    api("SYNO.Core.TaskScheduler.Root", "set", 4, id=task["id"], real_owner="root", schedule=edited)
    api("SYNO.Core.EventScheduler.Root", "set", 1, task_name=prefix + "start-on-boot", owner={"0": "root"},
        event="bootup", operation="true", operation_type="script", enable=False)  # set: all of it
    running = containers(staging_stack)
    repair = Deploy()
    # the tasks, under the deploy lock (taken and released): no release, no restart
    assert repair.rc == 0 and repair.changed == 3, repair
    assert containers(staging_stack) == running
    assert f"update: DSM task '{prefix}backup': differs in schedule.hour, schedule.last_work_hour" in repair.output
    held = scheduled()
    assert held[prefix + "backup"]["schedule"]["hour"] == 3 and held[prefix + "backup"]["id"] == task["id"]
    boot = api("SYNO.Core.EventScheduler", "get", 1, task_name=prefix + "start-on-boot")
    assert boot["enable"] is True and boot["operation"].startswith("bash ")
    assert untouched(foreign)


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
    assert untouched(foreign)


def test_a_repeat_removed_from_the_catalog_no_longer_repeats_on_the_nas(clone, staging_stack, foreign):
    prefix = ours(staging_stack)
    assert scheduled()[prefix + "healthcheck"]["schedule"]["repeat_min"] == 5
    clone.commit("healthcheck once a day", append={STAGING: '\ndsm_tasks = {"healthcheck": {"every_min": None}}\n'})
    run = clone.deploy()
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    held = scheduled()[prefix + "healthcheck"]["schedule"]
    assert (held["repeat_min"], held["repeat_hour"], held["last_work_hour"]) == (0, 0, 0)
    assert untouched(foreign)


OVERRIDE = Path("/volume1/@dsm-standin/api-override.json")  # the stand-in plays an older DSM


def test_a_dsm_that_refuses_a_read_stops_the_deploy_naming_the_call(staging_stack, foreign):
    table = json.loads((Path(__file__).resolve().parent.parent / "files/nas-standin/dsm-api/SYNO.Core.json")
                       .read_text())["SYNO.Core.TaskScheduler"]
    older = {**table, "maxVersion": 3, "methods": {v: m for v, m in table["methods"].items() if v != "4"}}
    before = copies()
    OVERRIDE.write_text(json.dumps({"SYNO.Core.TaskScheduler": older}))
    running = containers(staging_stack)
    try:
        run = sh(str(VENV_BIN / "pyinfra"), "-y", "inventory.py", "deploys/marketplace.py", check=False)
    finally:
        OVERRIDE.unlink()
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-3000:]
    assert "FAIL DSM Task Scheduler" in output and "SYNO.Core.TaskScheduler get v4" in output
    assert "DSM error 104" in output and "nothing was touched" in output
    assert copies() == before and containers(staging_stack) == running
