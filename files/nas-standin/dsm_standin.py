#!/usr/bin/env python3
"""DSM STAND-IN (marketplace tests): the few DSM 7.2 commands the deploy uses, on a Debian
container that plays the NAS. Not Synology code; it mimics what ../shared/FIELD-NOTES.md says:

  synowebapi -s --exec api=API method=M version=V key=JSON ...
      SYNO.Core.TaskScheduler(.Root): list v3, get v4, create v4, set v4 (whole task), delete v2
      SYNO.Core.EventScheduler(.Root): list/get/create/set/delete v1 (boot-up tasks)
      Parameter values are JSON (strings JSON-quoted). Answers {"success": true, "data": ...} or
      {"success": false, "error": {"code": N}} with DSM's codes: 101 no API/method/version,
      102 no such API, 103 no such method, 104 version not supported, 114 missing parameter,
      120 invalid parameter.
  synoschedtask --get | --run id=N      list the scheduled tasks / run one now (waits for it)
  synogroup --add NAME | --get NAME | --member NAME USER...   (--member REPLACES the members)
  synodsmnotify @GROUP|USER TITLE MESSAGE   a desktop notification (one JSON line per call in
                                        notifications.log)
  dsm-standin boot | scheduler          run the boot-up tasks / run due tasks every 20 s

Tasks live in /volume1/@dsm-standin/tasks.json; each run's output in
/volume1/@dsm-standin/logs/ (DSM keeps neither there; the tests read them).
"""

from __future__ import annotations

import datetime
import fcntl
import grp
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HOME = Path(os.environ.get("DSM_STANDIN_HOME", "/volume1/@dsm-standin"))
STORE = HOME / "tasks.json"
LOGS = HOME / "logs"
TAG = "[DSM stand-in]"

VERSIONS = {("SYNO.Core.TaskScheduler", "list"): 3, ("SYNO.Core.TaskScheduler", "get"): 4,
            ("SYNO.Core.TaskScheduler", "create"): 4, ("SYNO.Core.TaskScheduler", "set"): 4,
            ("SYNO.Core.TaskScheduler", "delete"): 2}
for _m in ("list", "get", "create", "set", "delete"):
    VERSIONS[("SYNO.Core.EventScheduler", _m)] = 1
SCHEDULE_KEYS = {"date_type", "week_day", "repeat_date", "hour", "minute", "repeat_hour",
                 "repeat_min", "last_work_hour", "monthly_week", "date"}


class ApiError(Exception):
    def __init__(self, code: int, why: str):
        super().__init__(why)
        self.code = code


# -- the task store ------------------------------------------------------------------------------
class Store:
    """tasks.json under an exclusive lock: {"next_id", "tasks": {id: task}, "events": {name: event}}."""

    def __enter__(self):
        HOME.mkdir(parents=True, exist_ok=True)
        self.fh = open(HOME / ".lock", "w")
        fcntl.flock(self.fh, fcntl.LOCK_EX)
        self.data = json.loads(STORE.read_text()) if STORE.exists() else {"next_id": 1, "tasks": {}, "events": {}}
        return self.data

    def __exit__(self, kind, *_):
        if kind is None:
            tmp = STORE.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
            tmp.replace(STORE)
        self.fh.close()


