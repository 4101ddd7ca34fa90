"""The ingress, proved: the tunnel's rules and the edge's locations, matched the way cloudflared
and nginx match them, so every route of the catalog is shown to reach its service.

cloudflared (FIELD-NOTES.md, ingress/ingress.go FindMatchingRule): rules are tried top to
bottom and the first match wins; `hostname` matches exactly, or with a leading `*.` any
subdomain (not the apex); `path` is a regex SEARCHED in the URL path (unanchored), so the
catalog renders anchored ones (^/api(/|$)). The last rule is the catch-all.
nginx (the edge, as templates/edge.conf.j2 renders it): the server whose server_name is the Host
header (else the default server); then an exact `location = P` match; else the longest prefix
location (`^~ P` or `P`). There are no regex locations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import re2
from urllib.parse import urlsplit

from deploys import layout
from deploys.catalog import Catalog, Route

CATCH_ALL = "http_status:404"


@dataclass(frozen=True)
class Rule:
    """One cloudflared ingress rule (`route` names the catalog route it was rendered for)."""

    service: str
    hostname: str | None = None
    path: str | None = None
    route: str | None = None

    def matches(self, host: str, path: str) -> bool:
        """cloudflared's matching (ingress/rule.go): the request's port is ignored, hostnames
        compare case-insensitively, `*` is every host, a leading `*.` any subdomain (not the
        apex); `path` is an RE2 regular expression searched in the path (unanchored)."""
        host = host.rsplit(":", 1)[0].lower() if not host.endswith("]") else host.lower()
        wanted = (self.hostname or "").lower()
        if wanted and wanted != "*":
            if wanted.startswith("*."):
                if not host.endswith(wanted[1:]) or host == wanted[2:]:
                    return False
            elif host != wanted:
                return False
        return self.path is None or re2.search(self.path, path) is not None

    def invalid(self) -> str | None:
        """Why cloudflared would refuse this rule's path (not RE2: lookaround, backreferences)."""
        if self.path is None:
            return None
        try:
            re2.compile(self.path)
        except re2.error as exc:
            return f"path {self.path!r} is not an RE2 regular expression ({exc})"
        return None

    def describe(self) -> str:
        parts = [f"hostname: {self.hostname}"] if self.hostname else []
        parts += [f"path: {self.path}"] if self.path else []
        return "{" + ", ".join(parts + [f"service: {self.service}"]) + "}"

    def as_config(self) -> dict[str, str]:
        """The rule as config.yml / the Cloudflare API write it."""
        config = {"hostname": self.hostname, "path": self.path, "service": self.service}
        return {k: v for k, v in config.items() if v is not None}


def edge_origin(catalog: Catalog) -> str:
    """Where the tunnel sends the catalog's hostnames: the edge, by its container name on the
    stack's network, or by its tunnel port published for a cloudflared outside the stack
    (shared mode)."""
    edge = catalog.edge
    if catalog.tunnel["mode"] == "shared":
        return f"http://{catalog.bind_address}:{edge.tunnel_published[0]}"
    return f"http://edge:{catalog.tunnel['edge_port']}"


def tunnel_rules(catalog: Catalog, catch_all: bool = True) -> list[Rule]:
    """The catalog's ingress: one rule per route, most specific first, then the catch-all."""
    origin = edge_origin(catalog)
    rules = [Rule(origin, r.hostname, r.path_regex, r.name) for r in catalog.routes]
    host = catalog.monitoring_hostname
    if host and not any(r.hostname == host and not r.prefix for r in catalog.routes):
        # the status page, on a hostname without a route for "/"
        rules.insert(0, Rule(origin, host, f"^{re.escape(layout.STATUS_PATH)}(/|$)", "monitoring"))
    return rules + ([Rule(CATCH_ALL)] if catch_all else [])


def first_match(rules: list[Rule], host: str, path: str) -> tuple[int, Rule] | None:
    for i, rule in enumerate(rules):
        if rule.matches(host, path):
            return i, rule
    return None


