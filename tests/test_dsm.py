"""DSM Task Scheduler convergence (deploys/render/dsm.py) against DSM's own API table: every call the
deploy can emit is one DSM 7.2.2 offers, and the deploy's own read and converge commands, run
against the DSM stand-in (which answers from that table), leave exactly one task per key."""

from __future__ import annotations

import base64
import json
import os
import re

import pytest

from deploys import catalog as catalog_mod
from deploys.target import commands
from deploys.render import dsm
from deploys import plan
from deploys.render import render
from tests.support.dsm_nas import FakeNas, offered

TARGETS = ("local", "staging")  # production renders only with its operator-provided files
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="synowebapi runs as root, like DSM's")


def task(key: str, **spec) -> dsm.Task:
    spec = {"at": "03:00", "every_min": None, "every_hours": None, **spec}
    bootup = spec.get("on") == "bootup"
    return dsm.Task(key, f"stack: {key}", bootup, f"bash /r/scripts/{key}.sh >> /r/logs/tasks/{key}.log 2>&1",
                    None if bootup else dsm.schedule_of(spec), True)


BOOT = task("boot", on="bootup")
NIGHTLY = task("backup")
MONITOR = task("monitor", at="00:00", every_min=5)


# -- the table --------------------------------------------------------------------------------------
def test_every_method_the_deploy_calls_is_offered_by_dsms_table():
    assert {key: str(m) for key, m in dsm.METHODS.items() if not offered(m)} == {}


def test_the_root_apis_are_only_written_to():
    assert {m.method for m in dsm.METHODS.values() if m.api.endswith(".Root")} == {"create", "set"}


def rendered_calls(text: str) -> set[dsm.Method]:
    """Every `api=... method=... version=...` a rendered command would send."""
    words = r"'?([A-Za-z0-9._]+)'?"
    return {dsm.Method(a, m, int(v)) for a, m, v in
            re.findall(rf"api={words} (?:\\\s+)?method={words} (?:\\\s+)?version={words}", text)}


@pytest.mark.parametrize("target", TARGETS)
def test_every_call_in_the_rendered_reads_is_offered(target):
    catalog = catalog_mod.load(target, strict=False)
    desired = plan.Desired.of(catalog, render(catalog))
    sent = rendered_calls(commands.state_command(catalog, desired))
    sent |= rendered_calls(commands.command(catalog, "preflight", dsm_tasks=desired.dsm_tasks))
    assert sent == {dsm.METHODS[k] for k in ("info", "list", "get", "events", "event")}
    assert all(offered(m) for m in sent)


def held(*lines: str) -> dsm.Held:
    return dsm.parse(["available", *lines])


def b64(data) -> str:
    return base64.b64encode(json.dumps(data).encode()).decode()


def answer(data) -> str:
    return b64({"data": data, "success": True})


def listed(*rows: tuple[int, str]) -> str:
    return f"list 0 {answer({'tasks': [{'id': i, 'name': n, 'real_owner': 'root'} for i, n in rows], 'total': len(rows)})}"


def got(tid: int, t: dsm.Task, **over) -> str:
    return f"get {tid} {answer({'id': tid, **t.params(), **over})}"


def events(*names: str) -> str:
    return f"events {answer([{'task_name': n} for n in names])}"


def event(t: dsm.Task, **over) -> str:
    return f"event {base64.b64encode(t.name.encode()).decode()} {answer({**t.params(), **over})}"


CASES = {
    "an empty NAS": held(listed(), events()),
    "as wanted": held(listed((7, NIGHTLY.name), (8, MONITOR.name)), got(7, NIGHTLY), got(8, MONITOR),
                      events(BOOT.name), event(BOOT)),
    "edited in DSM": held(listed((7, NIGHTLY.name)), got(7, NIGHTLY, schedule={**NIGHTLY.schedule, "hour": 4}),
                          events(BOOT.name), event(BOOT, enable=False)),
    "duplicates of an earlier deploy": held(listed((3, NIGHTLY.name), (9, NIGHTLY.name)), got(3, NIGHTLY),
                                            got(9, NIGHTLY), events()),
    "dropped from the catalog": held(listed((4, "stack: old-job")), got(4, task("old-job")),
                                     events("stack: old-boot"), f"event {b64('x')} {answer({})}"),
}


@pytest.mark.parametrize("case", CASES)
def test_every_call_the_converge_can_emit_is_offered(case):
    calls = dsm.calls([BOOT, NIGHTLY, MONITOR], CASES[case], "stack")
    assert all(offered(c.method) for c in calls), [str(c.method) for c in calls]
    text = commands.template("commands/dsm_tasks.sh.j2").render(c=catalog_mod.load("staging"), calls=calls)
    assert rendered_calls(text) <= {c.method for c in calls}


