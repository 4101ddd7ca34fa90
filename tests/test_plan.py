"""The plan as data (tests/fixtures/plan/*.json, written by hand): each case changes the world of
_world.json (what the target must hold, what it holds) and lists the changes it expects, in the
order the deploy makes them, or the refusal. The target's state goes through the real parser as
the state command's output; the expectations are never computed by the code under test."""

from __future__ import annotations

import pytest

from deploys import plan as plan_mod
from deploys.target.state import parse_state
from tests.support import plan_world

CASES = sorted(p for p in plan_world.FIXTURES.glob("*.json") if not p.name.startswith("_"))


def stale_only_if_marked(holder: dict) -> bool:
    """The fixtures' lock holders: host STALE is a dead deploy of this machine."""
    return holder.get("host") == "STALE"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_plan(path):
    case = plan_world.case(path)
    desired = plan_world.desired(case["desired"])
    state = parse_state(plan_world.state_output(case["state"]))
    if "refused" in case:
        with pytest.raises(plan_mod.PlanRefused, match="nothing was touched") as refused:
            plan_mod.build(desired, state, stale_only_if_marked)
        assert case["refused"] in str(refused.value)
        return
    plan = plan_mod.build(desired, state, stale_only_if_marked)
    assert [str(c) for c in plan.changes] == case["changes"]
    assert plan.takeover == case.get("takeover")


def test_every_case_says_what_it_shows():
    for path in CASES:
        case = plan_world.case(path)
        assert case["description"] and ("changes" in case or "refused" in case), path.name


def test_the_plan_is_pure_it_imports_no_pyinfra():
    import subprocess
    import sys

    code = "import sys, deploys.plan, deploys.target.state; print(any(m.startswith('pyinfra') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_what_the_local_catalog_asks_of_its_target(local_catalog, local_files):
    desired = plan_mod.Desired.of(local_catalog, local_files)
    grouped = [mf.path for group in desired.groups.values() for mf in group]
    assert sorted(grouped) == sorted(local_files)  # every file in exactly one group
    assert [mf.path for mf in desired.groups["compose"]] == ["docker-compose.yml"]
    assert all(p.startswith("build/") for p in (mf.path for mf in desired.groups["contexts"]))
    assert set(desired.containers) == {"postgres", "redis", "connector", "killbill", "kaui", "condo",
                                       "cocorico-mysql", "cocorico-mongo", "cocorico", "edge", "cloudflared"}
    assert desired.probes["killbill"] == plan_mod.Probe("boma.localhost", "/billing/1.0/healthcheck", 200)
    assert set(desired.probes) == {"connector", "killbill", "kaui", "condo", "cocorico"}
    assert desired.servers == {"marketplace": "postgres", "killbill": "postgres", "kaui": "postgres",
                               "condo": "postgres"}
    assert desired.users["killbill"] == ("killbill",) and desired.users["connector"] == ("marketplace",)
    assert set(desired.ddl.values()) == {"killbill", "kaui"}
    assert desired.shared_config_file is None and "scripts/secrets.sh" in desired.state_files
