"""The shared cloudflared (tunnel.mode "shared"): our rules as one managed block in another
site's config.yml (the WattSun site's, as the original plan has it), every foreign byte kept.

The block sits in the `ingress:` list just before that file's catch-all, between two marker
comments. merge() refuses, naming the rule, when a foreign rule claims one of our hostnames or
would catch one of our routes first; scripts/shared_tunnel.sh then validates, backs up,
installs, restarts the tunnel only when the file changed, and restores the previous file when
the tunnel does not report ready in time.
"""

from __future__ import annotations

import json
import re

import yaml

from deploys.catalog import Catalog
from deploys.ingress import Rule, first_match, probes, tunnel_rules

ITEM = re.compile(r"^(\s*)- ")


class SharedTunnelError(Exception):
    """The foreign config cannot take our block safely (every reason listed)."""


def markers(catalog: Catalog) -> tuple[str, str]:
    return (f"# BEGIN {catalog.project_name} (managed by the marketplace deploy: "
            "edits inside are replaced)", f"# END {catalog.project_name}")


def _rules(config: dict) -> list[Rule]:
    return [Rule(r.get("service", ""), r.get("hostname"), r.get("path")) for r in config.get("ingress") or []]


def without_block(text: str, catalog: Catalog) -> str:
    """The foreign file with our block (if any) taken out."""
    begin, end = markers(catalog)
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.strip() == begin]
    ends = [i for i, line in enumerate(lines) if line.strip() == end]
    if not starts and not ends:
        return text
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise SharedTunnelError("the managed block's markers are damaged "
                                f"({len(starts)} BEGIN, {len(ends)} END): fix them by hand")
    return "".join(lines[:starts[0]] + lines[ends[0] + 1:])


def block(catalog: Catalog, indent: str) -> str:
    begin, end = markers(catalog)
    out = [f"{indent}{begin}\n"]
    for rule in tunnel_rules(catalog, catch_all=False):
        config = rule.as_config()
        first = True
        for key, value in config.items():
            out.append(f"{indent}{'- ' if first else '  '}{key}: {json.dumps(value)}\n")
            first = False
    out.append(f"{indent}{end}\n")
    return "".join(out)


def check_foreign(foreign: list[Rule], ours: list[Rule], catalog: Catalog, insert_at: int) -> list[str]:
    """Why our block cannot go in: a foreign rule that claims our hostname or takes our routes."""
    problems = []
    hostnames = {h.lower() for h in catalog.hostnames.values()}
    for i, rule in enumerate(foreign):
        if rule.invalid():
            problems.append(f"foreign rule {i + 1} {rule.describe()}: {rule.invalid()}")
        elif rule.hostname and rule.hostname.lower() in hostnames:
            problems.append(f"foreign rule {i + 1} {rule.describe()} claims {rule.hostname}, which "
                            "the marketplace serves: remove it from the shared config")
    if problems:
        return problems
    merged = foreign[:insert_at] + ours + foreign[insert_at:]
    for route in catalog.routes:
        for path in probes(route):
            hit = first_match(merged, route.hostname, path)
            if hit and hit[0] < insert_at:
                ours_rule = first_match(ours, route.hostname, path)
                problems.append(f"foreign rule {hit[0] + 1} {hit[1].describe()} would shadow ours "
                                f"{ours_rule[1].describe() if ours_rule else ''}: "
                                f"https://{route.hostname}{path} (route {route.name}) never reaches it")
                break
    return sorted(set(problems), key=problems.index)


def merge(text: str, catalog: Catalog) -> str:
    """The foreign config with our block in place (idempotent); raises SharedTunnelError."""
    base = without_block(text, catalog)
    try:
        config = yaml.safe_load(base) or {}
    except yaml.YAMLError as exc:
        raise SharedTunnelError(f"the shared config is not valid YAML: {exc}") from None
    foreign = _rules(config)
    if not foreign or foreign[-1].hostname or foreign[-1].path:
        raise SharedTunnelError("the shared config's ingress does not end with a catch-all rule")
    lines = base.splitlines(keepends=True)
    ingress_at = next((i for i, line in enumerate(lines) if re.match(r"^ingress:\s*(#.*)?$", line)), None)
    if ingress_at is None:
        raise SharedTunnelError("the shared config has no top-level `ingress:` block list")
    items = [(i, ITEM.match(line).group(1)) for i, line in enumerate(lines[ingress_at + 1:], ingress_at + 1)
             if ITEM.match(line)]
    indent = items[0][1]
    items = [i for i, ind in items if ind == indent]
    if len(items) != len(foreign):
        raise SharedTunnelError("the shared config's ingress list is not in block style, one `- ` "
                                "per rule: the deploy cannot edit it safely")
    ours = tunnel_rules(catalog, catch_all=False)
    problems = check_foreign(foreign, ours, catalog, len(foreign) - 1)
    if problems:
        raise SharedTunnelError("; ".join(problems))
    at = items[-1]
    merged = "".join(lines[:at]) + block(catalog, indent) + "".join(lines[at:])
    parsed = [r.as_config() for r in _rules(yaml.safe_load(merged))]
    if parsed != [r.as_config() for r in foreign[:-1] + ours + foreign[-1:]]:
        raise SharedTunnelError("the merged config does not parse back to the foreign rules plus ours")
    return merged
