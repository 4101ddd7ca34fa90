#!/usr/bin/python3 -IS
"""DSM STAND-IN (marketplace tests): the few DSM 7.2 commands the deploy uses, on a Debian
container that plays the NAS. Not Synology code. What it answers is DSM's own data, not our
reading of it:

  synowebapi -s --exec api=API method=M version=V key=JSON ...
      Dispatched from DSM 7.2.2's own Web API table (dsm-api/SYNO.Core.json, DSM's SYNO.API.Info
      with the methods of each version; see dsm-api/README.md): an API, version or method the
      table does not list is refused with DSM's common codes (101 no api/method/version, 102 no
      such API, 103 no such method, 104 the version does not offer it, 105 not root, 114 a
      parameter missing, 120 a parameter invalid). So `SYNO.Core.TaskScheduler.Root` takes only
      create and set, `SYNO.Core.TaskScheduler` v4 has no list (v1-v3) and no delete (v1-v2).
      Parameter values are JSON (strings JSON-quoted). Answers {"data": ..., "success": true} or
      {"error": {"code": N}, "success": false}, as DSM prints them.
      Played methods, with the fields public clients show DSM answering (N4S4/synology-api
      synology_api/task_scheduler.py and event_scheduler.py, synology-community/go-synology
      pkg/api/core/task.go and event.go, mikespub/synology tools/errors and tools/schemas):
        SYNO.API.Info query              {API: {minVersion, maxVersion, path, requestFormat}}
        TaskScheduler list (offset, limit, sort_by, sort_direction)
                                         {tasks: [{action, can_delete, can_edit, can_run, enable,
                                          id, name, next_trigger_time, owner, real_owner, type}], total}
        TaskScheduler get (id, real_owner) the whole task, the schedule with the defaults DSM
                                         fills in; an unknown id (or another owner's): 4800
        TaskScheduler(.Root) create/set  a script task; set changes only the keys it is sent
        TaskScheduler delete/run         tasks=[{id, real_owner}]
        EventScheduler list              a JSON array of the event tasks
        EventScheduler get (task_name)   the task; an unknown name answers success with {}
                                         (as go-synology's client documents DSM doing)
        EventScheduler(.Root) create/set task_name, owner {"UID": "name"}, event bootup|shutdown,
                                         operation, operation_type "script", enable, depend_on_task,
                                         notify_enable, notify_mail, notify_if_error
        EventScheduler delete/run        task_name
      A method the table offers but this stand-in does not play answers 103, saying so on stderr.
  synoschedtask --get [id=N] | --run id=N | --del id=N
                                        DSM's text form of the scheduled tasks / run one now /
                                        delete one
  synogroup --add NAME | --get NAME | --member NAME USER...   (--member REPLACES the members)
  synodsmnotify @GROUP|USER TITLE MESSAGE   a desktop notification (one JSON line per call in
                                        notifications.log)
  dsm-standin boot | scheduler          run the boot-up tasks / run due tasks every 20 s

Tasks live in /volume1/@dsm-standin/tasks.json; each run's output in
/volume1/@dsm-standin/logs/ (DSM keeps neither there; the tests read them). A test may play an
older DSM by writing /volume1/@dsm-standin/api-override.json ({API: entry of the table, or null
to remove it}), merged over the table.
"""

from __future__ import annotations

import datetime
import json
import os
import sys

# os.path, not pathlib: every synowebapi call is a process, and its start is what the deploy waits for
HOME = os.environ.get("DSM_STANDIN_HOME", "/volume1/@dsm-standin")
STORE = os.path.join(HOME, "tasks.json")
LOGS = os.path.join(HOME, "logs")
TABLE = os.path.join(os.path.dirname(os.path.realpath(__file__)), "dsm-api", "SYNO.Core.json")
OVERRIDE = os.path.join(HOME, "api-override.json")
TAG = "[DSM stand-in]"
# SYNO.API.Info is DSM's own (not a SYNO.Core API): version 1, method query.
API_INFO = {"SYNO.API.Info": {"maxVersion": 1, "minVersion": 1, "methods": {"1": ["query"]},
                              "path": "query.cgi", "requestFormat": "JSON"}}
