"""A catalog being built: the group_data files of one target, merged, and every problem found
in them, each attributed to the file that set its key."""

from __future__ import annotations

import __future__
import difflib
import functools
import os
import re
import runpy
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent.parent
GROUP_DATA = REPO / "group_data"
# What this checkout keeps on this machine (SSH keys, sudo password files, compiled templates).
STATE = Path(os.environ.get("MARKETPLACE_STATE", REPO / ".state"))
# Keys in group_data that belong to pyinfra (connection settings), not to the catalog.
PYINFRA_KEY = re.compile(r"^(ssh_|_)")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the catalog, said so an operator can fix it."""

    path: str
    message: str
    source: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.path}: {self.message} ({self.source})"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


class CatalogError(Exception):
    """Every problem found in a target's catalog, listed at once."""

    def __init__(self, target: str, problems: list[Problem]):
        self.target = target
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"catalog for target {target!r} has {len(problems)} problem(s):\n{lines}")


@functools.lru_cache(maxsize=None)
def pyinfra_keys() -> tuple[frozenset[str], frozenset[str]]:
    """The connection keys pyinfra knows: its SSH connector's data keys (ssh_*) and its global
    arguments (_sudo, _temp_dir, ...), from pyinfra's own tables."""
    from pyinfra.api.arguments import all_global_arguments
    from pyinfra.connectors.ssh import connector_data_meta

    return frozenset(connector_data_meta), frozenset(name for name, _ in all_global_arguments())


def _connection_typos(values: dict[str, Any], path: Path, problems: list[Problem]) -> None:
    """A key that looks like pyinfra's but is not one is a typo that pyinfra would silently
    ignore (`ssh_file_transfer_protocl`: the deploy would then use SFTP, which DSM restricts)."""
    ssh, arguments = pyinfra_keys()
    for key, value in values.items():
        if callable(value) or type(value).__name__ == "module":
            continue
        if key.startswith("ssh_") and key not in ssh:
            known = sorted(ssh)
        elif re.match(r"^_[a-z]", key) and key not in arguments and difflib.get_close_matches(key, arguments, 1, 0.8):
            known = sorted(arguments)
        else:
            continue
        close = difflib.get_close_matches(key, known, 1, 0.6)
        problems.append(Problem(key, f"unknown connection key {key!r}: pyinfra would ignore it", source_label(path),
                                f"did you mean {close[0]!r}?" if close else f"one of: {', '.join(known)}"))


def _load_file(path: Path, problems: list[Problem]) -> dict[str, Any]:
    """A group_data file's settings; a file that does not run adds a problem naming it and the
    line, and reads as empty."""
    try:
        values = runpy.run_path(str(path))
    except SyntaxError as exc:
        problems.append(Problem("(file)", f"syntax error at line {exc.lineno}: {exc.msg}", source_label(path),
                                "fix the Python syntax there"))
        return {}
    except Exception as exc:  # noqa: BLE001 - any error of a settings file is the operator's to fix
        line = next((f.lineno for f in reversed(traceback.extract_tb(exc.__traceback__))
                     if f.filename == str(path)), "?")
        problems.append(Problem("(file)", f"{type(exc).__name__} at line {line}: {exc}", source_label(path),
                                "a group_data file only sets values"))
        return {}
    _connection_typos(values, path, problems)
    return {k: v for k, v in values.items()
            if not k.startswith("_") and not callable(v) and type(v).__name__ != "module"
            and not isinstance(v, __future__._Feature)}


def merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = merge(base.get(key), value) if key in base else value
        return merged
    return over


def source_label(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)



@functools.lru_cache(maxsize=None)
def targets(group_data: Path = GROUP_DATA) -> list[str]:
    """The targets: every file of group_data/ that says how to reach it (an ssh_* key, its own or
    one it extends); a file without one (standins.py) is only a layer other files extend."""
    found = []
    for path in sorted(group_data.glob("*.py")):
        if path.name == "all.py":
            continue
        try:
            reachable = any(key.startswith("ssh_") for key in connection(path.stem, group_data))
        except CatalogError:
            reachable = True  # a broken target file still names a target: loading it says why
        if reachable:
            found.append(path.stem)
    return found


