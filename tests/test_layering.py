"""The data flows one way, and the folders say so: each package of deploys/ imports only the
packages before it in the flow (docs/ARCHITECTURE.md), so validating never renders, rendering
never connects, and the plan stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

from deploys.catalog import REPO

DEPLOYS = REPO / "deploys"
FLOW = ("deploys.layout", "deploys.catalog", "deploys.render", "deploys.target", "deploys.plan",
        "deploys.converge", "deploys.ops", "deploys.marketplace")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(name: str) -> int:
    for i, prefix in enumerate(FLOW):
        if name == prefix or name.startswith(prefix + "."):
            return i
    raise AssertionError(f"{name} is in no step of the flow {FLOW}: put it in one")


def imported(path: Path) -> set[str]:
    """Modules of ours that `path` imports; `from deploys import layout` is deploys.layout."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "deploys":
                names |= {f"deploys.{a.name}" for a in node.names}
            else:
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return {n for n in names if n.split(".")[0] in ("deploys", "bench")}


MODULES = sorted(DEPLOYS.rglob("*.py"))


def test_every_module_is_in_a_step_of_the_flow():
    assert MODULES
    for path in MODULES:
        layer(module_name(path))


def test_each_step_imports_only_the_steps_before_it():
    backwards = []
    for path in MODULES:
        here = layer(module_name(path))
        for name in imported(path):
            if name.startswith("bench") or layer(name) > here:
                backwards.append(f"{path.relative_to(REPO)} imports {name}")
    assert backwards == [], backwards


def test_the_benchmarks_are_outside_the_deploy():
    assert not list(DEPLOYS.rglob("bench*.py"))
    assert (REPO / "bench" / "__main__.py").is_file()


def test_the_catalog_imports_only_itself_and_the_layout():
    outside = {f"{p.name}: {name}" for p in (DEPLOYS / "catalog").glob("*.py") for name in imported(p)
               if not name.startswith(("deploys.catalog", "deploys.layout"))}
    assert outside == set(), sorted(outside)
