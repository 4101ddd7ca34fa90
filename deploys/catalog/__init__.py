"""The catalog: group_data files merged for one target, checked, and derived into one model.

Data flows one way: group_data -> draft (merged, attributed) -> schema -> derive -> rules ->
Catalog -> templates -> operations -> checks. Nothing else reads group_data.

  draft.py    load and merge the files of a target; every problem names the file that set it
  schema.py   shapes: the annotations of group_data/all.py
  macros.py   {secret:..} {db:..} {key:..} {hostname:..} {integrations}
  derive.py   the draft as the model (model.py)
  rules.py    what would break the NAS (facts of docs/FIELD-NOTES.md)
"""

from __future__ import annotations

from pathlib import Path

from deploys.catalog import derive, rules
from deploys.catalog.draft import GROUP_DATA, REPO, STATE, CatalogError, Draft, Problem, connection, layers, targets
from deploys.catalog.model import DB_ENGINES, MACRO, SECRET_TOKEN, Catalog, Health, Route, Service

__all__ = ["DB_ENGINES", "GROUP_DATA", "MACRO", "REPO", "STATE", "SECRET_TOKEN", "connection", "targets", "Catalog",
           "CatalogError", "Health", "Problem", "Route", "Service", "load"]


def load(target: str, group_data: Path = GROUP_DATA, strict: bool = True) -> Catalog:
    """Build the catalog of one target; raises CatalogError listing every problem. With
    strict=False only shape errors raise, and rule problems are kept in `problems` (for tools
    that read a catalog without deploying it, like `make route`)."""
    draft = Draft(target, layers(target, group_data))
    draft.check_schema()
    if draft.problems:
        raise CatalogError(target, draft.problems)
    catalog = derive.catalog(draft)
    rules.check(catalog, draft)
    if draft.problems and strict:
        raise CatalogError(target, draft.problems)
    catalog.problems = list(draft.problems)
    return catalog