def layers(target: str, group_data: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The group_data files for a target, in merge order: all, what it extends (and what those
    extend, depth first), itself. Each file appears once."""
    target_file = group_data / f"{target}.py"
    if not target_file.exists():
        raise CatalogError(target, [Problem("target", f"no group_data file {target_file.name}",
                                            str(group_data), f"one of: {', '.join(targets(group_data))}")])
    problems: list[Problem] = []
    ordered: list[tuple[Path, dict[str, Any]]] = [(group_data / "all.py", _load_file(group_data / "all.py", problems))]

    def visit(path: Path, chain: tuple[str, ...]) -> None:
        data = _load_file(path, problems)
        extends = data.pop("extends", [])
        for name in [extends] if isinstance(extends, str) else list(extends):
            if name in chain or name == path.stem:
                problems.append(Problem("extends", f"{' -> '.join((*chain, path.stem, name))} is a circle",
                                        source_label(path), "a file may not extend itself, even through others"))
            elif not (group_data / f"{name}.py").is_file() or name == "all":
                problems.append(Problem("extends", f"no group_data file {name}.py", source_label(path),
                                        "name a file of group_data/, without .py"))
            elif all(p.stem != name for p, _ in ordered):
                visit(group_data / f"{name}.py", (*chain, path.stem))
        ordered.append((path, data))

    visit(target_file, ())
    if problems:
        raise CatalogError(target, problems)
    return ordered


def connection(target: str, group_data: Path = GROUP_DATA) -> dict[str, Any]:
    """How pyinfra reaches a target: its pyinfra keys (ssh_*, _sudo, ...) merged over its layers
    as the catalog's settings are (extends included)."""
    from pyinfra.api.arguments import all_global_arguments

    known = {name for name, _ in all_global_arguments()}
    merged: dict[str, Any] = {}
    for path, _ in layers(target, group_data):
        for key, value in runpy.run_path(str(path)).items():
            if (key.startswith("ssh_") and isinstance(value, (str, int, bool))) or key in known:
                merged[key] = value
    return merged


class Draft:
    """The merged raw data of one target, and the problems found in it so far."""

    def __init__(self, target: str, layered: list[tuple[Path, dict[str, Any]]]):
        self.target = target
        self.layers = [(file, {k: v for k, v in data.items() if not PYINFRA_KEY.match(k)})
                       for file, data in layered]
        self.problems: list[Problem] = []
        raw: dict[str, Any] = {}
        for _, data in self.layers:
            raw = merge(raw, data)
        raw["routes"] = {k: v for k, v in raw.get("routes", {}).items() if v is not None}
        raw["dsm_tasks"] = {k: v for k, v in raw.get("dsm_tasks", {}).items() if v is not None}
        self.raw = raw

    def _setter(self, path: tuple[str, ...]) -> tuple[int, int]:
        """(layer index, depth) of the last file that set the longest part of this key path
        that any file sets: a key no file sets is blamed on the file that made its parent (a
        service defined only in local.py, without a memory limit, is local.py's)."""
        best = (0, 0)
        for index, (_, data) in enumerate(self.layers):
            node: Any = data
            depth = 0
            for key in path:
                if isinstance(node, dict) and key not in node and key.isdigit() and int(key) in node:
                    key = int(key)  # noqa: PLW2901 - int keys (reserved_ports)
                if not isinstance(node, dict) or key not in node:
                    break
                node = node[key]
                depth += 1
            if depth and depth >= best[1]:
                best = (index, depth)
        return best

    def source(self, *path: str, because: tuple[tuple[str, ...], ...] = ()) -> str:
        """The file where a fix belongs: the last file that set this key path, or one of the key
        paths `because` names (a port clash is the file that moved one of the ports; a port
        pushed out of range, the file that set port_offset)."""
        index = max(self._setter(tuple(p))[0] for p in (path, *because))
        return source_label(self.layers[index][0])

    def problem(self, path: tuple[str, ...], message: str, hint: str = "",
                because: tuple[tuple[str, ...], ...] = ()) -> None:
        self.problems.append(Problem(".".join(path), message, self.source(*path, because=because), hint))

    def check_schema(self) -> None:
        """Unknown keys and wrong types in each file (named), then required keys once merged."""
        from deploys.catalog import schema

        types = schema.annotations(self.layers[0][0])
        for file, data in self.layers:
            for path, message, hint in schema.check(data, types, merged=False):
                self.problems.append(Problem(path, message, source_label(file), hint))
        if not self.problems:
            for path, message, hint in schema.check(self.raw, types, merged=True):
                self.problems.append(Problem(path, message, self.source(*path.split(".")), hint))

    # -- macros -----------------------------------------------------------------------------


    def all_raw(self) -> dict[str, dict[str, Any]]:
        """Every service (enabled or not) with the defaults merged in."""
        defaults = self.raw["service_defaults"]
        return {name: merge(defaults, svc) for name, svc in self.raw["services"].items()}

    def enabled_raw(self) -> dict[str, dict[str, Any]]:
        return {name: svc for name, svc in self.all_raw().items() if svc.get("enabled")}
