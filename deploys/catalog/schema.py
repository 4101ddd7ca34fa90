"""The catalog's schema: the annotations of group_data/all.py, checked against every file.

all.py annotates each setting (`port_offset: int = 0`) and declares the shape of nested
settings as TypedDicts. `check(data, source)` walks one group_data file's values against those
types and returns every unknown key and wrong type as (key path, message, hint).
"""

from __future__ import annotations

import difflib
import types
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Union

# Keys people reach for that Synology's Compose 2.20.1 (or the catalog) does not take.
KNOWN_MISTAKES = {
    "start_interval": "healthcheck.start_interval needs Engine API 1.44; DSM ships Docker 24 "
                      "(API 1.43): drop it",
    "start_interval_s": "healthcheck.start_interval needs Engine API 1.44; DSM ships Docker 24 "
                        "(API 1.43): drop it",
    "ports": "publish with `port` and `host_port` (one port, bound to bind_address)",
    "routes": "routes are a top-level setting: routes.NAME = {host, path, service}",
    "secret_file": "each service has its own secret env file (secrets/<service>.env)",
}


# TypedDict -> its evaluated field types (filled by annotations()).
_FIELDS: dict[type, dict[str, Any]] = {}


@lru_cache(maxsize=None)
def annotations(all_file: Path) -> dict[str, Any]:
    """The evaluated annotations of all.py: top-level key -> type."""
    import runpy

    namespace = runpy.run_path(str(all_file))
    evaluate = {**vars(typing), **namespace}
    for value in namespace.values():
        if typing.is_typeddict(value):
            _FIELDS[value] = typing.get_type_hints(value, globalns=evaluate, include_extras=True)
    return {key: eval(text, evaluate) if isinstance(text, str) else text  # noqa: S307 - our file
            for key, text in namespace["__annotations__"].items()}


def type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is type(None):
        return "None"
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(tp))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(type_name(a) for a in typing.get_args(tp))}]"
    if typing.is_typeddict(tp):
        return f"a {tp.__name__} mapping"
    return getattr(tp, "__name__", str(tp))


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) in (typing.Required, typing.NotRequired):
        tp = typing.get_args(tp)[0]
    return tp


def check(data: dict[str, Any], schema: dict[str, Any], *, merged: bool) -> list[tuple[str, str, str]]:
    """Every problem of `data` against `schema` (top-level key -> type). With merged=True,
    required keys of nested mappings must be present (a single file may set part of one)."""
    problems: list[tuple[str, str, str]] = []
    _mapping(data, schema, set() if not merged else None, (), problems, merged)
    return problems


def _unknown(key: str, known: list[str], path: tuple[str, ...], problems: list) -> None:
    hint = KNOWN_MISTAKES.get(key, "")
    if not hint:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
    problems.append((".".join(path + (key,)), f"unknown key {key!r}", hint))


def _mapping(data: dict, fields: dict[str, Any], required: set[str] | None, path: tuple[str, ...],
             problems: list, merged: bool) -> None:
    for key, value in data.items():
        if key not in fields:
            _unknown(str(key), list(fields), path, problems)
            continue
        _value(value, _unwrap(fields[key]), path + (str(key),), problems, merged)
    for key in sorted(required or ()):
        if key not in data:
            problems.append((".".join(path + (key,)), "is required", f"set {key!r} here"))


def _value(value: Any, tp: Any, path: tuple[str, ...], problems: list, merged: bool) -> None:
    origin = typing.get_origin(tp)
    where = ".".join(path)
    if tp is Any:
        return
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return
        inner = [o for o in options if o is not type(None)]
        for option in inner:
            if _fits(value, option):
                _value(value, option, path, problems, merged)
                return
        problems.append((where, f"expected {type_name(tp)}, got {_describe(value)}", ""))
        return
    if not _fits(value, tp):
        problems.append((where, f"expected {type_name(tp)}, got {_describe(value)}", ""))
        return
    if origin is list:
        (item,) = typing.get_args(tp)
        for i, element in enumerate(value):
            _value(element, item, path[:-1] + (f"{path[-1]}[{i}]",), problems, merged)
    elif origin is dict:
        key_tp, value_tp = typing.get_args(tp)
        for key, element in value.items():
            if not _fits(key, key_tp):
                problems.append((where, f"key {key!r}: expected {type_name(key_tp)}", ""))
            _value(element, value_tp, path + (str(key),), problems, merged)
    elif typing.is_typeddict(tp):
        fields = _FIELDS[tp]
        required = {k for k, v in fields.items() if typing.get_origin(v) is typing.Required} \
            if merged else None
        _mapping(value, fields, required, path, problems, merged)


def _fits(value: Any, tp: Any) -> bool:
    """Whether value has the outer shape of tp (nested values are checked by the caller)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return True
    if tp is type(None):
        return value is None
    if origin is Literal:
        return value in typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return any(_fits(value, option) for option in typing.get_args(tp))
    if origin is list:
        return isinstance(value, list)
    if origin is dict or typing.is_typeddict(tp):
        return isinstance(value, dict)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) < 40 else text[:37] + '...'}"


def fields_of(tp: Any) -> dict[str, Any]:
    """The keys of a nested setting's shape and their types ({} for anything else)."""
    tp = _unwrap(tp)
    if not typing.is_typeddict(tp):
        return {}
    return {key: _unwrap(value) for key, value in _FIELDS[tp].items()}
