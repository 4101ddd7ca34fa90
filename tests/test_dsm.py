"""DSM Task Scheduler convergence (deploys/dsm.py): what the NAS holds -> the synowebapi calls.
The NAS's answers are written here by hand, as DSM gives them."""

from __future__ import annotations

import base64
import json

from deploys import dsm

BOOT = dsm.Task("boot", "stack: boot", True, "bash /r/scripts/start_all.sh >> /r/logs/tasks/boot.log 2>&1",
                None, True)
NIGHTLY = dsm.Task("backup", "stack: backup", False, "bash /r/scripts/backup.sh run --kind daily >> /r/logs/tasks/backup.log 2>&1",
                   {**dsm.EVERY_DAY, "hour": 3, "minute": 0}, True)


def answer(data) -> str:
    return base64.b64encode(json.dumps({"data": data, "success": True}).encode()).decode()


def held(*lines: str) -> dsm.Held:
    return dsm.parse(["available", *lines])


def scheduled(tid: int, task: dsm.Task, **over) -> str:
    data = {"id": tid, **task.params(), **over}
    return f"get {tid} {answer(data)}"


def event(task: dsm.Task, **over) -> str:
    data = {k: v for k, v in task.params().items() if k != "task_name"}
    return f"event {base64.b64encode(task.name.encode()).decode()} {answer({**data, **over})}"


def events(*names: str) -> str:
    return f"events {answer({'tasks': [{'task_name': n} for n in names]})}"


def test_a_nas_without_our_tasks_gets_them_created():
    calls = dsm.calls([BOOT, NIGHTLY], held(events()), "stack")
    assert [(c.action, c.name, c.api, c.method, c.version) for c in calls] == [
        ("create", "stack: boot", dsm.EVENTS, "create", 1),
        ("create", "stack: backup", dsm.SCHEDULED, "create", 4)]


def test_tasks_as_wanted_need_nothing():
    assert dsm.calls([BOOT, NIGHTLY], held(scheduled(7, NIGHTLY), events("stack: boot"), event(BOOT)),
                     "stack") == []


def test_a_task_edited_in_dsm_is_set_back_whole():
    edited = {"schedule": {**NIGHTLY.schedule, "hour": 4}}
    [call] = dsm.calls([BOOT, NIGHTLY], held(scheduled(7, NIGHTLY, **edited), events("stack: boot"),
                                             event(BOOT)), "stack")
    assert (call.action, call.method, call.reason) == ("update", "set", "differs in hour")
    assert call.params["id"] == 7 and call.params["schedule"]["hour"] == 3  # set overwrites the whole task


def test_a_disabled_boot_task_is_enabled_again():
    [call] = dsm.calls([BOOT], held(events("stack: boot"), event(BOOT, enable=False)), "stack")
    assert (call.action, call.api, call.method, call.reason) == ("update", dsm.EVENTS, "set", "differs in enable")


def test_our_dropped_tasks_go_and_the_other_sites_stay():
    foreign = dsm.Task("x", "wattsun: renew certs", False, "bash /w/renew.sh", {**dsm.EVERY_DAY, "hour": 1,
                                                                               "minute": 0}, True)
    old = dsm.Task("old", "stack: old-job", False, "bash /r/old.sh", {**dsm.EVERY_DAY, "hour": 1, "minute": 0}, True)
    calls = dsm.calls([NIGHTLY], held(scheduled(3, foreign), scheduled(4, old), scheduled(5, NIGHTLY),
                                      events("stack: old-boot", "wattsun: on boot")), "stack")
    assert [(c.action, c.name, c.params) for c in calls] == [
        ("delete", "stack: old-job", {"tasks": [{"id": 4, "real_owner": "root"}]}),
        ("delete", "stack: old-boot", {"task_name": "stack: old-boot"})]


def test_a_prefix_look_alike_is_not_ours():
    lookalike = dsm.Task("x", "stack-2: backup", False, "bash /x.sh", {**dsm.EVERY_DAY, "hour": 1, "minute": 0}, True)
    assert dsm.calls([], held(scheduled(9, lookalike), events()), "stack") == []


def test_a_target_without_dsm_has_no_tasks_to_converge():
    assert dsm.calls([BOOT, NIGHTLY], dsm.parse([]), "stack") == []


def test_calls_quote_json_for_synowebapi():
    [call] = dsm.calls([NIGHTLY], held(events()), "stack")
    argv = call.argv()
    assert argv[:6] == [dsm.SYNOWEBAPI, "-s", "--exec", f"api={dsm.SCHEDULED}", "method=create", "version=4"]
    assert 'name="stack: backup"' in argv and 'owner="root"' in argv and "enable=true" in argv
    extra = next(a for a in argv if a.startswith("extra="))
    assert json.loads(extra.partition("=")[2])["script"] == NIGHTLY.script
