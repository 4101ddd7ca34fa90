"""The DSM stand-in's synowebapi (files/nas-standin/dsm_standin.py) answers from DSM's own API
table (files/nas-standin/dsm-api/): it refuses what DSM 7.2.2's table does not offer, answers the
fields public clients show DSM answering, and DSM's recorded answers (an unknown task id: 4800; the
EventScheduler list: an array). Run here as root, its store in a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.dsm_nas import STANDIN, TABLE, FakeNas

API_DIR = TABLE.parent
SCHEDULE = {"hour": 3, "minute": 0}
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="synowebapi runs as root, like DSM's")


@pytest.fixture
def nas(tmp_path) -> FakeNas:
    return FakeNas(tmp_path)


def task(**over) -> dict:
    return {"name": "x: backup", "owner": "root", "enable": True, "type": "script",
            "extra": {"script": "bash /x.sh", "notify_enable": False}, "schedule": SCHEDULE, **over}


def every_call_of_the_table() -> list[tuple[str, str, int, bool]]:
    """(api, method, version, offered) for every Task/EventScheduler API, method and version."""
    table = json.loads(TABLE.read_text())
    cases = []
    for api in ("SYNO.Core.TaskScheduler", "SYNO.Core.TaskScheduler.Root", "SYNO.Core.EventScheduler",
                "SYNO.Core.EventScheduler.Root"):
        methods = {m for ms in table[api]["methods"].values() for m in ms} | {"list", "get", "delete"}
        for version in range(1, table[api]["maxVersion"] + 2):
            for method in sorted(methods):
                cases.append((api, method, version, method in table[api]["methods"].get(str(version), [])))
    return cases


@pytest.mark.parametrize("api, method, version, offered",
                         [c for c in every_call_of_the_table() if not c[3]])
def test_what_the_table_does_not_offer_is_refused_as_dsm_refuses_it(nas, api, method, version, offered):
    answer = nas.api(api, method, version)
    assert answer["success"] is False and answer["error"]["code"] in (103, 104), answer


def test_the_root_apis_refuse_reads_and_deletes(nas):
    for method in ("list", "get", "delete"):
        assert nas.api("SYNO.Core.TaskScheduler.Root", method, 3)["error"]["code"] in (103, 104)
        assert nas.api("SYNO.Core.EventScheduler.Root", method, 1)["error"]["code"] in (103, 104)
    assert nas.api("SYNO.Core.TaskScheduler", "list", 4)["error"]["code"] == 104  # list: v1-v3
    assert nas.api("SYNO.Core.TaskScheduler", "delete", 3)["error"]["code"] == 104  # delete: v1-v2


def test_create_list_get_set_delete_as_dsm_takes_them(nas):
    created = nas.api("SYNO.Core.TaskScheduler.Root", "create", 4, **task())
    assert created == {"data": {"id": 1}, "success": True}
    [row] = nas.api("SYNO.Core.TaskScheduler", "list", 3, offset=0, limit=50)["data"]["tasks"]
    assert set(row) == {"action", "can_delete", "can_edit", "can_run", "enable", "id", "name",
                        "next_trigger_time", "owner", "real_owner", "type"}
    assert row["action"] == "Run: bash /x.sh" and row["real_owner"] == "root"
    got = nas.api("SYNO.Core.TaskScheduler", "get", 4, id=1, real_owner="root")["data"]
    # the schedule with the defaults DSM fills in
    assert {k: got["schedule"][k] for k in ("repeat_hour", "repeat_min", "last_work_hour", "monthly_week",
                                            "date_type", "week_day", "repeat_date")} == \
        {"repeat_hour": 0, "repeat_min": 0, "last_work_hour": 3, "monthly_week": [], "date_type": 0,
         "week_day": "0,1,2,3,4,5,6", "repeat_date": 1001}
    # set changes only what it is sent: a partial schedule keeps DSM's repeat
    nas.api("SYNO.Core.TaskScheduler.Root", "set", 4, id=1, real_owner="root",
            schedule={"hour": 0, "minute": 0, "repeat_min": 5, "last_work_hour": 23})
    nas.api("SYNO.Core.TaskScheduler.Root", "set", 4, id=1, real_owner="root", schedule={"hour": 1, "minute": 0})
    again = nas.api("SYNO.Core.TaskScheduler", "get", 4, id=1, real_owner="root")["data"]["schedule"]
    assert (again["hour"], again["repeat_min"]) == (1, 5)
    assert nas.api("SYNO.Core.TaskScheduler", "delete", 2, tasks=[{"id": 1, "real_owner": "root"}])["success"]
    assert nas.api("SYNO.Core.TaskScheduler", "list", 3)["data"] == {"tasks": [], "total": 0}


def test_an_unknown_task_id_answers_as_dsm_answered(nas):
    recorded = json.loads((API_DIR / "SYNO.Core.TaskScheduler-get.error.json").read_text())
    assert nas.api("SYNO.Core.TaskScheduler", "get", 4, id=42, real_owner="root") == recorded


def test_the_event_list_is_an_array_and_an_unknown_name_an_empty_object(nas):
    schema = json.loads((API_DIR / "SYNO.Core.EventScheduler-list.schema.json").read_text())
    assert nas.api("SYNO.Core.EventScheduler.Root", "create", 1, task_name="x: boot", owner={"0": "root"},
                   event="bootup", operation="bash /x.sh", operation_type="script", enable=True)["success"]
    listed = nas.api("SYNO.Core.EventScheduler", "list", 1)["data"]
    assert schema["type"] == "array" and isinstance(listed, list) and listed[0]["task_name"] == "x: boot"
    got = nas.api("SYNO.Core.EventScheduler", "get", 1, task_name="x: boot")["data"]
    assert {k: got[k] for k in ("event", "operation", "owner", "depend_on_task", "notify_mail")} == \
        {"event": "bootup", "operation": "bash /x.sh", "owner": {"0": "root"}, "depend_on_task": "",
         "notify_mail": ""}
    assert nas.api("SYNO.Core.EventScheduler", "get", 1, task_name="nobody") == {"data": {}, "success": True}


def test_api_info_answers_versions_from_the_table(nas):
    info = nas.api("SYNO.API.Info", "query", 1, query="SYNO.Core.TaskScheduler,SYNO.Nothing")["data"]
    assert info == {"SYNO.Core.TaskScheduler": {"maxVersion": 4, "minVersion": 1, "path": "entry.cgi",
                                                "requestFormat": "JSON"}}


@pytest.mark.parametrize("args, code", [
    (["method=list", "version=3"], 101),                                                    # no api
    (["api=SYNO.Core.Nothing", "method=list", "version=1"], 102),                           # no such API
    (["api=SYNO.Core.TaskScheduler", "method=explode", "version=1"], 103),                  # no such method
    (["api=SYNO.Core.TaskScheduler", "method=list", "version=4"], 104),                     # not in v4
    (["api=SYNO.Core.TaskScheduler", "method=get", "version=4", "id=1"], 114),              # no real_owner
    (["api=SYNO.Core.TaskScheduler.Root", "method=create", "version=4", "name=\"x\""], 114),  # too little
    (["api=SYNO.Core.TaskScheduler.Root", "method=create", "version=4", "name=x", "owner=\"root\""], 120),  # not JSON
])
def test_malformed_calls_get_dsms_error_codes(nas, args, code):
    proc = subprocess.run([str(nas.tool), "-s", "--exec", *args], capture_output=True, text=True, env=nas.env)
    assert proc.returncode != 0 and json.loads(proc.stdout) == {"error": {"code": code}, "success": False}
    assert "[DSM stand-in]" in proc.stderr


@pytest.mark.parametrize("schedule", [{"hour": 25, "minute": 0}, {"hour": 1, "minute": 0, "repeat_min": 7},
                                      {"hour": 1, "minute": 0, "repeat_min": 5, "repeat_hour": 1},
                                      {"hour": 5, "minute": 0, "last_work_hour": 2}, {"hour": 1, "minute": 0, "x": 1}])
def test_schedules_dsm_cannot_hold_are_refused(nas, schedule):
    assert nas.api("SYNO.Core.TaskScheduler.Root", "create", 4, **task(schedule=schedule))["error"]["code"] == 120


def test_synoschedtask_prints_dsms_text_form(nas):
    nas.api("SYNO.Core.TaskScheduler.Root", "create", 4, **task(schedule={"hour": 0, "minute": 0, "repeat_min": 5,
                                                                          "last_work_hour": 23}))
    tool = nas.root / "bin" / "synoschedtask"
    tool.symlink_to(STANDIN)
    out = subprocess.run([str(tool), "--get"], capture_output=True, text=True, env=nas.env).stdout
    assert "ID: [1]" in out and "Name: [x: backup]" in out and "State: [enabled]" in out
    assert "Command: [bash /x.sh]" in out and not out.lstrip().startswith("{")