# -- synowebapi ------------------------------------------------------------------------------------
def _param(params: dict, key: str, kind: type | tuple, required: bool = True):
    if key not in params:
        if required:
            raise ApiError(114, f"missing parameter {key}")
        return None
    value = params[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ApiError(120, f"parameter {key}: expected {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _task_from(params: dict) -> dict:
    name = _param(params, "name", str)
    owner = _param(params, "owner", str)
    kind = _param(params, "type", str)
    if kind != "script":
        raise ApiError(120, f"type {kind!r}: this stand-in knows script tasks only")
    extra = _param(params, "extra", dict)
    if not isinstance(extra.get("script"), str) or not extra["script"].strip():
        raise ApiError(120, "extra.script: the task's script is required")
    schedule = _param(params, "schedule", dict)
    unknown = set(schedule) - SCHEDULE_KEYS
    if unknown or not {"hour", "minute"} <= set(schedule):
        raise ApiError(120, f"schedule: needs hour and minute; unknown {sorted(unknown)}")
    for key in ("hour", "minute", "repeat_hour", "repeat_min", "last_work_hour", "date_type"):
        if key in schedule and not isinstance(schedule[key], int):
            raise ApiError(120, f"schedule.{key}: expected an integer")
    if not 0 <= schedule["hour"] <= 23 or not 0 <= schedule["minute"] <= 59:
        raise ApiError(120, "schedule: hour 0-23, minute 0-59")
    enable = _param(params, "enable", bool, required=False)
    return {"name": name, "owner": owner, "type": kind, "enable": True if enable is None else enable,
            "extra": extra, "schedule": schedule}


def task_scheduler(method: str, params: dict) -> dict:
    with Store() as data:
        tasks = data["tasks"]
        if method == "list":
            return {"tasks": [{"id": int(i), "name": t["name"], "owner": t["owner"], "enable": t["enable"],
                               "type": t["type"], "action": t["extra"]["script"][:80]}
                              for i, t in sorted(tasks.items(), key=lambda kv: int(kv[0]))],
                    "total": len(tasks)}
        if method == "get":
            tid = str(_param(params, "id", int))
            if tid not in tasks:
                raise ApiError(120, f"no task {tid}")
            return {"id": int(tid), **tasks[tid]}
        if method == "create":
            task = _task_from(params)
            tid = str(data["next_id"])
            data["next_id"] += 1
            tasks[tid] = task
            return {"id": int(tid)}
        if method == "set":
            tid = str(_param(params, "id", int))
            if tid not in tasks:
                raise ApiError(120, f"no task {tid}")
            tasks[tid] = _task_from(params)  # set overwrites the whole task
            return {}
        if method == "delete":
            items = _param(params, "tasks", list)
            for item in items:
                if not isinstance(item, dict) or "id" not in item or "real_owner" not in item:
                    raise ApiError(120, 'tasks: [{"id": N, "real_owner": "root"}, ...]')
            for item in items:
                tasks.pop(str(item["id"]), None)
            return {}
    raise ApiError(103, f"no method {method}")


def event_scheduler(method: str, params: dict) -> dict:
    with Store() as data:
        events = data["events"]
        if method == "list":
            return {"tasks": [{"task_name": n, **e} for n, e in sorted(events.items())]}
        name = _param(params, "task_name", str)
        if method == "get":
            if name not in events:
                raise ApiError(120, f"no event task {name}")
            return {"task_name": name, **events[name]}
        if method == "delete":
            events.pop(name, None)
            return {}
        if method in ("create", "set"):
            if method == "create" and name in events:
                raise ApiError(120, f"event task {name} exists")
            if method == "set" and name not in events:
                raise ApiError(120, f"no event task {name}")
            owner = _param(params, "owner", dict)
            event = _param(params, "event", str)
            if event not in ("bootup", "shutdown"):
                raise ApiError(120, f"event {event!r}: bootup or shutdown")
            if _param(params, "operation_type", str) != "script":
                raise ApiError(120, "operation_type: script")
            operation = _param(params, "operation", str)
            enable = _param(params, "enable", bool, required=False)
            events[name] = {"owner": owner, "event": event, "operation": operation,
                            "operation_type": "script", "enable": True if enable is None else enable}
            return {}
    raise ApiError(103, f"no method {method}")


def synowebapi(argv: list[str]) -> int:
    if "--exec" not in argv:
        print("usage: synowebapi [-s] --exec api=API method=METHOD version=N [key=JSON ...]", file=sys.stderr)
        return 1
    raw = dict(arg.split("=", 1) for arg in argv[argv.index("--exec") + 1:] if "=" in arg)
    try:
        if os.geteuid() != 0:  # DSM's synowebapi runs as root only
            raise ApiError(105, "synowebapi must run as root (sudo)")
        api, method, version = raw.pop("api", None), raw.pop("method", None), raw.pop("version", None)
        if not api or not method or not version:
            raise ApiError(101, "api, method and version are required")
        base = api.removesuffix(".Root")
        if base not in ("SYNO.Core.TaskScheduler", "SYNO.Core.EventScheduler"):
            raise ApiError(102, f"no API {api} in this stand-in")
        if (base, method) not in VERSIONS:
            raise ApiError(103, f"no method {method}")
        if not version.isdigit() or int(version) != VERSIONS[(base, method)]:
            raise ApiError(104, f"{api}.{method} takes version {VERSIONS[(base, method)]}")
        params = {}
        for key, text in raw.items():
            try:
                params[key] = json.loads(text)
            except ValueError:
                raise ApiError(120, f"parameter {key}: not JSON (strings are JSON-quoted: '\"x\"')") from None
        handler = task_scheduler if base == "SYNO.Core.TaskScheduler" else event_scheduler
        answer = {"data": handler(method, params), "success": True}
    except ApiError as exc:
        print(f"{TAG} synowebapi: {exc}", file=sys.stderr)
        answer = {"error": {"code": exc.code}, "success": False}
    print(json.dumps(answer))
    return 0 if answer["success"] else 1


# -- running tasks ---------------------------------------------------------------------------------
def run_script(label: str, script: str) -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    with open(LOGS / f"{label}.log", "a") as log:
        log.write(f"{TAG} {stamp} run {label}\n")
        log.flush()
        rc = subprocess.run(["/bin/bash", "-c", script], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL).returncode
        log.write(f"{TAG} {label} exited {rc}\n")
    return rc


def synoschedtask(argv: list[str]) -> int:
    if argv[:1] == ["--get"]:
        print(json.dumps(task_scheduler("list", {}), indent=1))
        return 0
    if argv[:1] == ["--run"] and len(argv) == 2 and argv[1].startswith("id="):
        tid = argv[1][3:]
        with Store() as data:
            task = data["tasks"].get(tid)
        if task is None:
            print(f"{TAG} synoschedtask: no task {tid}", file=sys.stderr)
            return 1
        rc = run_script(f"task-{tid}", task["extra"]["script"])
        print(f"{TAG} task {tid} ({task['name']}) exited {rc}")
        return rc
    print("usage: synoschedtask --get | --run id=N", file=sys.stderr)
    return 1


def due(schedule: dict, now: datetime.datetime) -> bool:
    """Whether a task runs in this minute: from hour:minute, every repeat_min minutes or
    repeat_hour hours, until last_work_hour (DSM's schedule fields)."""
    start = schedule["hour"] * 60 + schedule["minute"]
    last = schedule.get("last_work_hour", schedule["hour"]) * 60 + 59
    minute = now.hour * 60 + now.minute
    if minute < start or minute > last:
        return False
    step = schedule.get("repeat_min") or (schedule.get("repeat_hour") or 0) * 60
    return minute == start if not step else (minute - start) % step == 0


def scheduler() -> int:
    ran: set[tuple[str, str]] = set()
    while True:
        now = datetime.datetime.now()
        key = now.strftime("%Y%m%d%H%M")
        with Store() as data:
            tasks = dict(data["tasks"])
        for tid, task in tasks.items():
            if task["enable"] and (tid, key) not in ran and due(task["schedule"], now):
                ran.add((tid, key))
                subprocess.Popen([sys.argv[0], "run-task", tid], start_new_session=True)
        time.sleep(20)


def boot() -> int:
    with Store() as data:
        events = {n: e for n, e in data["events"].items() if e["event"] == "bootup" and e["enable"]}
    worst = 0
    for name, event in sorted(events.items()):
        rc = run_script(f"bootup-{name}", event["operation"])
        print(f"{TAG} boot-up task {name} exited {rc}", flush=True)
        worst = worst or rc
    return worst


def synogroup(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--add":
        subprocess.run(["groupadd", "-f", argv[1]], check=True)
        print(f"{TAG} group {argv[1]} added")
        return 0
    if len(argv) == 2 and argv[0] == "--get":
        try:
            group = grp.getgrnam(argv[1])
        except KeyError:
            print(f"{TAG} no group {argv[1]}", file=sys.stderr)
            return 1
        print(f"Group Name: [{group.gr_name}]\nGroup ID: [{group.gr_gid}]\nGroup Members:")
        for i, member in enumerate(group.gr_mem):
            print(f"{i}:[{member}]")
        return 0
    if len(argv) >= 2 and argv[0] == "--member":
        # DSM's --member REPLACES the member list
        subprocess.run(["gpasswd", "-M", ",".join(argv[2:]), argv[1]], check=True, capture_output=True)
        print(f"{TAG} group {argv[1]} members: {' '.join(argv[2:]) or '(none)'}")
        return 0
    print("usage: synogroup --add NAME | --get NAME | --member NAME [USER...]", file=sys.stderr)
    return 1


def synodsmnotify(argv: list[str]) -> int:
    if len(argv) != 3 or not argv[0]:
        print("usage: synodsmnotify @GROUP|USER TITLE MESSAGE", file=sys.stderr)
        return 1
    HOME.mkdir(parents=True, exist_ok=True)
    with open(HOME / "notifications.log", "a") as fh:
        fh.write(json.dumps({"to": argv[0], "title": argv[1], "message": argv[2],
                             "at": datetime.datetime.now(datetime.timezone.utc).isoformat()}) + "\n")
    return 0


def main() -> int:
    tool, argv = Path(sys.argv[0]).name, sys.argv[1:]
    if tool == "synodsmnotify":
        return synodsmnotify(argv)
    if tool == "synowebapi":
        return synowebapi(argv)
    if tool == "synoschedtask":
        return synoschedtask(argv)
    if tool == "synogroup":
        return synogroup(argv)
    if argv[:1] == ["boot"]:
        return boot()
    if argv[:1] == ["scheduler"]:
        return scheduler()
    if argv[:1] == ["run-task"] and len(argv) == 2:
        with Store() as data:
            task = data["tasks"].get(argv[1])
        return run_script(f"task-{argv[1]}", task["extra"]["script"]) if task else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