# -- deciding -------------------------------------------------------------------------------------------
def test_a_nas_without_our_tasks_gets_them_created_whole():
    calls = dsm.calls([BOOT, NIGHTLY], CASES["an empty NAS"], "stack")
    assert [(c.action, c.name, str(c.method)) for c in calls] == [
        ("create", "stack: boot", "SYNO.Core.EventScheduler.Root create v1"),
        ("create", "stack: backup", "SYNO.Core.TaskScheduler.Root create v4")]
    assert set(calls[1].params["schedule"]) >= {"repeat_hour", "repeat_min", "last_work_hour", "week_day"}
    assert calls[1].params["real_owner"] == "root"
    assert set(calls[0].params) >= {"depend_on_task", "notify_enable", "notify_mail", "notify_if_error"}


def test_tasks_as_wanted_need_nothing():
    assert dsm.calls([BOOT, NIGHTLY, MONITOR], CASES["as wanted"], "stack") == []


def test_a_task_edited_in_dsm_is_set_back_whole():
    update, boot = sorted(dsm.calls([BOOT, NIGHTLY], CASES["edited in DSM"], "stack"), key=lambda c: c.name)
    assert (update.action, str(update.method), update.reason) == (
        "update", "SYNO.Core.TaskScheduler.Root set v4", "differs in schedule.hour")
    assert update.params["id"] == 7 and update.params["schedule"]["hour"] == 3
    assert (boot.action, str(boot.method), boot.reason) == ("update", "SYNO.Core.EventScheduler.Root set v1",
                                                            "differs in enable")


def test_a_repeat_removed_from_the_catalog_is_set_on_the_nas():
    once = dsm.Task(MONITOR.key, MONITOR.name, False, MONITOR.script, dsm.schedule_of(
        {"at": "00:00", "every_min": None, "every_hours": None}), True)
    [call] = dsm.calls([once], held(listed((8, MONITOR.name)), got(8, MONITOR), events()), "stack")
    assert call.reason == "differs in schedule.last_work_hour, schedule.repeat_min"
    assert call.params["schedule"]["repeat_min"] == 0


def test_duplicates_are_deleted_and_the_oldest_kept():
    calls = dsm.calls([NIGHTLY], CASES["duplicates of an earlier deploy"], "stack")
    assert [(c.action, str(c.method), c.params, c.reason) for c in calls] == [
        ("delete", "SYNO.Core.TaskScheduler delete v2", {"tasks": [{"id": 9, "real_owner": "root"}]},
         "a duplicate of task 3")]


def test_our_dropped_tasks_go_and_the_other_sites_stay():
    foreign = f"get 3 {answer({'id': 3, **task('x').params(), 'name': 'wattsun: renew certs'})}"
    state = held(listed((3, "wattsun: renew certs"), (4, "stack: old-job")), foreign, got(4, task("old-job")),
                 events("stack: old-boot", "wattsun: on boot"))
    calls = dsm.calls([], state, "stack")
    assert [(c.action, c.name, str(c.method), c.params) for c in calls] == [
        ("delete", "stack: old-job", "SYNO.Core.TaskScheduler delete v2", {"tasks": [{"id": 4, "real_owner": "root"}]}),
        ("delete", "stack: old-boot", "SYNO.Core.EventScheduler delete v1", {"task_name": "stack: old-boot"})]


def test_a_refused_read_is_never_read_as_no_tasks():
    refused = held(f"list 0 {b64({'error': {'code': 103}, 'success': False})}", events())
    assert refused.refused == ["SYNO.Core.TaskScheduler list v3 (offset 0): DSM error 103"]
    with pytest.raises(ValueError, match="DSM error 103"):
        dsm.calls([NIGHTLY], refused, "stack")


def test_a_task_gone_between_list_and_get_is_not_a_refusal():
    gone = held(listed((5, NIGHTLY.name)), f"get 5 {b64({'error': {'code': 4800}, 'success': False})}", events())
    assert gone.refused == [] and [c.action for c in dsm.calls([NIGHTLY], gone, "stack")] == ["create"]


def test_a_target_without_dsm_has_no_tasks_to_converge():
    assert dsm.calls([BOOT, NIGHTLY], dsm.parse([]), "stack") == []


def test_an_older_dsms_api_info_names_what_it_lacks():
    state = held(listed(), events(), f"info {answer({'SYNO.Core.TaskScheduler': {'minVersion': 1, 'maxVersion': 3}})}")
    gaps = dsm.missing_methods(state)
    assert "SYNO.Core.TaskScheduler get v4 (SYNO.Core.TaskScheduler has v1-v3)" in gaps
    assert "SYNO.Core.TaskScheduler.Root create v4 (no SYNO.Core.TaskScheduler.Root)" in gaps


