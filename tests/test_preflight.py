"""deploys/target/preflight.py's judgement of the images and of DSM's Task Scheduler on the target: a
case per line (what the target has, what the check must say)."""

from __future__ import annotations

import pytest

from deploys.target import preflight

# (images on the target, the catalog's changes to staging's condo, ok, words in the finding/fix)
CASES = {
    "built-images-are-never-missing": ("", {}, True, ["all present"]),
    "a-shipped-image-that-is-there": ("acme/condo:2.1 ", {"image": "acme/condo:2.1"}, True, ["all present"]),
    "a-shipped-image-that-is-not": ("", {"image": "acme/condo:2.1"}, False,
                                   ["acme/condo:2.1 (condo)", "make ship IMAGE=acme/condo:2.1 TARGET=e2e"]),
    "a-registry-image-is-pulled": ("", {"image": "acme/condo:2.1", "image_from": "registry"}, True,
                                   ["Compose pulls acme/condo:2.1"]),
}


@pytest.mark.parametrize("case", CASES)
def test_images_on_the_target(case, group_data):
    from deploys.catalog import load

    present, condo, ok, words = CASES[case]
    text = "extends = ['staging']\n"
    if condo:
        text += f"services = {{'condo': {{'build': None, 'image_from': 'ship', **{condo!r}}}}}\n"
    catalog = load("e2e", group_data("e2e", text))
    check = preflight.images(catalog, {"images": present})
    assert check.ok is ok
    for word in words:
        assert word in check.found + check.fix, (case, check)


# DSM's Task Scheduler: (the `@dsm` lines the state command printed, ok, words in the finding/fix)
def _answer(data=None, code=None) -> str:
    import base64
    import json

    body = {"data": data, "success": True} if code is None else {"error": {"code": code}, "success": False}
    return base64.b64encode(json.dumps(body).encode()).decode()


SCHEDULER = {
    "not-a-nas": ([], True, ["not a NAS"]),
    "dsm-7.2-answers": (["available", f"list 0 {_answer({'tasks': [], 'total': 0})}", f"events {_answer([])}"],
                        True, ["reads answered", "SYNO.API.Info not answered"]),
    "a-refused-list": (["available", f"list 0 {_answer(code=103)}", f"events {_answer([])}"], False,
                       ["SYNO.Core.TaskScheduler list v3 (offset 0): DSM error 103", "update DSM to 7.2"]),
    "an-api-info-without-v4": (["available", f"list 0 {_answer({'tasks': [], 'total': 0})}", f"events {_answer([])}",
                                f"info {_answer({'SYNO.Core.TaskScheduler': {'minVersion': 1, 'maxVersion': 3}})}"],
                               False, ["SYNO.Core.TaskScheduler get v4 (SYNO.Core.TaskScheduler has v1-v3)"]),
}


@pytest.mark.parametrize("case", SCHEDULER)
def test_dsms_task_scheduler(case):
    from deploys.render import dsm

    lines, ok, words = SCHEDULER[case]
    check = preflight.task_scheduler(dsm.parse(lines))
    assert check.ok is ok
    for word in words:
        assert word in check.found + check.fix, (case, check)


@pytest.mark.parametrize("ports, held", [
    ("127.0.0.1:3200->80/tcp", {3200}),
    # a run of published ports is one range (the edge relays the apps' host ports)
    ("127.0.0.1:3201-3205->3201-3205/tcp, 127.0.0.1:3200->80/tcp,", {3200, 3201, 3202, 3203, 3204, 3205}),
    ("0.0.0.0:443->443/tcp, [::]:443->443/tcp,8080/tcp,", {443}),  # 8080: exposed, not published
    ("", set()),
])
def test_the_ports_the_stacks_containers_hold(ports, held):
    from deploys.target.preflight import published_ports

    assert published_ports(ports) == held


def test_a_port_the_edge_relays_is_named_by_its_app(group_data):
    from deploys.catalog import load

    catalog = load("e2e", group_data("e2e", "extends = ['staging']\n"))
    connector = catalog.services["connector"]
    assert connector.relayed, "staging's connector is released without a gap: the edge holds its port"
    found = {"listening": str(connector.host_port), "ours": ""}
    check = next(c for c in preflight.judge(catalog, found, "root") if c.name == "host ports")
    assert not check.ok
    assert f"{connector.host_port} (connector) is held by another program" in check.found
