"""DSM Task Scheduler tasks: what the catalog wants (the parameters synowebapi takes, see
docs/FIELD-NOTES.md), what the NAS holds (read by the state command), and the calls that take
one to the other. Only tasks named with our prefix ("<project_name>: ") are ever changed; the
other site's are read, never touched. Pure: no pyinfra, no I/O."""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from deploys import layout

SYNOWEBAPI = "/usr/syno/bin/synowebapi"
SCHEDULED = "SYNO.Core.TaskScheduler.Root"
EVENTS = "SYNO.Core.EventScheduler.Root"
EVERY_DAY = {"date_type": 0, "week_day": "0,1,2,3,4,5,6", "repeat_date": 1001}


@dataclass(frozen=True)
class Task:
    """One task as DSM holds it: `name` is DSM's task name."""

    key: str
    name: str
    bootup: bool
    script: str
    schedule: dict[str, Any] | None
    enable: bool

    def params(self) -> dict[str, Any]:
        """The create/set parameters (JSON values), as synowebapi takes them."""
        if self.bootup:
            return {"task_name": self.name, "owner": {"0": "root"}, "event": "bootup",
                    "operation": self.script, "operation_type": "script", "enable": self.enable}
        return {"name": self.name, "owner": "root", "enable": self.enable, "type": "script",
                "extra": {"script": self.script, "notify_enable": False}, "schedule": self.schedule}

    def differs(self, held: dict[str, Any]) -> str | None:
        """Why the task DSM holds is not this one (None: it is)."""
        if self.bootup:
            wanted = {"event": "bootup", "operation": self.script, "enable": self.enable}
        else:
            wanted = {"script": self.script, "enable": self.enable, "owner": "root", **self.schedule}
            held = {**held.get("schedule", {}), "script": (held.get("extra") or {}).get("script"),
                    "enable": held.get("enable"), "owner": held.get("owner")}
        drift = sorted(k for k, v in wanted.items() if held.get(k) != v)
        return f"differs in {', '.join(drift)}" if drift else None


@dataclass
class Held:
    """What the NAS's Task Scheduler holds: scheduled tasks by name (with their ids) and our
    boot-up tasks by name. `available` is False on a target without DSM."""

    available: bool = False
    scheduled: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    event_names: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Call:
    """One synowebapi call of the converge command, and what it is for."""

    action: str  # create, update, delete
    name: str
    api: str
    method: str
    version: int
    params: dict[str, Any]
    reason: str

    def argv(self) -> list[str]:
        return [SYNOWEBAPI, "-s", "--exec", f"api={self.api}", f"method={self.method}",
                f"version={self.version}",
                *(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in self.params.items())]


def prefix(project_name: str) -> str:
    return f"{project_name}: "


def desired(catalog) -> list[Task]:
    """The catalog's tasks (enabled services or not: a task is about the stack as a whole)."""
    tasks = []
    for key, spec in sorted(catalog.dsm_tasks.items()):
        argv = ["bash", f"{catalog.deploy_root}/{layout.script(spec['script'])}", *spec["args"]]
        log = f"{catalog.deploy_root}/{layout.task_log(key)}"
        script = f"{shlex.join(argv)} >> {shlex.quote(log)} 2>&1"
        schedule = None
        if spec["on"] != "bootup":
            hour, minute = (int(part) for part in spec["at"].split(":"))
            schedule = {**EVERY_DAY, "hour": hour, "minute": minute}
            if spec["every_min"]:
                schedule.update(repeat_min=spec["every_min"], last_work_hour=23)
            elif spec["every_hours"]:
                schedule.update(repeat_hour=spec["every_hours"], last_work_hour=23)
        tasks.append(Task(key, prefix(catalog.project_name) + key, spec["on"] == "bootup", script,
                          schedule, bool(spec["enabled"])))
    return tasks


def parse(lines: list[str]) -> Held:
    """The state command's `@dsm` section: `available`, then `get ID BASE64` (a scheduled task),
    `events BASE64` (the boot-up task list) and `event NAME64 BASE64` (one of ours) lines, each
    BASE64 the JSON synowebapi answered."""
    held = Held()
    for line in lines:
        kind, _, rest = line.partition(" ")
        if kind == "available":
            held.available = True
            continue
        label, _, encoded = rest.rpartition(" ") if " " in rest else ("", "", rest)
        try:
            answer = json.loads(base64.b64decode(encoded or "e30=").decode() or "{}")
        except ValueError:
            continue
        if not answer.get("success"):
            continue
        data = answer.get("data") or {}
        if kind == "get" and data.get("name"):
            held.scheduled[data["name"]] = {**data, "id": int(label)}
        elif kind == "event":
            held.events[base64.b64decode(label).decode()] = data
        elif kind == "events":
            held.event_names = {t.get("task_name", "") for t in data.get("tasks", [])}
    return held


def calls(tasks: list[Task], held: Held, project_name: str) -> list[Call]:
    """The synowebapi calls that make the NAS hold exactly our tasks (nothing when it has no
    Task Scheduler); every other task is left as it is."""
    if not held.available:
        return []
    ours = prefix(project_name)
    found: list[Call] = []
    wanted = {t.name for t in tasks}
    for task in tasks:
        if task.bootup:
            current = held.events.get(task.name)
            method, version = ("create", 1) if current is None else ("set", 1)
            reason = "missing" if current is None else task.differs(current)
            params = task.params()
            api = EVENTS
        else:
            current = held.scheduled.get(task.name)
            reason = "missing" if current is None else task.differs(current)
            method, version = ("create", 4) if current is None else ("set", 4)
            params = task.params() if current is None else {"id": current["id"], **task.params()}
            api = SCHEDULED
        if reason:
            found.append(Call("create" if current is None else "update", task.name, api, method, version,
                              params, reason))
    for name, data in sorted(held.scheduled.items()):
        if name.startswith(ours) and name not in wanted:
            found.append(Call("delete", name, SCHEDULED, "delete", 2,
                              {"tasks": [{"id": data["id"], "real_owner": "root"}]}, "not in the catalog"))
    for name in sorted(held.event_names | set(held.events)):
        if name.startswith(ours) and name not in wanted:
            found.append(Call("delete", name, EVENTS, "delete", 1, {"task_name": name}, "not in the catalog"))
    return found
