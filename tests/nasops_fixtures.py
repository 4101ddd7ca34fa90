"""The NAS-side program's unit tests' ground: a stack description rendered from the real
catalog (group_data/local.py, or one with extra settings), re-rooted in a test's folder."""

from __future__ import annotations

import json
from pathlib import Path

from deploys.catalog import GROUP_DATA, load
from deploys.render.stack_description import describe
from nasops.stack import Stack


def catalog_with(tmp_path: Path, extra: str = "", target: str = "local"):
    folder = tmp_path / "group_data"
    folder.mkdir(exist_ok=True)
    for f in GROUP_DATA.glob("*.py"):
        (folder / f.name).write_text(f.read_text())
    (folder / f"{target}.py").write_text((folder / f"{target}.py").read_text() + extra)
    return load(target, folder)


def stack_in(root: Path, catalog=None, **override) -> Stack:
    """The description of `catalog` (local's by default) with its paths under root."""
    raw = json.loads(json.dumps(describe(catalog or load("local"))))
    raw["deploy_root"] = str(root)
    raw["backup"]["dir"] = str(root / "backups")
    raw["disks"] = [{**d, "path": str(root if d["name"] == "deploy_root" else root / "backups")} for d in raw["disks"]]
    if raw["monitoring"]:
        raw["monitoring"]["password_file"] = str(root / "secrets/values/monitoring_password")
    raw.update(override)
    return Stack.from_dict(raw)
