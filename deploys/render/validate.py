"""Everything checked before connecting: the catalog (schema and rules) and the ingress proof.

inventory.py, `make validate` and `make deploy` call `check(target)`; it raises CatalogError
listing every problem, so a bad catalog never reaches a host.
"""

from __future__ import annotations

from pathlib import Path

from deploys import catalog as catalog_mod
from deploys.render.ingress import prove
from deploys.render import edge_config


def check(target: str, group_data: Path = catalog_mod.GROUP_DATA) -> catalog_mod.Catalog:
    catalog = catalog_mod.load(target, group_data)
    edge = edge_config(catalog) if "edge" in catalog.services else None
    problems = [catalog_mod.Problem("routes", text, "the rendered ingress",
                                    "make route URL=... shows how a URL travels")
                for text in prove(catalog, edge)] if catalog.routes else []
    if problems:
        raise catalog_mod.CatalogError(target, problems)
    return catalog
