"""DSM Task Scheduler tasks: what the catalog wants, what the NAS holds (read by the state
command, templates/lib/dsm_read.sh.j2), and the synowebapi calls that take one to the other.

Which API offers which method is DSM's own table (files/nas-standin/dsm-api/SYNO.Core.json, DSM
7.2.2): the `.Root` APIs offer only create and set, so reads and deletes go to the plain APIs at
versions that offer them (METHODS, the one place they are named). Every create/set sends the
whole task, the full schedule included, and the comparison covers every key sent, so any change
(a removal too) is converged. Only tasks named with our prefix ("<project_name>: ") are ever
changed; the other site's are read, never touched. Pure: no pyinfra, no I/O."""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from deploys import layout

SYNOWEBAPI = "/usr/syno/bin/synowebapi"
OWNER = "root"
EVENT_OWNER = {"0": OWNER}  # the EventScheduler names an owner by UID
LIST_PAGE = 100  # tasks per `list` page (offset/limit, sorted by name)
DAILY = {"date_type": 0, "week_day": "0,1,2,3,4,5,6", "repeat_date": 1001, "monthly_week": []}


class Method(NamedTuple):
    api: str
    method: str
    version: int

    def __str__(self) -> str:
        return f"{self.api} {self.method} v{self.version}"


# Every call the deploy makes, by what it is for (tests/test_dsm.py holds them to DSM's table).
METHODS = {
    "info": Method("SYNO.API.Info", "query", 1),
    "list": Method("SYNO.Core.TaskScheduler", "list", 3),
    "get": Method("SYNO.Core.TaskScheduler", "get", 4),
    "create": Method("SYNO.Core.TaskScheduler.Root", "create", 4),
    "set": Method("SYNO.Core.TaskScheduler.Root", "set", 4),
    "delete": Method("SYNO.Core.TaskScheduler", "delete", 2),
    "events": Method("SYNO.Core.EventScheduler", "list", 1),
    "event": Method("SYNO.Core.EventScheduler", "get", 1),
    "event_create": Method("SYNO.Core.EventScheduler.Root", "create", 1),
    "event_set": Method("SYNO.Core.EventScheduler.Root", "set", 1),
    "event_delete": Method("SYNO.Core.EventScheduler", "delete", 1),
}
# The APIs SYNO.API.Info is asked about: every one the deploy calls.
APIS = sorted({m.api for key, m in METHODS.items() if key != "info"})
UNKNOWN_TASK = 4800  # DSM's answer to a task id it does not hold (dsm-api/...-get.error.json)


@dataclass(frozen=True)
class Task:
    """One task as the catalog wants it: `name` is DSM's task name."""

    key: str
    name: str
    bootup: bool
    script: str
    schedule: dict[str, Any] | None
    enable: bool

    def params(self) -> dict[str, Any]:
        """The whole task as create/set take it (JSON values)."""
        if self.bootup:
            return {"task_name": self.name, "owner": EVENT_OWNER, "event": "bootup", "operation": self.script,
                    "operation_type": "script", "enable": self.enable, "depend_on_task": "",
                    "notify_enable": False, "notify_mail": "", "notify_if_error": False}
        return {"name": self.name, "owner": OWNER, "real_owner": OWNER, "enable": self.enable, "type": "script",
                "extra": {"script": self.script, "notify_enable": False, "notify_mail": "",
                          "notify_if_error": False},
                "schedule": self.schedule}

    def differs(self, held: dict[str, Any]) -> str | None:
        """Why the task DSM holds (its `get` answer) is not this one (None: it is). Every key
        create/set sends is compared."""
        wanted = self.params()
        if not self.bootup:
            wanted = {**{k: v for k, v in wanted.items() if k not in ("extra", "schedule")},
                      **{f"extra.{k}": v for k, v in wanted["extra"].items()},
                      **{f"schedule.{k}": v for k, v in self.schedule.items()}}
            held = {**held, **{f"extra.{k}": v for k, v in (held.get("extra") or {}).items()},
                    **{f"schedule.{k}": v for k, v in (held.get("schedule") or {}).items()}}
        drift = sorted(k for k, v in wanted.items() if k not in ("name", "task_name") and held.get(k) != v)
        return f"differs in {', '.join(drift)}" if drift else None