# What DSM's `get` shows of a schedule, with the defaults it fills in (N4S4's example answer).
SCHEDULE_DEFAULTS = {"date_type": 0, "week_day": "0,1,2,3,4,5,6", "repeat_date": 1001, "monthly_week": [],
                     "repeat_hour": 0, "repeat_min": 0}
REPEAT_MINUTES = (0, 1, 5, 10, 15, 20, 30)
SHOWN_ONLY = {"repeat_hour_store_config", "repeat_min_store_config", "version"}  # get shows, set ignores
SCHEDULE_KEYS = {*SCHEDULE_DEFAULTS, "hour", "minute", "last_work_hour", "date"}


class ApiError(Exception):
    def __init__(self, code: int, why: str):
        super().__init__(why)
        self.code = code


def table() -> dict:
    """DSM's API table, with a test's override (an older DSM) merged over it."""
    with open(TABLE) as fh:
        apis = {**json.load(fh), **API_INFO}
    if os.path.exists(OVERRIDE):
        with open(OVERRIDE) as fh:
            override = json.load(fh)
        for name, entry in override.items():
            if entry is None:
                apis.pop(name, None)
            else:
                apis[name] = entry
    return apis


# -- the task store ------------------------------------------------------------------------------
class Store:
    """tasks.json under an exclusive lock: {"next_id", "tasks": {id: task}, "events": {name: event}}."""

    def __init__(self, write: bool = True):
        self.write = write

    def __enter__(self):
        import fcntl

        os.makedirs(HOME, exist_ok=True)
        self.fh = open(os.path.join(HOME, ".lock"), "w")
        fcntl.flock(self.fh, fcntl.LOCK_EX if self.write else fcntl.LOCK_SH)
        self.data = {"next_id": 1, "tasks": {}, "events": {}}
        if os.path.exists(STORE):
            with open(STORE) as fh:
                self.data = json.load(fh)
        return self.data

    def __exit__(self, kind, *_):
        if kind is None and self.write:
            with open(STORE + ".tmp", "w") as fh:
                fh.write(json.dumps(self.data, indent=1, sort_keys=True))
            os.replace(STORE + ".tmp", STORE)
        self.fh.close()


# -- parameters ------------------------------------------------------------------------------------
def _param(params: dict, key: str, kind: type | tuple, required: bool = True, default=None):
    if key not in params:
        if required:
            raise ApiError(114, f"missing parameter {key}")
        return default
    value = params[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ApiError(120, f"parameter {key}: expected {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _schedule(given: dict, held: dict | None) -> dict:
    """A schedule as DSM keeps it: `given` over what is held (set) or DSM's defaults (create)."""
    unknown = set(given) - SCHEDULE_KEYS - SHOWN_ONLY
    if unknown:
        raise ApiError(120, f"schedule: unknown keys {sorted(unknown)}")
    given = {k: v for k, v in given.items() if k not in SHOWN_ONLY}
    if held is None:
        if not {"hour", "minute"} <= set(given):
            raise ApiError(114, "schedule: hour and minute are required")
        base = {**SCHEDULE_DEFAULTS, "date": datetime.date.today().strftime("%Y/%-m/%-d"),
                "last_work_hour": given["hour"]}
    else:
        base = held
    schedule = {**base, **given}
    for key in ("hour", "minute", "repeat_hour", "repeat_min", "last_work_hour", "date_type", "repeat_date"):
        if not isinstance(schedule[key], int) or isinstance(schedule[key], bool):
            raise ApiError(120, f"schedule.{key}: expected an integer")
    if not 0 <= schedule["hour"] <= 23 or not 0 <= schedule["minute"] <= 59:
        raise ApiError(120, "schedule: hour 0-23, minute 0-59")
    if not 0 <= schedule["repeat_hour"] <= 23 or schedule["repeat_min"] not in REPEAT_MINUTES:
        raise ApiError(120, f"schedule: repeat_hour 0-23, repeat_min one of {REPEAT_MINUTES}")
    if schedule["repeat_hour"] and schedule["repeat_min"]:
        raise ApiError(120, "schedule: repeat_hour or repeat_min, not both")
    if not schedule["hour"] <= schedule["last_work_hour"] <= 23:
        raise ApiError(120, "schedule: last_work_hour from hour to 23")
    days = str(schedule["week_day"]).split(",")
    if schedule["date_type"] == 0 and (not days or not all(d in "0123456" and d for d in days)):
        raise ApiError(120, "schedule.week_day: days 0-6, comma-separated")
    return schedule


def _task(params: dict, held: dict | None) -> dict:
    """A script task from create (held None) or set parameters."""
    held = held or {}
    task = dict(held)
    for key, kind in (("name", str), ("owner", str), ("real_owner", str), ("type", str), ("enable", bool)):
        value = _param(params, key, kind, required=not held and key in ("name", "owner", "type"))
        if value is not None:
            task[key] = value
    task.setdefault("enable", True)
    task.setdefault("real_owner", task["owner"])
    if task["type"] != "script":
        raise ApiError(120, f"type {task['type']!r}: this stand-in plays script tasks only")
    extra = _param(params, "extra", dict, required=not held)
    if extra is not None:
        task["extra"] = {"notify_enable": False, "notify_if_error": False, "notify_mail": "",
                         **held.get("extra", {}), **extra}
    if not isinstance(task["extra"].get("script"), str) or not task["extra"]["script"].strip():
        raise ApiError(120, "extra.script: the task's script is required")
    schedule = _param(params, "schedule", dict, required=not held)
    task["schedule"] = _schedule(schedule or {}, held.get("schedule"))
    return task


def _refs(params: dict) -> list[dict]:
    items = _param(params, "tasks", list)
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), int) or \
                not isinstance(item.get("real_owner"), str):
            raise ApiError(120, 'tasks: [{"id": N, "real_owner": "root"}, ...]')
    return items


