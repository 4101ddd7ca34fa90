"""The shared cloudflared: our managed block in another site's config.yml, foreign bytes kept."""

from __future__ import annotations

import re

import pytest
import yaml

from deploys import catalog as catalog_mod
from deploys.render import render
from deploys.render.shared_tunnel import SharedTunnelError, merge, without_block

WATTSUN = """\
# WattSun production tunnel -- hand-maintained, do not reformat.
tunnel: wattsun-prod
credentials-file: /etc/cloudflared/wattsun.json

ingress:
  - hostname: wattsun.co.ke
    service: http://localhost:3000
  - hostname: www.wattsun.co.ke   # the shop
    service: http://localhost:3000
    originRequest:
      noTLSVerify: true
  - service: http_status:404
"""


@pytest.fixture
def shared(group_data):
    root = group_data("local", "\n".join([
        'extends = ["standins"]',
        'tunnel = {"mode": "shared"}',
        'services = {"cloudflared": {"enabled": False}}']))
    return catalog_mod.load("local", root)


def test_our_block_comes_first_and_foreign_bytes_are_kept(shared):
    merged = merge(WATTSUN, shared)
    assert without_block(merged, shared) == WATTSUN
    rules = yaml.safe_load(merged)["ingress"]
    foreign = yaml.safe_load(WATTSUN)["ingress"]
    ours = rules[:-len(foreign)]
    assert rules[len(ours):] == foreign
    main = [r.get("path") for r in ours if r["hostname"] == "boma.wattsun.co.ke"]
    assert main == ["^/billing(/|$)", "^/api(/|$)", None]
    assert len(ours) == 5
    # the edge's tunnel port, published for the other site's cloudflared (tunnel.shared.edge_host_port)
    assert all(r["service"] == "http://127.0.0.1:3180" for r in ours)
    assert "# BEGIN marketplace" in merged and "# END marketplace" in merged


def test_a_hostname_no_route_covers_whole_ends_in_our_404(group_data):
    root = group_data("local", "\n".join([
        'extends = ["standins"]', 'tunnel = {"mode": "shared"}',
        'services = {"cloudflared": {"enabled": False}}',
        'routes = {"marketplace": None}']))
    catalog = catalog_mod.load("local", root)
    rules = yaml.safe_load(merge(WATTSUN, catalog))["ingress"]
    assert {"hostname": "boma.wattsun.co.ke", "service": "http_status:404"} in rules
    assert rules.index({"hostname": "boma.wattsun.co.ke", "service": "http_status:404"}) < rules.index(
        yaml.safe_load(WATTSUN)["ingress"][0])


def test_merging_again_changes_nothing(shared):
    once = merge(WATTSUN, shared)
    assert merge(once, shared) == once


def test_an_edited_block_is_replaced_and_only_the_block(shared):
    once = merge(WATTSUN, shared)
    tampered = once.replace('"^/api(/|$)"', '"/api"')
    assert merge(tampered, shared) == once


def test_a_foreign_rule_for_our_hostname_is_refused(shared):
    text = WATTSUN.replace("  - service: http_status:404",
                           "  - hostname: boma.wattsun.co.ke\n    service: http://localhost:3104\n"
                           "  - service: http_status:404")
    with pytest.raises(SharedTunnelError, match="claims boma.wattsun.co.ke"):
        merge(text, shared)


def test_a_config_without_a_catch_all_is_refused(shared):
    with pytest.raises(SharedTunnelError, match="catch-all"):
        merge(WATTSUN.replace("  - service: http_status:404\n", ""), shared)


def test_damaged_markers_are_refused(shared):
    once = merge(WATTSUN, shared)
    with pytest.raises(SharedTunnelError, match="markers are damaged"):
        merge(once.replace("# END marketplace", "# END"), shared)


def test_the_state_command_reads_the_shared_config_and_the_fact_decodes_it(shared):
    import base64

    from deploys.plan import Desired
    from deploys.target.commands import state_command
    from deploys.render import render
    from deploys.target.state import parse_state

    command = state_command(shared, Desired.of(shared, render(shared)))
    assert "base64 < /volume1/web/cloudflared/config.yml" in command
    assert " tunnel/shared-config.yml" in command
    encoded = base64.b64encode(WATTSUN.encode()).decode()
    output = ["@dirs", "@shared", encoded[:60], encoded[60:], "@end"]
    assert parse_state(output).shared_config == WATTSUN
    assert parse_state(["@dirs", "@end"]).shared_config is None


