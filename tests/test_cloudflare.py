"""The remotely managed tunnel: the ingress pushed to Cloudflare's API only when it differs,
against a local HTTP server on 127.0.0.1 that plays the API and records what it got."""

from __future__ import annotations

import threading

import pytest

from deploys import catalog as catalog_mod
from deploys.converge.cloudflare import CloudflareError, TunnelAPI, desired_ingress
from tests.support.fake_cloudflare import ACCOUNT, TOKEN, TUNNEL, FakeCloudflare


@pytest.fixture
def fake_api():
    server = FakeCloudflare()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def remote_catalog(group_data, api_url: str, extra: str = ""):
    root = group_data("local", "\n".join([
        'extends = ["standins"]',
        'hostnames = {"main": "boma.localhost", "kaui": "kaui.boma.localhost", "condo": "condo.boma.localhost"}',
        f'tunnel = {{"mode": "remote", "id": "{TUNNEL}", "account_id": "{ACCOUNT}", "api_url": "{api_url}"}}',
        extra]))
    return catalog_mod.load("local", root)


def sync(api: TunnelAPI, desired) -> bool:
    """What operations.tunnel_ingress does: push only when it differs."""
    if api.current_ingress() == desired:
        return False
    api.push(desired)
    return True


def test_first_sync_pushes_the_catalogs_ingress(fake_api, group_data, monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    catalog = remote_catalog(group_data, fake_api.api_url)
    api = TunnelAPI.from_catalog(catalog)
    desired = desired_ingress(catalog)
    assert sync(api, desired) is True
    methods = [r[0] for r in fake_api.requests]
    assert methods == ["GET", "PUT"]
    assert all(r[2] == f"Bearer {TOKEN}" for r in fake_api.requests)
    pushed = fake_api.requests[1][3]["config"]["ingress"]
    assert pushed == desired
    assert pushed[0] == {"hostname": "boma.localhost", "path": "^/billing(/|$)", "service": "http://edge:8080"}
    assert pushed[-1] == {"service": "http_status:404"}


def test_unchanged_ingress_is_not_pushed_again(fake_api, group_data, monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    catalog = remote_catalog(group_data, fake_api.api_url)
    api = TunnelAPI.from_catalog(catalog)
    sync(api, desired_ingress(catalog))
    fake_api.requests.clear()
    assert sync(api, desired_ingress(catalog)) is False
    assert [r[0] for r in fake_api.requests] == ["GET"]


def test_a_changed_route_is_pushed(fake_api, group_data, monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    sync(TunnelAPI.from_catalog(c := remote_catalog(group_data, fake_api.api_url)), desired_ingress(c))
    changed = remote_catalog(group_data, fake_api.api_url,
                             'routes = {"api": {"path": "/connector"}}\n')
    fake_api.requests.clear()
    assert sync(TunnelAPI.from_catalog(changed), desired_ingress(changed)) is True
    assert {"hostname": "boma.localhost", "path": "^/connector(/|$)", "service": "http://edge:8080"} \
        in fake_api.requests[-1][3]["config"]["ingress"]


def test_api_errors_are_clear_and_never_show_the_token(fake_api, group_data, monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    catalog = remote_catalog(group_data, fake_api.api_url)
    fake_api.fail_with = (400, "Validation failed: the last rule must be a catch-all")
    with pytest.raises(CloudflareError) as err:
        TunnelAPI.from_catalog(catalog).current_ingress()
    assert "HTTP 400" in str(err.value) and "catch-all" in str(err.value)
    assert TOKEN not in str(err.value)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "wrong-token")
    fake_api.fail_with = None
    with pytest.raises(CloudflareError, match="Authentication error"):
        TunnelAPI.from_catalog(catalog).current_ingress()


def test_a_missing_api_token_is_named(group_data, monkeypatch):
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    catalog = remote_catalog(group_data, "http://127.0.0.1:9/client/v4")
    with pytest.raises(CloudflareError, match="set CLOUDFLARE_API_TOKEN"):
        TunnelAPI.from_catalog(catalog)


def test_remote_mode_runs_cloudflared_with_the_token_and_no_local_ingress(group_data):
    from deploys.render import render

    catalog = remote_catalog(group_data, "http://127.0.0.1:9/client/v4")
    svc = catalog.services["cloudflared"]
    assert "--config" not in svc.command and "cloudflared" not in svc.volumes
    assert svc.secret_env["TUNNEL_TOKEN"] == "{secret:tunnel_token}"
    assert "cloudflared/config.yml" not in render(catalog)
