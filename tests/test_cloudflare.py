"""The remotely managed tunnel: the ingress pushed to Cloudflare's API only when it differs,
against a local HTTP server on 127.0.0.1 that plays the API and records what it got."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from deploys import catalog as catalog_mod
from deploys.cloudflare import CloudflareError, TunnelAPI, desired_ingress

TOKEN = "cf-test-token-9f8e7d6c5b4a"
ACCOUNT, TUNNEL = "acc0123456789", "6ff42ae2-765d-4adf-8112-31c55c1551ef"


class FakeCloudflare(ThreadingHTTPServer):
    """Plays GET/PUT .../accounts/A/cfd_tunnel/T/configurations; records every request."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str, str, dict | None]] = []
        self.config: dict = {"ingress": [{"service": "http_status:404", "originRequest": {}}]}
        self.fail_with: tuple[int, str] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/client/v4"


class _Handler(BaseHTTPRequestHandler):
    server: FakeCloudflare

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append((method, self.path, self.headers.get("Authorization", ""), body))
        if self.path != f"/client/v4/accounts/{ACCOUNT}/cfd_tunnel/{TUNNEL}/configurations":
            return self._answer(404, {"success": False, "errors": [{"code": 7003, "message": "No route"}]})
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._answer(403, {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}]})
        if self.server.fail_with:
            status, message = self.server.fail_with
            return self._answer(status, {"success": False, "errors": [{"code": 1002, "message": message}]})
        if method == "PUT":
            # Cloudflare stores the config and adds its own defaults to each rule.
            self.server.config = {"ingress": [{**r, "originRequest": {}} for r in body["config"]["ingress"]]}
        self._answer(200, {"success": True, "errors": [], "messages": [],
                           "result": {"tunnel_id": TUNNEL, "version": len(self.server.requests),
                                      "config": self.server.config}})

    def do_GET(self):  # noqa: N802
        self._handle("GET")

    def do_PUT(self):  # noqa: N802
        self._handle("PUT")

    def log_message(self, *args):
        pass


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
    assert pushed[0] == {"hostname": "boma.localhost", "path": "^/billing(/|$)", "service": "http://edge:80"}
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
    assert {"hostname": "boma.localhost", "path": "^/connector(/|$)", "service": "http://edge:80"} \
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
