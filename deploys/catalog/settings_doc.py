"""docs/SETTINGS.md, generated from the one source of every setting: group_data/all.py (the
comment above a key is its meaning, the annotation its type, the value its default).

  python -m deploys.catalog.settings_doc > docs/SETTINGS.md     (make docs)

tests/test_docs.py fails when the committed file and this output differ.
"""

from __future__ import annotations

import ast
import io
import json
import sys
import tokenize
import typing
from pathlib import Path

from deploys.catalog import safety, schema
from deploys.catalog.draft import GROUP_DATA

HEADER = """# Settings

Generated from `group_data/all.py` by `make docs`; do not edit by hand (a test compares them).
Every setting has its default here; a target file (`group_data/production.py`, `staging.py`,
`local.py`) sets only what differs, and dicts merge key by key. Per-service keys are those of
`service_defaults`; each service of `services` starts from them.

| setting | type | default | meaning |
| --- | --- | --- | --- |
"""


def _comments(source: str) -> dict[int, str]:
    """line number -> the text of a comment that is alone on its line."""
    found = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT and not tok.line[:tok.start[1]].strip():
            found[tok.start[0]] = tok.string.lstrip("#").strip()
    return found


def _above(comments: dict[int, str], line: int) -> str:
    """The comment block directly above a line, joined."""
    block = []
    while line - 1 in comments:
        line -= 1
        block.insert(0, comments[line])
    return " ".join(block)


def _default(node: ast.AST, source: str) -> str:
    """A short rendering of a default: small values as written, big mappings by their keys."""
    value = ast.literal_eval(node) if not isinstance(node, ast.Name) else ast.get_source_segment(source, node)
    if isinstance(value, dict) and len(json.dumps(value, default=str)) > 70:
        return "entries: " + ", ".join(f"`{k}`" for k in value)
    return f"`{json.dumps(value, default=str)}`".replace("|", "\\|")


def _type(tp) -> str:
    return schema.type_name(tp).replace("|", "\\|")


def _rows(prefix: str, node: ast.AST, tp, comments: dict[int, str], source: str) -> list[str]:
    """Rows for the commented keys of a dict literal (recursively)."""
    rows = []
    if not isinstance(node, ast.Dict):
        return rows
    fields = schema.fields_of(tp)
    lines = source.splitlines()
    for key, value in zip(node.keys, node.values):
        if not isinstance(key, ast.Constant) or key.value not in fields:
            continue
        if lines[key.lineno - 1][:key.col_offset].strip():
            continue  # a mapping written on one line: its parent's row shows it
        name = f"{prefix}.{key.value}"
        doc = _above(comments, key.lineno) or ("as above" if rows else "")
        sub = _rows(name, value, fields[key.value], comments, source)
        if doc or not sub:
            rows.append(f"| `{name}` | {_type(fields[key.value])} | {_default(value, source)} | {doc} |")
        rows += sub
    return rows


def generate(all_file: Path = GROUP_DATA / "all.py") -> str:
    source = all_file.read_text()
    comments = _comments(source)
    types = schema.annotations(all_file)
    rows = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        name = node.target.id
        tp = types[name]
        rows.append(f"| `{name}` | {_type(tp)} | {_default(node.value, source)} | "
                    f"{_above(comments, node.lineno)} |")
        if typing.is_typeddict(typing.get_origin(tp) or tp):
            rows += _rows(name, node.value, tp, comments, source)
    return HEADER + "\n".join(rows) + "\n" + _patterns()


def _patterns() -> str:
    """The patterns and the allow-list the catalog enforces (deploys/catalog/safety.py)."""
    names = "\n".join(f"| {kind} | `{pattern.pattern}` | {why} |"
                      for kind, (pattern, why) in safety.NAMES.items())
    powers = "\n".join(f"| `{key}` | {why} |" for key, why in safety.POWERS.items())
    return f"""
## Names, paths and powers

Names become paths, shell words, SQL identifiers and Compose keys, so each kind has one pattern:

| name | pattern | in words |
| --- | --- | --- |
{names}

Paths: a volume's source, `tunnel.credentials_file` and `tunnel.shared.backup_dir` are relative
paths under `deploy_root` (`{safety.RELATIVE_PATH.pattern}`: no `..`, nothing absolute); a volume
is never mounted at the Docker socket; build contexts and DDL files are inside this repository.
`deploy_root` and `backup_dir` are absolute, normalised, at least two levels deep (three under a
DSM volume: never a whole volume or shared folder such as `/volume1/web`), and never a system
directory ({", ".join(f"`{d}`" for d in sorted(safety.SYSTEM_DIRS))}, or inside
{", ".join(f"`{d}`" for d in safety.SYSTEM_TREES)}).

Container powers in a service's `compose` are refused unless `allowed_powers` names the service
and the power:

| power | what it gives the container |
| --- | --- |
{powers}
"""


if __name__ == "__main__":
    sys.stdout.write(generate())