def _with_rule(rule: str) -> str:
    """WATTSUN with one more foreign rule just before its catch-all."""
    return WATTSUN.replace("  - service: http_status:404", rule + "  - service: http_status:404")


@pytest.mark.parametrize("rule, why", [
    # cloudflared compares hostnames case-insensitively
    ("  - hostname: BOMA.WattSun.co.ke\n    service: http://localhost:3000\n", "claims BOMA.WattSun.co.ke"),
    # cloudflared would refuse a regular expression RE2 cannot compile
    ("  - hostname: shop.wattsun.co.ke\n    path: \"^/(?!admin)\"\n    service: http://localhost:3000\n",
     "is not an RE2 regular expression"),
])
def test_foreign_rules_cloudflared_refuses_or_that_name_ours_are_refused(shared, rule, why):
    with pytest.raises(SharedTunnelError, match=re.escape(why)):
        merge(_with_rule(rule), shared)


# Foreign rules that match our hostnames by pattern: before our block they would take our routes.
GREEDY = {
    "a path alone, every host's health": ("  - path: \"health$\"\n    service: http://localhost:3000\n",
                                          "shop.wattsun.co.ke", "/x/health"),
    "a lone star with an unanchored path": ("  - hostname: \"*\"\n    path: api\n    service: http://localhost:3000\n",
                                            "anything.example", "/x/api"),
    "the zone's wildcard": ("  - hostname: \"*.wattsun.co.ke\"\n    service: http://localhost:3000\n",
                            "shop.wattsun.co.ke", "/"),
    "a prefix of ours": ("  - path: \"^/billing\"\n    service: http://localhost:3000\n", "shop.wattsun.co.ke",
                         "/billing/x"),
}


@pytest.mark.parametrize("case", GREEDY)
def test_a_foreign_rule_matching_our_hostnames_by_pattern_never_sees_them(shared, case):
    from deploys.render.ingress import Rule, first_match, probes

    rule, foreign_host, foreign_path = GREEDY[case]
    merged = yaml.safe_load(merge(_with_rule(rule), shared))["ingress"]
    rules = [Rule(r["service"], r.get("hostname"), r.get("path")) for r in merged]
    ours = len(rules) - len(yaml.safe_load(_with_rule(rule))["ingress"])
    for route in shared.routes:
        for path in [*probes(route), "/api/health", "/health", "/server-health", "/nothing/health"]:
            at, _ = first_match(rules, route.hostname, path)
            assert at < ours, (route.hostname, path, merged[at])
    # and the other site's requests reach its rule exactly as before
    at, hit = first_match(rules, foreign_host, foreign_path)
    assert at == ours + 2 and hit.service == "http://localhost:3000"


def test_a_legitimate_foreign_rule_for_another_hostname_is_kept_byte_for_byte(shared):
    text = _with_rule("  - hostname: \"*.shop.wattsun.co.ke\"   # the shops\n    path: ^/(en|fr)/\n"
                      "    service: http://localhost:3000\n")
    merged = merge(text, shared)
    assert without_block(merged, shared) == text


def test_the_request_port_is_ignored_and_the_apex_is_not_a_subdomain():
    from deploys.render.ingress import Rule

    assert Rule("x", "boma.wattsun.co.ke").matches("BOMA.wattsun.co.ke:443", "/")
    assert Rule("x", "*.wattsun.co.ke").matches("shop.wattsun.co.ke", "/")
    assert not Rule("x", "*.wattsun.co.ke").matches("wattsun.co.ke", "/")
    assert Rule("x", "*").matches("anything.example", "/")
    assert Rule("x", None, "api").matches("h", "/x/api/y")


def test_the_edges_tunnel_port_is_published_for_the_other_sites_cloudflared(shared):
    """Only the tunnel's port passes X-Forwarded-* on: in shared mode it is published on the
    bind address beside the edge's own port (which sets them from the connection)."""
    compose = yaml.safe_load(render(shared)["docker-compose.yml"].content)
    ports = compose["services"]["edge"]["ports"]
    assert ports[0] == "127.0.0.1:3100:80" and "127.0.0.1:3180:8080" in ports
    # the rest are the apps' host ports, which the edge relays (each on its own port inside)
    assert all(p.split(":")[1] == p.split(":")[2] for p in ports if p not in ("127.0.0.1:3100:80", "127.0.0.1:3180:8080"))
