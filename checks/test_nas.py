"""On a NAS (DSM's Task Scheduler present): it holds our tasks as the catalog says. Elsewhere
these checks have nothing to look at."""

from __future__ import annotations

import json
import shlex

import pytest

from deploys.render import dsm


@pytest.fixture(scope="module")
def scheduler(host):
    if not host.file(dsm.SYNOWEBAPI).exists:
        pytest.skip("not a NAS: no DSM Task Scheduler")

    def api(key: str, **params) -> dict:
        """One of the deploy's own reads (deploys/render/dsm.py METHODS: the APIs DSM offers them on)."""
        m = dsm.METHODS[key]
        argv = [dsm.SYNOWEBAPI, "-s", "--exec", f"api={m.api}", f"method={m.method}", f"version={m.version}",
                *(f"{k}={json.dumps(v)}" for k, v in params.items())]
        answer = json.loads(host.check_output(shlex.join(argv)))
        assert answer["success"], answer
        return answer["data"]
    return api


def test_dsm_holds_our_scheduled_tasks_once_each(scheduler, catalog):
    rows = scheduler("list", offset=0, limit=1000, sort_by="name", sort_direction="ASC")["tasks"]
    held: dict[str, list] = {}
    for row in rows:
        held.setdefault(row["name"], []).append(row)
    for task in dsm.desired(catalog):
        if not task.bootup:
            assert len(held.get(task.name, [])) == 1, (task.name, held.get(task.name))
            [row] = held[task.name]
            got = scheduler("get", id=row["id"], real_owner=row["real_owner"])
            assert task.differs(got) is None, (task.name, task.differs(got))


def test_dsm_starts_the_stack_at_boot(scheduler, catalog):
    for task in dsm.desired(catalog):
        if task.bootup:
            got = scheduler("event", task_name=task.name)
            assert task.differs(got) is None, (task.name, task.differs(got))
