"""The ingress, proved: cloudflared's first-match rules and the edge's nginx locations."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from deploys.render import ingress
from deploys.render.ingress import Rule
from deploys.render import edge_config

# The original plan's shared config.yml (plans/000, section 5.2), as written.
PLAN_RULES = [
    Rule("http://localhost:3104", "boma.wattsun.co.ke"),
    Rule("http://localhost:3101", "boma.wattsun.co.ke", "/api/*"),
    Rule("http://localhost:3102", "boma.wattsun.co.ke", "/condo/*"),
    Rule("http://localhost:3103", "boma.wattsun.co.ke", "/billing/*"),
    Rule("http_status:404"),
]


@pytest.fixture(scope="module")
def rendered_rules(local_files):
    return yaml.safe_load(local_files["cloudflared/config.yml"].content)["ingress"]


def test_rules_are_most_specific_first_anchored_and_end_with_the_catch_all(rendered_rules):
    assert rendered_rules[-1] == {"service": "http_status:404"}
    main = [r for r in rendered_rules if r.get("hostname") == "boma.localhost"]
    assert [r.get("path") for r in main] == ["^/billing(/|$)", "^/api(/|$)", None]
    assert all(r["service"] == "http://edge:8080" for r in rendered_rules[:-1])


def test_the_catalogs_ingress_is_proved(local_catalog, staging_catalog):
    for catalog in (local_catalog, staging_catalog):
        assert ingress.prove(catalog, edge_config(catalog)) == []


def test_the_plans_hostname_rule_shadows_every_path_rule():
    shadowed = ingress.unreachable(PLAN_RULES)
    assert shadowed == [(1, 0), (2, 0), (3, 0)]


def test_cloudflared_paths_are_searched_unanchored():
    plain, anchored = Rule("x", None, "/api"), Rule("x", None, "^/api(/|$)")
    assert plain.matches("h", "/apiv2") and plain.matches("h", "/x/api")
    assert not anchored.matches("h", "/apiv2") and not anchored.matches("h", "/x/api")
    assert anchored.matches("h", "/api") and anchored.matches("h", "/api/health")
    # The plan's glob is a regex: "/api" then any number of "/", found anywhere.
    assert Rule("x", None, "/api/*").matches("h", "/shop/api")


def test_hostname_matches_exactly_or_any_subdomain_of_a_wildcard():
    wildcard = Rule("x", "*.example.com")
    assert wildcard.matches("a.example.com", "/") and wildcard.matches("a.b.example.com", "/")
    assert not wildcard.matches("example.com", "/")
    assert not Rule("x", "example.com").matches("www.example.com", "/")


def test_a_rule_after_the_catch_all_can_never_match():
    rules = [Rule("http_status:404"), Rule("http://edge:8080", "boma.localhost")]
    assert ingress.unreachable(rules) == [(1, 0)]
    assert "the last rule is not a catch-all" in " ".join(ingress.prove_rules_only(rules))


def test_an_edge_that_sends_a_route_elsewhere_is_caught(local_catalog):
    conf = edge_config(local_catalog).replace("set $upstream connector;", "set $upstream killbill;")
    problems = ingress.prove(local_catalog, conf)
    assert any("route api" in p and "killbill:8080" in p and "not connector:8080" in p for p in problems)


def test_tunnel_rules_that_miss_a_route_are_caught(local_catalog):
    rules = [r for r in ingress.tunnel_rules(local_catalog) if r.route != "kaui"]
    problems = ingress.prove(local_catalog, edge_config(local_catalog), rules)
    assert any("route kaui" in p and "http_status:404" in p for p in problems)


@pytest.mark.parametrize("url, lines", [
    ("https://boma.localhost/api/health", ["route api", "location ^~ /api/", "=> service connector"]),
    ("https://boma.localhost/apiv2", ["route marketplace", "=> service cocorico (http://cocorico:80/apiv2)"]),
    ("https://boma.localhost/billing/1.0/healthcheck",
     ["route billing", "=> service killbill (http://killbill:8080/1.0/healthcheck)"]),
    ("https://boma.localhost/billing", ["location = /billing", "=> return 301 /billing/$is_args$args"]),
    ("https://condo.boma.localhost/condo/x", ["route condo", "=> service condo"]),
    ("https://elsewhere.example/", ["rule 6 {service: http_status:404}", "=> http_status:404"]),
])
def test_explain_follows_a_url_through_the_tunnel_and_the_edge(local_catalog, url, lines):
    text = "\n".join(ingress.explain(local_catalog, edge_config(local_catalog), url))
    for line in lines:
        assert line in text, text


def test_make_route_answers_for_the_target_that_serves_the_host():
    out = subprocess.run([sys.executable, "-m", "deploys.ops.cli", "route",
                          "https://boma.wattsun.co.ke/billing/1.0/healthcheck"],
                         capture_output=True, text=True, check=True).stdout
    assert "target production:" in out and "target k8s:" in out  # k8s renders production's catalog
    assert "target local" not in out and "=> service killbill" in out
    everywhere = subprocess.run([sys.executable, "-m", "deploys.ops.cli", "route", "https://nope.invalid/"],
                                capture_output=True, text=True, check=True).stdout
    assert everywhere.count("=> http_status:404") == 5