def test_calls_quote_json_for_synowebapi():
    [call] = dsm.calls([NIGHTLY], held(listed(), events()), "stack")
    argv = call.argv()
    assert argv[:6] == [dsm.SYNOWEBAPI, "-s", "--exec", "api=SYNO.Core.TaskScheduler.Root", "method=create",
                        "version=4"]
    assert 'name="stack: backup"' in argv and 'owner="root"' in argv and "enable=true" in argv
    extra = next(a for a in argv if a.startswith("extra="))
    assert json.loads(extra.partition("=")[2])["script"] == NIGHTLY.script


# -- against the stand-in, with the deploy's own commands ----------------------------------------------------
@pytest.fixture
def nas(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("synowebapi runs as root, like DSM's")
    return FakeNas(tmp_path)


def test_two_deploys_leave_one_task_per_key_and_the_second_calls_nothing(nas):
    first = nas.converge([BOOT, NIGHTLY, MONITOR])
    assert sorted(c.action for c in first) == ["create"] * 3
    assert nas.converge([BOOT, NIGHTLY, MONITOR]) == []
    assert {n: len(c) for n, c in nas.scheduled().items()} == {NIGHTLY.name: 1, MONITOR.name: 1}


def test_a_foreign_task_with_a_hostile_name_and_script_is_read_past_and_left_alone(nas):
    hostile = {"name": 'wattsun: {"id": 99, "name": "stack: backup"}', "owner": "root", "type": "script",
               "enable": True, "extra": {"script": 'echo "}{ \\"id\\": 1 }" # stack: backup'},
               "schedule": {"hour": 1, "minute": 0}}
    made = nas.api("SYNO.Core.TaskScheduler.Root", "create", 4, **hostile)["data"]["id"]
    nas.api("SYNO.Core.EventScheduler.Root", "create", 1, task_name="wattsun: on boot", owner={"0": "root"},
            event="bootup", operation="true", operation_type="script")
    before = nas.scheduled()
    nas.converge([BOOT, NIGHTLY])
    after = nas.scheduled()
    assert after[hostile["name"]] == before[hostile["name"]] and after[hostile["name"]][0]["id"] == made
    assert nas.converge([BOOT, NIGHTLY]) == [] and nas.converge([]) != []
    assert set(nas.scheduled()) == {hostile["name"]}
    events = nas.api("SYNO.Core.EventScheduler", "list", 1)["data"]
    assert [e["task_name"] for e in events] == ["wattsun: on boot"]


def test_a_removed_repeat_stops_repeating_on_the_nas(nas):
    nas.converge([MONITOR])
    once = dsm.Task(MONITOR.key, MONITOR.name, False, MONITOR.script,
                    dsm.schedule_of({"at": "00:00", "every_min": None, "every_hours": None}), True)
    [call] = nas.converge([once])
    [held_now] = nas.scheduled()[MONITOR.name]
    assert call.action == "update" and held_now["schedule"]["repeat_min"] == 0
    assert held_now["schedule"]["last_work_hour"] == 0 and nas.converge([once]) == []


def test_duplicates_left_by_the_old_deploy_are_cleaned_up(nas):
    for _ in range(3):  # what every deploy did while reads went to .Root (refused, read as no tasks)
        nas.api("SYNO.Core.TaskScheduler.Root", "create", 4, **{k: v for k, v in NIGHTLY.params().items()})
    calls = nas.converge([NIGHTLY])
    assert [c.action for c in calls] == ["delete", "delete"]
    assert len(nas.scheduled()[NIGHTLY.name]) == 1 and nas.converge([NIGHTLY]) == []


def test_many_tasks_are_read_page_by_page(nas):
    for i in range(dsm.LIST_PAGE + 5):
        nas.api("SYNO.Core.TaskScheduler.Root", "create", 4, **{**task(f"w{i:03}").params(), "name": f"other: {i}"})
    nas.converge([NIGHTLY])
    state = nas.read([NIGHTLY])
    assert len(state.listed) == dsm.LIST_PAGE + 6 and list(state.scheduled) == [NIGHTLY.name]


def test_an_older_dsm_is_refused_before_anything_is_written(nas):
    table = json.loads((nas.tool.resolve().parent / "dsm-api" / "SYNO.Core.json").read_text())
    older = {name: {**table[name], "maxVersion": 3, "methods": {v: m for v, m in table[name]["methods"].items()
                                                                if int(v) <= 3}}
             for name in ("SYNO.Core.TaskScheduler", "SYNO.Core.TaskScheduler.Root")}
    nas.converge([NIGHTLY])
    nas.older_dsm(older)
    state = nas.read([NIGHTLY])
    assert state.refused == [f"SYNO.Core.TaskScheduler get v4 (id 1): DSM error 104"]
    assert "SYNO.Core.TaskScheduler.Root create v4 (SYNO.Core.TaskScheduler.Root has v1-v3)" in \
        dsm.missing_methods(state)
    with pytest.raises(ValueError):
        dsm.calls([NIGHTLY], state, "stack")
