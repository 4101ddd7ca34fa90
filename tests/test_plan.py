"""The plan as data (tests/fixtures/plan/*.json, written by hand): each case changes the world of
_world.json (what the target must hold, what it holds) and lists the changes it expects, in the
order the deploy makes them, or the refusal. The target's state goes through the real parser as
the state command's output; the expectations are never computed by the code under test."""

from __future__ import annotations

import pytest

from deploys import plan as plan_mod
from deploys.state import parse_state
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
