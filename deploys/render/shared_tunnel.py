"""The shared cloudflared (tunnel.mode "shared"): our rules as one managed block in another
site's config.yml (the WattSun site's, as the original plan has it), every foreign byte kept.

The block is the FIRST thing in the `ingress:` list, between two marker comments, and it ends
with a 404 for each of our hostnames that no route of ours covers whole: cloudflared tries rules
top to bottom, so no foreign rule, whatever its hostname pattern or path regex (a `path:
"health$"` without a hostname takes every host's /api/health), can ever see a request for one of
our hostnames; and since every rule of ours names one of our hostnames exactly, a request for a
foreign hostname reaches the very rule it reached before. merge() proves both on the merged
rules, and refuses (naming the rule) a foreign rule that cloudflared would refuse or that claims
one of our hostnames by name; scripts/shared_tunnel.sh then validates, backs up, installs,
restarts the tunnel only when the file changed, and restores the previous file when the tunnel
does not report ready in time.
"""

from __future__ import annotations

import json
import re

import yaml

from deploys.catalog import Catalog
from deploys.render.ingress import CATCH_ALL, Rule, first_match, probes, tunnel_rules, witness_host, witnesses

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


def our_rules(catalog: Catalog) -> list[Rule]:
    """Our block's rules: the catalog's routes, then a 404 for each of our hostnames that they do
    not cover whole, so that nothing for our hostnames falls through to the foreign rules."""
    rules = tunnel_rules(catalog, catch_all=False)
    covered = {r.hostname for r in rules if r.path is None}
    hosts = dict.fromkeys(r.hostname for r in rules if r.hostname)
    return rules + [Rule(CATCH_ALL, host, route="ours-only") for host in hosts if host not in covered]


def block(catalog: Catalog, indent: str) -> str:
    begin, end = markers(catalog)
    out = [f"{indent}{begin}\n"]
    for rule in our_rules(catalog):
        config = rule.as_config()
        first = True
        for key, value in config.items():
            out.append(f"{indent}{'- ' if first else '  '}{key}: {json.dumps(value)}\n")
            first = False
    out.append(f"{indent}{end}\n")
    return "".join(out)


def check_foreign(foreign: list[Rule], catalog: Catalog) -> list[str]:
    """Why our block cannot go in: a foreign rule cloudflared would refuse, or one that names one
    of our hostnames (it would never be reached again: its site must drop it)."""
    problems = []
    hostnames = {h.lower() for h in catalog.hostnames.values()}
    for i, rule in enumerate(foreign):
        if rule.invalid():
            problems.append(f"foreign rule {i + 1} {rule.describe()}: {rule.invalid()}")
        elif rule.hostname and rule.hostname.lower() in hostnames:
            problems.append(f"foreign rule {i + 1} {rule.describe()} claims {rule.hostname}, which "
                            "the marketplace serves: remove it from the shared config")
    return problems


def proof(foreign: list[Rule], ours: list[Rule], catalog: Catalog) -> list[str]:
    """What the placement guarantees, checked on the merged rules: every request for one of our
    hostnames (each route's probe paths, a path no route has) ends in our block; every request a
    foreign rule is meant for reaches that same foreign rule as before."""
    merged = ours + foreign
    problems = []
    paths = {p for route in catalog.routes for p in probes(route)} | {"/", "/zz-nothing-routes-here/health"}
    for host in dict.fromkeys(r.hostname for r in ours if r.hostname):
        for path in sorted(paths):
            hit = first_match(merged, host, path)
            if hit is None or hit[0] >= len(ours):
                problems.append(f"https://{host}{path} would reach {hit[1].describe() if hit else 'no rule'}")
    for rule in foreign:
        host = witness_host(rule)
        if host.lower() in {h.lower() for h in catalog.hostnames.values()}:
            continue
        for path in witnesses(rule):
            before, after = first_match(foreign, host, path), first_match(merged, host, path)
            if (before and before[0]) != (after and after[0] - len(ours)):
                problems.append(f"https://{host}{path} would no longer reach {rule.describe()}")
    return problems


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
    ours = our_rules(catalog)
    problems = check_foreign(foreign, catalog) or proof(foreign, ours, catalog)
    if problems:
        raise SharedTunnelError("; ".join(problems))
    at = items[0]
    merged = "".join(lines[:at]) + block(catalog, indent) + "".join(lines[at:])
    parsed = [r.as_config() for r in _rules(yaml.safe_load(merged))]
    if parsed != [r.as_config() for r in ours + foreign]:
        raise SharedTunnelError("the merged config does not parse back to our rules, then the foreign ones")
    return merged
