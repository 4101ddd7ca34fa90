"""On a NAS (DSM's Task Scheduler present): it holds our tasks as the catalog says. Elsewhere
these checks have nothing to look at."""

from __future__ import annotations

import json
import shlex

import pytest

from deploys import dsm


@pytest.fixture(scope="module")
def scheduler(host):
    if not host.file(dsm.SYNOWEBAPI).exists:
        pytest.skip("not a NAS: no DSM Task Scheduler")

    def api(api_name: str, method: str, version: int, **params) -> dict:
        argv = [dsm.SYNOWEBAPI, "-s", "--exec", f"api={api_name}", f"method={method}", f"version={version}",
                *(f"{k}={json.dumps(v)}" for k, v in params.items())]
        answer = json.loads(host.check_output(shlex.join(argv)))
        assert answer["success"], answer
        return answer["data"]
    return api


def test_dsm_holds_our_scheduled_tasks(scheduler, catalog):
    held = {t["name"]: t for t in scheduler(dsm.SCHEDULED, "list", 3)["tasks"]}
    for task in dsm.desired(catalog):
        if not task.bootup:
            assert task.name in held, task.name
            got = scheduler(dsm.SCHEDULED, "get", 4, id=held[task.name]["id"])
            assert task.differs(got) is None, (task.name, task.differs(got))


def test_dsm_starts_the_stack_at_boot(scheduler, catalog):
    for task in dsm.desired(catalog):
        if task.bootup:
            got = scheduler(dsm.EVENTS, "get", 1, task_name=task.name)
            assert task.differs(got) is None, (task.name, task.differs(got))