def witnesses(rule: Rule) -> list[str]:
    """Paths a rule is meant to match: its prefix, below it, and (for hostname-only) anything."""
    if rule.path is None:
        return ["/", "/zz-witness/x"]
    literal = re.sub(r"\(/\|\$\)$", "", rule.path)
    literal = re.sub(r"[\^$]|\.\*|\\(?=.)|\(.*?\)|[*+?]", "", literal).rstrip("/") or "/"
    if not literal.startswith("/"):
        literal = "/" + literal
    return [literal, literal.rstrip("/") + "/", literal.rstrip("/") + "/zz-witness"]


def witness_host(rule: Rule) -> str:
    if rule.hostname is None:
        return "zz-witness.invalid"
    return "zz-witness" + rule.hostname[1:] if rule.hostname.startswith("*.") else rule.hostname


def unreachable(rules: list[Rule]) -> list[tuple[int, int]]:
    """(rule, earlier rule that catches everything it would match) for every rule that can
    never match: each of its witness paths is taken by an earlier rule."""
    found = []
    for i, rule in enumerate(rules):
        host = witness_host(rule)
        paths = [p for p in witnesses(rule) if rule.matches(host, p)]
        if not paths:
            continue
        earlier = [first_match(rules[:i], host, p) for p in paths]
        if all(earlier):
            found.append((i, earlier[0][0]))
    return found


# -- the edge ---------------------------------------------------------------------------------

@dataclass
class Location:
    modifier: str  # "=", "^~" or ""
    path: str
    upstream: str | None = None  # service:port proxied to
    rewrite: tuple[str, str] | None = None
    returns: str | None = None


@dataclass
class Server:
    names: list[str]
    default: bool = False
    locations: list[Location] = field(default_factory=list)


def parse_edge(conf: str) -> list[Server]:
    """The servers and locations of the edge's rendered nginx config (our template's subset)."""
    servers: list[Server] = []
    server: Server | None = None
    location: Location | None = None
    upstream_name = None
    for raw in conf.splitlines():
        line = raw.split("#", 1)[0].strip().rstrip(";").strip()
        if line == "server {":
            server = Server([])
            servers.append(server)
        elif server is None:
            continue
        elif line.startswith("listen ") and "default_server" in line:
            server.default = True
        elif line.startswith("server_name "):
            server.names = line.split()[1:]
        elif line.startswith("location "):
            parts = line[len("location "):].rstrip("{").split()
            modifier, path = (parts[0], parts[1]) if len(parts) == 2 else ("", parts[0])
            location = Location(modifier, path)
            server.locations.append(location)
        elif location is not None and line.startswith("set $upstream "):
            upstream_name = line.split()[2]
        elif location is not None and line.startswith("proxy_pass "):
            port = line.rsplit(":", 1)[1]
            location.upstream = f"{upstream_name}:{port}"
        elif location is not None and line.startswith("rewrite "):
            _, pattern, replacement = line.split()[:3]
            location.rewrite = (pattern, replacement)
        elif location is not None and line.startswith("return "):
            location.returns = line[len("return "):]
        elif line == "}" and location is not None:
            location = None
    return servers


def edge_match(servers: list[Server], host: str, path: str) -> tuple[Server, Location | None]:
    server = next((s for s in servers if host in s.names), None) or next(s for s in servers if s.default)
    exact = next((loc for loc in server.locations if loc.modifier == "=" and loc.path == path), None)
    if exact:
        return server, exact
    prefixes = [loc for loc in server.locations if loc.modifier != "=" and path.startswith(loc.path)]
    return server, max(prefixes, key=lambda loc: len(loc.path), default=None)


def upstream_path(location: Location, path: str) -> str:
    if location.rewrite:
        pattern, replacement = location.rewrite
        match = re.match(pattern, path)
        if match:
            return re.sub(r"\$(\d)", lambda m: match.group(int(m.group(1))), replacement)
    return path


