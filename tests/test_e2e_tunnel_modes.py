"""The two other tunnel modes through the usual deploy command, on the staging target:
`shared` (our block in a stand-in WattSun tunnel's config.yml) and `remote` (the ingress pushed
to a local fake of Cloudflare's API, the connector token provided by the operator).
Deployed from a git clone whose staging.py sets the mode; staging goes back to `local` after."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.support.clone import Clone
from tests.support.fake_cloudflare import ACCOUNT, TOKEN, TUNNEL, FakeCloudflare
from tests.support.staging import Deploy, changed_operations, container_name, containers
from tests.support.wattsun import CONTAINER, METRICS, docker, started_at, wait_ready

pytestmark = pytest.mark.e2e
STAGING = "group_data/staging.py"


@pytest.fixture(scope="module")
def clone(staging_stack, tmp_path_factory):
    clone = Clone(tmp_path_factory.mktemp("modes") / "repo")
    yield clone
    assert Deploy().rc == 0  # staging back to its own catalog (tunnel.mode local)


def output(result) -> str:
    return result.stdout + result.stderr


def test_shared_mode_installs_the_block_once_and_restarts_the_tunnel_only_then(clone, wattsun, staging_stack):
    original = wattsun.read_text()
    clone.commit("shared tunnel", append={STAGING: (
        '\nservices = {"cloudflared": {"enabled": False}}\n'
        f'tunnel = {{"mode": "shared", "shared": {{"config_file": "{wattsun}", "container": "{CONTAINER}", '
        f'"metrics_url": "http://127.0.0.1:{METRICS}", "ready_timeout_s": 20}}}}\n')})
    before = started_at()
    first = clone.deploy()
    assert first.returncode == 0, output(first)[-3000:]
    installed = wattsun.read_text()
    assert "# BEGIN marketplace-staging" in installed
    assert installed.index("# BEGIN") < installed.index("  - hostname: wattsun.co.ke")  # ours first
    assert started_at() != before and wait_ready()
    assert "cloudflared" not in containers(staging_stack)
    # Our rules point at the edge's tunnel port, published for the other site's cloudflared: the
    # one port where X-Forwarded-* are passed on; the edge's own port still sets them itself.
    origin = f"http://127.0.0.1:{3180 + staging_stack.port_offset}"
    assert f'service: "{origin}"' in installed
    sent = {"Host": "boma.localhost", "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    for url, passed in ((origin, True), (f"http://127.0.0.1:{staging_stack.edge.host_port}", False)):
        request = urllib.request.Request(f"{url}/en/", headers=sent)
        forwarded = json.loads(urllib.request.urlopen(request, timeout=15).read())["forwarded"]
        assert ("203.0.113.7" in forwarded["for"] and forwarded["proto"] == "https") is passed, (url, forwarded)
    again_before = started_at()
    again = clone.deploy()
    assert again.returncode == 0 and changed_operations(output(again)) == 0, output(again)[-3000:]
    assert started_at() == again_before and wattsun.read_text() == installed


def test_a_foreign_rule_matching_our_hostnames_by_pattern_goes_after_our_block(clone, wattsun):
    """Before our block it would take our routes; after it, it never sees our hostnames, and the
    other site's own hostnames reach the rules they reached before."""
    from deploys import catalog as catalog_mod
    from deploys.render.ingress import Rule, first_match
    from deploys.render.shared_tunnel import without_block

    current = wattsun.read_text()
    foreign = without_block(current, catalog_mod.load("staging"))  # the other site's file alone
    wattsun.write_text(foreign.replace("  - hostname: wattsun.co.ke",
                                       '  - hostname: "*.boma.localhost"\n    service: http://127.0.0.1:9\n'
                                       '  - path: "health$"\n    service: http://127.0.0.1:9\n'
                                       "  - hostname: wattsun.co.ke"))
    try:
        run = clone.deploy()
        assert run.returncode == 0, output(run)[-3000:]
        assert wait_ready()
        rules = [Rule(r["service"], r.get("hostname"), r.get("path"))
                 for r in yaml.safe_load(wattsun.read_text())["ingress"]]
        for host, path in (("kaui.boma.localhost", "/health"), ("boma.localhost", "/api/health"),
                           ("condo.boma.localhost", "/server-health")):
            assert first_match(rules, host, path)[1].service != "http://127.0.0.1:9", (host, path)
        assert first_match(rules, "shop.wattsun.co.ke", "/x/health")[1].service == "http://127.0.0.1:9"
    finally:
        wattsun.write_text(current)


@pytest.fixture
def fake_api():
    server = FakeCloudflare()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_remote_mode_needs_the_token_then_pushes_the_ingress_once(clone, fake_api, staging_stack):
    clone.git("reset", "-q", "--hard", "HEAD~1")  # back to local mode, then remote
    clone.commit("remote tunnel", append={STAGING: (
        f'\ntunnel = {{"mode": "remote", "account_id": "{ACCOUNT}", "id": "{TUNNEL}", '
        f'"api_url": "{fake_api.api_url}"}}\n')})
    clone.env["CLOUDFLARE_API_TOKEN"] = TOKEN
    token_file = Path(staging_stack.deploy_root, "secrets", "values", "tunnel_token")
    token_file.unlink(missing_ok=True)
    missing = clone.deploy()
    assert missing.returncode != 0
    assert "tunnel_token is provided by the operator" in output(missing)
    token_file.write_text("operator-connector-token-0123456789")  # what the operator does
    token_file.chmod(0o600)
    first = clone.deploy()
    assert first.returncode == 0, output(first)[-3000:]
    methods = [r[0] for r in fake_api.requests]
    assert methods == ["GET", "PUT"]
    pushed = fake_api.requests[1][3]["config"]["ingress"]
    assert pushed[0] == {"hostname": "boma.localhost", "path": "^/billing(/|$)", "service": "http://edge:8080"}
    assert pushed[-1] == {"service": "http_status:404"}
    assert TOKEN not in output(first) and "operator-connector-token" not in output(first)
    cloudflared = container_name(staging_stack, "cloudflared")
    env = docker("inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", cloudflared)
    assert "TUNNEL_TOKEN=operator-connector-token-0123456789" in env
    assert "--config" not in docker("inspect", "-f", "{{json .Args}}", cloudflared)
    fake_api.requests.clear()
    again = clone.deploy()
    assert again.returncode == 0 and changed_operations(output(again)) == 0, output(again)[-3000:]
    assert [r[0] for r in fake_api.requests] == ["GET"]
