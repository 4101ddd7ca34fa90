"""The data flows one way: the catalog (load, validate, derive) needs nothing of what comes
after it (rendering, the engines' files, the target), so validating never renders."""

from __future__ import annotations

import ast
from pathlib import Path

from deploys.catalog import REPO

CATALOG = REPO / "deploys" / "catalog"
ALLOWED = ("deploys.catalog", "deploys.layout")


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return {n for n in names if n.startswith("deploys")}


def test_the_catalog_imports_only_itself_and_the_layout():
    outside = {f"{p.name}: {name}" for p in CATALOG.glob("*.py") for name in imported(p)
               if not name.startswith(ALLOWED) and name != "deploys"}
    # `from deploys import layout` reads as deploys + deploys.layout
    assert outside == set(), sorted(outside)