# -- what DSM shows ------------------------------------------------------------------------------
def next_trigger(schedule: dict, now: datetime.datetime) -> str:
    """The next minute a schedule runs, as DSM's list shows it ("YYYY-MM-DD HH:MM")."""
    days = {int(d) for d in str(schedule.get("week_day", "")).split(",") if d.isdigit()}
    for ahead in range(8):
        day = (now + datetime.timedelta(days=ahead)).date()
        if (day.isoweekday() % 7) not in days:
            continue
        for minute in run_minutes(schedule):
            at = datetime.datetime.combine(day, datetime.time(minute // 60, minute % 60))
            if at > now:
                return at.strftime("%Y-%m-%d %H:%M")
    return ""


def run_minutes(schedule: dict) -> list[int]:
    """The minutes of a day a schedule runs: from hour:minute every repeat_min minutes or
    repeat_hour hours, until last_work_hour (DSM's schedule fields)."""
    start = schedule["hour"] * 60 + schedule["minute"]
    step = schedule.get("repeat_min") or (schedule.get("repeat_hour") or 0) * 60
    if not step:
        return [start]
    last = schedule.get("last_work_hour", schedule["hour"]) * 60 + 59
    return list(range(start, last + 1, step))


def shown(tid: str, task: dict) -> dict:
    """A task as `get` answers it."""
    schedule = {**task["schedule"], "repeat_hour_store_config": list(range(1, 24)),
                "repeat_min_store_config": [1, 5, 10, 15, 20, 30], "version": 4}
    return {"action": f"Run: {task['extra']['script']}", "can_edit_name": True, "can_edit_owner": True,
            "enable": task["enable"], "extra": task["extra"], "id": int(tid), "name": task["name"],
            "owner": task["owner"], "real_owner": task["real_owner"], "schedule": schedule, "type": task["type"]}


def listed(tid: str, task: dict, now: datetime.datetime) -> dict:
    """A task as `list` answers it."""
    return {"action": f"Run: {task['extra']['script']}", "can_delete": True, "can_edit": True, "can_run": True,
            "enable": task["enable"], "id": int(tid), "name": task["name"],
            "next_trigger_time": next_trigger(task["schedule"], now) if task["enable"] else "",
            "owner": task["owner"], "real_owner": task["real_owner"], "type": task["type"]}


def normalized(task: dict) -> dict:
    """A task of an older store (a partial schedule) as DSM would hold it."""
    schedule = {**SCHEDULE_DEFAULTS, "last_work_hour": task["schedule"]["hour"], "date": "2024/1/1",
                **task["schedule"]}
    return {"real_owner": task["owner"], **task, "schedule": schedule,
            "extra": {"notify_enable": False, "notify_if_error": False, "notify_mail": "", **task["extra"]}}


# -- the APIs ------------------------------------------------------------------------------------------
def api_info(method: str, params: dict, apis: dict) -> dict:
    query = _param(params, "query", str, required=False, default="ALL")
    names = apis if query == "ALL" else [n.strip() for n in query.split(",")]
    return {n: {k: apis[n][k] for k in ("maxVersion", "minVersion", "path", "requestFormat")}
            for n in names if n in apis}


def task_scheduler(method: str, params: dict, apis: dict) -> dict:
    with Store(write=method not in ("list", "get")) as data:
        tasks = {tid: normalized(t) for tid, t in data["tasks"].items()}
        if method == "list":
            offset = _param(params, "offset", int, required=False, default=0)
            limit = _param(params, "limit", int, required=False, default=-1)
            key = _param(params, "sort_by", str, required=False, default="next_trigger_time")
            direction = _param(params, "sort_direction", str, required=False, default="ASC")
            now = datetime.datetime.now()
            rows = [listed(tid, t, now) for tid, t in tasks.items()]
            if key not in ("next_trigger_time", "name", "type", "action", "owner", "id"):
                raise ApiError(120, f"sort_by {key!r}")
            rows.sort(key=lambda r: (str(r[key]) if key != "id" else r["id"], r["id"]),
                      reverse=direction.upper() == "DESC")
            return {"tasks": rows[offset:] if limit < 0 else rows[offset:offset + limit], "total": len(rows)}
        if method == "get":
            tid = str(_param(params, "id", int))
            owner = _param(params, "real_owner", str)
            if tid not in tasks or tasks[tid]["real_owner"] != owner:
                raise ApiError(4800, f"no task {tid} of {owner}")
            return shown(tid, tasks[tid])
        if method == "create":
            tid = str(data["next_id"])
            data["next_id"] += 1
            data["tasks"][tid] = _task(params, None)
            return {"id": int(tid)}
        if method == "set":
            tid = str(_param(params, "id", int))
            owner = _param(params, "real_owner", str)
            if tid not in tasks or tasks[tid]["real_owner"] != owner:
                raise ApiError(4800, f"no task {tid} of {owner}")
            data["tasks"][tid] = _task(params, tasks[tid])  # keys not sent stay as DSM holds them
            return {}
        if method in ("delete", "run"):
            refs = _refs(params)
            for ref in refs:
                task = tasks.get(str(ref["id"]))
                if task is None or task["real_owner"] != ref["real_owner"]:
                    raise ApiError(4800, f"no task {ref['id']} of {ref['real_owner']}")
            for ref in refs:
                if method == "delete":
                    data["tasks"].pop(str(ref["id"]))
                else:
                    spawn("run-task", str(ref["id"]))
            return {}
    raise NotPlayed(method)


EVENT_DEFAULTS = {"depend_on_task": "", "notify_enable": False, "notify_mail": "", "notify_if_error": False}


def event_scheduler(method: str, params: dict, apis: dict) -> dict | list:
    with Store(write=method not in ("list", "get")) as data:
        events = data["events"]
        if method == "list":  # DSM answers an array (dsm-api/SYNO.Core.EventScheduler-list.schema.json)
            return [{"task_name": n, **EVENT_DEFAULTS, **{k: v for k, v in e.items() if k != "operation"}}
                    for n, e in sorted(events.items())]
        name = _param(params, "task_name", str)
        if method == "get":
            return {"task_name": name, **EVENT_DEFAULTS, **events[name]} if name in events else {}
        if method == "delete":
            events.pop(name, None)
            return {}
        if method == "run":
            if name not in events:
                raise ApiError(4800, f"no event task {name}")
            spawn("run-event", name)
            return {}
        if method in ("create", "set"):
            if method == "create" and name in events:
                raise ApiError(120, f"event task {name} exists")
            if method == "set" and name not in events:
                raise ApiError(4800, f"no event task {name}")
            held = events.get(name, {})
            event = {**EVENT_DEFAULTS, **held}
            for key, kind in (("owner", dict), ("event", str), ("operation", str), ("operation_type", str),
                              ("enable", bool), ("depend_on_task", str), ("notify_enable", bool),
                              ("notify_mail", str), ("notify_if_error", bool)):
                value = _param(params, key, kind, required=not held and key in ("owner", "event", "operation",
                                                                                 "operation_type"))
                if value is not None:
                    event[key] = value
            event.setdefault("enable", True)
            if event["event"] not in ("bootup", "shutdown"):
                raise ApiError(120, f"event {event['event']!r}: bootup or shutdown")
            if event["operation_type"] != "script":
                raise ApiError(120, "operation_type: script")
            if not all(str(uid).isdigit() for uid in event["owner"]) or len(event["owner"]) != 1:
                raise ApiError(120, 'owner: {"UID": "name"}, e.g. {"0": "root"}')
            events[name] = event
            return {}
    raise NotPlayed(method)


class NotPlayed(Exception):
    """A method DSM's table offers that this stand-in does not play."""


HANDLERS = {"SYNO.API.Info": api_info, "SYNO.Core.TaskScheduler": task_scheduler,
            "SYNO.Core.EventScheduler": event_scheduler}


def dispatch(api: str, method: str, version: str, params: dict):
    """DSM's API dispatcher: the table decides whether the call exists at all."""
    apis = table()
    entry = apis.get(api)
    if entry is None:
        raise ApiError(102, f"no API {api} in DSM's table")
    if not version.isdigit() or not entry["minVersion"] <= int(version) <= entry["maxVersion"]:
        raise ApiError(104, f"{api} has versions {entry['minVersion']}-{entry['maxVersion']}")
    offered = entry["methods"].get(version, [])
    if method not in offered:
        anywhere = sorted(v for v, methods in entry["methods"].items() if method in methods)
        if anywhere:
            raise ApiError(104, f"{api} offers {method} in version(s) {', '.join(anywhere)}, not {version}")
        raise ApiError(103, f"{api} version {version} has no method {method} (it has {', '.join(offered)})")
    handler = HANDLERS.get(api.removesuffix(".Root"))
    try:
        if handler is None:
            raise NotPlayed(method)
        return handler(method, params, apis)
    except NotPlayed:
        raise ApiError(103, f"{api} {method}: offered by DSM, not played by this stand-in") from None


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
        params = {}
        for key, text in raw.items():
            try:
                params[key] = json.loads(text)
            except ValueError:
                raise ApiError(120, f"parameter {key}: not JSON (strings are JSON-quoted: '\"x\"')") from None
        answer = {"data": dispatch(api, method, version, params), "success": True}
    except ApiError as exc:
        print(f"{TAG} synowebapi: {exc}", file=sys.stderr)
        answer = {"error": {"code": exc.code}, "success": False}
    print(json.dumps(answer, indent=3, sort_keys=True))
    return 0 if answer["success"] else 1


# -- running tasks ---------------------------------------------------------------------------------
def spawn(*argv: str) -> None:
    import subprocess

    launcher = os.path.join(os.path.dirname(os.path.realpath(__file__)), "dsm-standin")
    subprocess.Popen([launcher, *argv], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_script(label: str, script: str) -> int:
    import subprocess

    os.makedirs(LOGS, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    with open(os.path.join(LOGS, f"{label}.log"), "a") as log:
        log.write(f"{TAG} {stamp} run {label}\n")
        log.flush()
        rc = subprocess.run(["/bin/bash", "-c", script], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL).returncode
        log.write(f"{TAG} {label} exited {rc}\n")
    return rc


def text_form(tid: str, task: dict) -> str:
    """One task as `synoschedtask --get` prints it: DSM's `Key: [value]` lines (the fields seen in
    public transcripts of DSM 7: User, ID, Name with AppName, State, Owner, Command, Run time,
    Status; the rest of DSM's lines are not played)."""
    s = task["schedule"]
    days = ",".join(("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")[int(d)] for d in s["week_day"].split(","))
    lines = [f"User: [{task['real_owner']}]", f"ID: [{tid}]",
             f"Name: [{task['name']}]     AppName: [#common:command_line#]",
             f"State: [{'enabled' if task['enable'] else 'disabled'}]", f"Owner: [{task['owner']}]",
             f"Days of week: [{days}]", f"Run time: [{s['hour']}]:[{s['minute']}]"]
    if s["repeat_min"] or s["repeat_hour"]:
        every = f"{s['repeat_min']} minute(s)" if s["repeat_min"] else f"{s['repeat_hour']} hour(s)"
        lines += [f"Interval: [{every}]", f"Until: [{s['last_work_hour']}]:[59]"]
    lines += [f"Command: [{task['extra']['script']}]", "Status: [Not Available]"]
    return "\n".join(lines)


def synoschedtask(argv: list[str]) -> int:
    with Store(write=argv[:1] == ["--del"]) as data:
        tasks = {tid: normalized(t) for tid, t in data["tasks"].items()}
        wanted = argv[1][3:] if len(argv) == 2 and argv[1].startswith("id=") else None
        if argv[:1] == ["--get"] and (len(argv) == 1 or wanted):
            chosen = sorted(tasks, key=int) if wanted is None else [wanted] * (wanted in tasks)
            print("\n\n".join(text_form(tid, tasks[tid]) for tid in chosen))
            return 0 if chosen or wanted is None else 1
        if argv[:1] == ["--del"] and wanted:
            return 0 if data["tasks"].pop(wanted, None) else 1
    if argv[:1] == ["--run"] and wanted:
        if wanted not in tasks:
            print(f"{TAG} synoschedtask: no task {wanted}", file=sys.stderr)
            return 1
        rc = run_script(f"task-{wanted}", tasks[wanted]["extra"]["script"])
        print(f"{TAG} task {wanted} ({tasks[wanted]['name']}) exited {rc}")
        return rc
    print("usage: synoschedtask --get [id=N] | --run id=N | --del id=N", file=sys.stderr)
    return 1


def due(schedule: dict, now: datetime.datetime) -> bool:
    """Whether a task runs in this minute."""
    days = {int(d) for d in str(schedule.get("week_day", "")).split(",") if d.isdigit()}
    return (now.isoweekday() % 7) in days and now.hour * 60 + now.minute in run_minutes(schedule)


def scheduler() -> int:
    import time

    ran: set[tuple[str, str]] = set()
    while True:
        now = datetime.datetime.now()
        key = now.strftime("%Y%m%d%H%M")
        with Store(write=False) as data:
            tasks = {tid: normalized(t) for tid, t in data["tasks"].items()}
        for tid, task in tasks.items():
            if task["enable"] and (tid, key) not in ran and due(task["schedule"], now):
                ran.add((tid, key))
                spawn("run-task", tid)
        time.sleep(20)


def boot() -> int:
    with Store(write=False) as data:
        events = {n: e for n, e in data["events"].items() if e["event"] == "bootup" and e.get("enable", True)}
    worst = 0
    for name, event in sorted(events.items()):
        rc = run_script(f"bootup-{name}", event["operation"])
        print(f"{TAG} boot-up task {name} exited {rc}", flush=True)
        worst = worst or rc
    return worst


def synogroup(argv: list[str]) -> int:
    import grp
    import subprocess

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
    os.makedirs(HOME, exist_ok=True)
    with open(os.path.join(HOME, "notifications.log"), "a") as fh:
        fh.write(json.dumps({"to": argv[0], "title": argv[1], "message": argv[2],
                             "at": datetime.datetime.now(datetime.timezone.utc).isoformat()}) + "\n")
    return 0


def main() -> int:
    tool, argv = os.path.basename(sys.argv[0]), sys.argv[1:]
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
        with Store(write=False) as data:
            task = data["tasks"].get(argv[1])
        return run_script(f"task-{argv[1]}", task["extra"]["script"]) if task else 1
    if argv[:1] == ["run-event"] and len(argv) == 2:
        with Store(write=False) as data:
            event = data["events"].get(argv[1])
        return run_script(f"event-{argv[1]}", event["operation"]) if event else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