@dataclass
class Held:
    """What the NAS's Task Scheduler holds. `available` is False on a target without DSM;
    `refused` names every read DSM refused (nothing else here is then complete)."""

    available: bool = False
    # our scheduled tasks: name -> their `get` answers (more than one: duplicates), by id
    scheduled: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # every scheduled task `list` showed: id -> its row
    listed: dict[int, dict[str, Any]] = field(default_factory=dict)
    # our boot-up tasks by name ({} : DSM holds none of that name), and every event task's name
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    event_names: set[str] = field(default_factory=set)
    # SYNO.API.Info's answer for APIS (None: not answered through synowebapi)
    apis: dict[str, dict[str, Any]] | None = None
    refused: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Call:
    """One synowebapi call of the converge command, and what it is for."""

    action: str  # create, update, delete
    name: str
    method: Method
    params: dict[str, Any]
    reason: str

    def argv(self) -> list[str]:
        return [SYNOWEBAPI, "-s", "--exec", f"api={self.method.api}", f"method={self.method.method}",
                f"version={self.method.version}",
                *(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in self.params.items())]


def prefix(project_name: str) -> str:
    return f"{project_name}: "


def schedule_of(spec: dict[str, Any]) -> dict[str, Any]:
    """The full schedule DSM keeps for a catalog task: daily from `at`, repeating every_min
    minutes or every_hours hours until the day ends; no repeat is repeat 0 until the start hour."""
    hour, minute = (int(part) for part in spec["at"].split(":"))
    repeat_min, repeat_hour = spec["every_min"] or 0, spec["every_hours"] or 0
    return {**DAILY, "hour": hour, "minute": minute, "repeat_hour": repeat_hour, "repeat_min": repeat_min,
            "last_work_hour": 23 if repeat_min or repeat_hour else hour}


def desired(catalog) -> list[Task]:
    """The catalog's tasks (enabled services or not: a task is about the stack as a whole)."""
    tasks = []
    for key, spec in sorted(catalog.dsm_tasks.items()):
        argv = ["bash", f"{catalog.deploy_root}/{layout.script(spec['script'])}", *spec["args"]]
        log = f"{catalog.deploy_root}/{layout.task_log(key)}"
        script = f"{shlex.join(argv)} >> {shlex.quote(log)} 2>&1"
        bootup = spec["on"] == "bootup"
        tasks.append(Task(key, prefix(catalog.project_name) + key, bootup, script,
                          None if bootup else schedule_of(spec), bool(spec["enabled"])))
    return tasks


def _answer(encoded: str) -> dict[str, Any]:
    """One synowebapi answer (base64 of its JSON); no answer at all reads as error 0."""
    try:
        answer = json.loads(base64.b64decode(encoded).decode() or "null")
    except ValueError:
        answer = None
    return answer if isinstance(answer, dict) else {"success": False, "error": {"code": 0}}


def _refusal(method: Method, answer: dict[str, Any], what: str = "") -> str:
    code = (answer.get("error") or {}).get("code", 0)
    told = f"DSM error {code}" if code else "no answer"
    return f"{method}{what}: {told}"


