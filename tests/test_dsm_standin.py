"""The DSM stand-in's synowebapi (files/nas-standin/dsm_standin.py) answers as DSM does: the same
calls and parameters, DSM's error codes for malformed ones. Run here as root, its store in a
temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

STANDIN = Path(__file__).resolve().parent.parent / "files" / "nas-standin" / "dsm_standin.py"
SCHEDULE = {"date_type": 0, "week_day": "0,1,2,3,4,5,6", "repeat_date": 1001, "hour": 3, "minute": 0}


@pytest.fixture
def synowebapi(tmp_path):
    tool = tmp_path / "synowebapi"
    tool.symlink_to(STANDIN)

    def call(*args: str) -> tuple[int, dict]:
        proc = subprocess.run([sys.executable, str(tool), "-s", "--exec", *args], capture_output=True, text=True,
                              env={**os.environ, "DSM_STANDIN_HOME": str(tmp_path / "store")})
        return proc.returncode, json.loads(proc.stdout)
    if os.geteuid() != 0:
        pytest.skip("synowebapi runs as root, like DSM's")
    return call


def task(**over) -> list[str]:
    params = {"name": "x: backup", "owner": "root", "enable": True, "type": "script",
              "extra": {"script": "bash /x.sh", "notify_enable": False}, "schedule": SCHEDULE, **over}
    return [f"{k}={json.dumps(v)}" for k, v in params.items()]


def test_create_get_set_delete_as_dsm_takes_them(synowebapi):
    rc, created = synowebapi("api=SYNO.Core.TaskScheduler.Root", "method=create", "version=4", *task())
    assert rc == 0 and created["success"] and created["data"]["id"] == 1
    _, got = synowebapi("api=SYNO.Core.TaskScheduler.Root", "method=get", "version=4", "id=1")
    assert got["data"]["schedule"]["hour"] == 3
    rc, _ = synowebapi("api=SYNO.Core.TaskScheduler.Root", "method=set", "version=4", "id=1",
                       *task(schedule={**SCHEDULE, "hour": 4}))
    assert rc == 0
    _, listed = synowebapi("api=SYNO.Core.TaskScheduler", "method=list", "version=3")
    assert [t["name"] for t in listed["data"]["tasks"]] == ["x: backup"]
    rc, _ = synowebapi("api=SYNO.Core.TaskScheduler.Root", "method=delete", "version=2",
                       'tasks=[{"id": 1, "real_owner": "root"}]')
    assert rc == 0


@pytest.mark.parametrize("args, code", [
    (["method=list", "version=3"], 101),                                              # no api
    (["api=SYNO.Core.Nothing", "method=list", "version=1"], 102),                     # no such API
    (["api=SYNO.Core.TaskScheduler", "method=explode", "version=1"], 103),            # no such method
    (["api=SYNO.Core.TaskScheduler", "method=list", "version=1"], 104),               # wrong version
    (["api=SYNO.Core.TaskScheduler.Root", "method=create", "version=4", "name=\"x\""], 114),  # parameters missing
    (["api=SYNO.Core.TaskScheduler.Root", "method=create", "version=4", "name=x", "owner=\"root\""], 120),  # not JSON
    (["api=SYNO.Core.TaskScheduler.Root", "method=create", "version=4",
      *task(schedule={"hour": 25, "minute": 0})], 120),                               # no such hour
])
def test_malformed_calls_get_dsms_error_codes(synowebapi, args, code):
    rc, answer = synowebapi(*args)
    assert rc != 0 and answer == {"error": {"code": code}, "success": False}
