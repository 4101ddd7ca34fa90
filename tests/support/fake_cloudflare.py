"""A local fake of Cloudflare's tunnel configuration API on 127.0.0.1: plays GET/PUT of
.../accounts/A/cfd_tunnel/T/configurations and records every request."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "cf-test-token-9f8e7d6c5b4a"
ACCOUNT, TUNNEL = "0123456789abcdef0123456789abcdef", "6ff42ae2-765d-4adf-8112-31c55c1551ef"


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