def parse(lines: list[str]) -> Held:
    """The `@dsm` section: `available`, then `info B64`, `list OFFSET B64` (one per page),
    `get ID B64` (each scheduled task named with our prefix), `events B64` and `event NAME64 B64`
    (each of our boot-up tasks), each B64 the JSON synowebapi answered."""
    held = Held()
    total, pages = None, 0
    for line in lines:
        kind, _, rest = line.partition(" ")
        if kind == "available":
            held.available = True
            continue
        label, _, encoded = rest.rpartition(" ")
        answer = _answer(encoded)
        ok, data = answer.get("success") is True, answer.get("data")
        if kind == "info":
            held.apis = data if ok and isinstance(data, dict) else None
        elif kind == "list":
            pages += 1
            if not ok or not isinstance(data, dict):
                held.refused.append(_refusal(METHODS["list"], answer, f" (offset {label})"))
                continue
            total = data.get("total") if label == "0" else total
            held.listed.update((row["id"], row) for row in data.get("tasks", []) if isinstance(row.get("id"), int))
        elif kind == "get":
            if ok and isinstance(data, dict) and data.get("name"):
                held.scheduled.setdefault(data["name"], []).append({**data, "id": int(label)})
            elif (answer.get("error") or {}).get("code") != UNKNOWN_TASK:  # 4800: gone since the list
                held.refused.append(_refusal(METHODS["get"], answer, f" (id {label})"))
        elif kind == "events":
            if not ok or not isinstance(data, list):
                held.refused.append(_refusal(METHODS["events"], answer) if not ok else
                                    f"{METHODS['events']}: its answer is not a list of tasks")
                continue
            held.event_names = {str(t.get("task_name", t.get("name", ""))) for t in data if isinstance(t, dict)}
        elif kind == "event":
            name = base64.b64decode(label).decode()
            if not ok or not isinstance(data, dict):
                held.refused.append(_refusal(METHODS["event"], answer, f" ({name!r})"))
            else:
                held.events[name] = data
    if held.available and not pages:
        held.refused.append(f"{METHODS['list']}: not answered")
    elif isinstance(total, int) and len(held.listed) < total:
        held.refused.append(f"{METHODS['list']}: {len(held.listed)} of its {total} tasks read")
    return held


def calls(tasks: list[Task], held: Held, project_name: str) -> list[Call]:
    """The synowebapi calls that make the NAS hold exactly our tasks, one of each (nothing when
    it has no Task Scheduler); every other task is left as it is."""
    if not held.available:
        return []
    if held.refused:
        raise ValueError("DSM refused a read: " + "; ".join(held.refused))
    ours = prefix(project_name)
    found: list[Call] = []
    wanted = {t.name for t in tasks}
    for task in tasks:
        if task.bootup:
            current = held.events.get(task.name) or None
            reason = "missing" if current is None else task.differs(current)
            if reason:
                found.append(Call("create" if current is None else "update", task.name,
                                  METHODS["event_create" if current is None else "event_set"], task.params(), reason))
            continue
        copies = sorted(held.scheduled.get(task.name, []), key=lambda t: t["id"])
        current = copies[0] if copies else None
        reason = "missing" if current is None else task.differs(current)
        if reason:
            params = task.params() if current is None else {"id": current["id"], **task.params()}
            found.append(Call("create" if current is None else "update", task.name,
                              METHODS["create" if current is None else "set"], params, reason))
        for copy in copies[1:]:
            found.append(_delete(task.name, copy, f"a duplicate of task {current['id']}"))
    for name, copies in sorted(held.scheduled.items()):
        if name.startswith(ours) and name not in wanted:
            found.extend(_delete(name, copy, "not in the catalog") for copy in copies)
    for name in sorted(held.event_names | {n for n, e in held.events.items() if e}):
        if name.startswith(ours) and name not in wanted:
            found.append(Call("delete", name, METHODS["event_delete"], {"task_name": name}, "not in the catalog"))
    return found


def _delete(name: str, held: dict[str, Any], reason: str) -> Call:
    return Call("delete", name, METHODS["delete"],
                {"tasks": [{"id": held["id"], "real_owner": held.get("real_owner") or OWNER}]}, reason)


def missing_methods(held: Held) -> list[str]:
    """The deploy's calls that the NAS's own SYNO.API.Info says it does not offer (its API
    missing, or the version outside the API's range); [] when Info did not answer."""
    if held.apis is None:
        return []
    gaps = []
    for key, method in METHODS.items():
        entry = held.apis.get(method.api) if key != "info" else {"minVersion": 1, "maxVersion": 1}
        if not entry:
            gaps.append(f"{method} (no {method.api})")
        elif not entry.get("minVersion", 1) <= method.version <= entry.get("maxVersion", 0):
            gaps.append(f"{method} ({method.api} has v{entry.get('minVersion')}-v{entry.get('maxVersion')})")
    return gaps