# -- proofs -----------------------------------------------------------------------------------

def probes(route: Route) -> list[str]:
    """Paths that must reach a route's service through the tunnel and the edge."""
    if not route.prefix:
        return ["/", "/zz-probe/deeper"]
    return [f"{route.prefix}/", f"{route.prefix}/zz-probe/deeper"] + (
        [] if route.strip_prefix else [route.prefix])


def prove_rules_only(rules: list[Rule]) -> list[str]:
    """What is wrong with a list of tunnel rules by itself: a missing catch-all, rules that
    can never match."""
    problems = []
    if not rules or rules[-1].hostname or rules[-1].path:
        problems.append("tunnel: the last rule is not a catch-all")
    for i, earlier in unreachable(rules):
        problems.append(f"tunnel: rule {i + 1} {rules[i].describe()} can never match: "
                        f"rule {earlier + 1} {rules[earlier].describe()} takes everything it would")
    return problems


def prove(catalog: Catalog, edge_conf: str | None, rules: list[Rule] | None = None) -> list[str]:
    """Every way the ingress fails the catalog: a route's probe that does not reach its service
    (through the tunnel's rules, then the edge), a tunnel rule or edge location that can never
    match, a missing catch-all. Empty when the ingress is proved."""
    rules = tunnel_rules(catalog) if rules is None else rules
    origin = edge_origin(catalog)
    problems = prove_rules_only(rules)
    servers = parse_edge(edge_conf) if edge_conf is not None else None
    for route in catalog.routes:
        for path in probes(route):
            url = f"https://{route.hostname}{path}"
            hit = first_match(rules, route.hostname, path)
            if hit is None or hit[1].service != origin:
                got = hit[1].describe() if hit else "no rule"
                problems.append(f"tunnel: {url} (route {route.name}) goes to {got}, not the edge")
                continue
            if servers is None:
                continue
            _, location = edge_match(servers, route.hostname, path)
            want = f"{route.service}:{route.port}"
            if location is None or location.upstream != want:
                got = location.upstream or f"return {location.returns}" if location else "nothing"
                problems.append(f"edge: {url} (route {route.name}) goes to {got}, not {want}")
    if servers is not None:
        for server in servers:
            seen = set()
            for loc in server.locations:
                key = (loc.modifier == "=", loc.path)
                if key in seen:
                    problems.append(f"edge: server {' '.join(server.names)}: location "
                                    f"{loc.modifier} {loc.path} twice; the second never matches")
                seen.add(key)
    return problems


def explain(catalog: Catalog, edge_conf: str | None, url: str,
            rules: list[Rule] | None = None) -> list[str]:
    """How a URL travels (like `cloudflared tunnel ingress rule URL`, then the edge)."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    host, path = parts.hostname or "", parts.path or "/"
    rules = tunnel_rules(catalog) if rules is None else rules
    lines = [f"target {catalog.target}: {url}"]
    hit = first_match(rules, host, path)
    if hit is None:
        return lines + ["  tunnel: no rule matches", f"  => {CATCH_ALL}"]
    i, rule = hit
    lines.append(f"  tunnel: rule {i + 1} {rule.describe()}"
                 + (f" (route {rule.route})" if rule.route else ""))
    if rule.service != edge_origin(catalog):
        return lines + [f"  => {rule.service}"]
    if edge_conf is None:
        return lines + ["  => the edge (no edge in this catalog)"]
    server, location = edge_match(parse_edge(edge_conf), host, path)
    where = "default server" if server.default else f"server {' '.join(server.names)}"
    if location is None:
        return lines + [f"  edge: {where}: no location", "  => 404"]
    lines.append(f"  edge: {where}, location {(location.modifier + ' ') if location.modifier else ''}"
                 f"{location.path}")
    if location.upstream:
        service = location.upstream.split(":")[0]
        return lines + [f"  => service {service} (http://{location.upstream}{upstream_path(location, path)})"]
    return lines + [f"  => return {location.returns}"]
