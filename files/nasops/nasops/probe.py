"""The network: a route through the edge as the tunnel reaches it, and a readiness URL.

The one module that opens sockets besides the Docker SDK's. Redirects are not followed (a
route's answer is its own status), and no answer within the timeout is status 0."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

ROUTE_TIMEOUT_S = 10
READY_TIMEOUT_S = 5


def get_status(url: str, host: str | None = None, path: str = "", timeout: float = ROUTE_TIMEOUT_S) -> int:
    """The HTTP status of GET url+path (with Host: host when given); 0: no answer."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return 0
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.hostname, parts.port, timeout=timeout)
    target = (parts.path.rstrip("/") + path) if path else (parts.path or "/")
    if parts.query and not path:
        target += "?" + parts.query
    try:
        conn.request("GET", target, headers={"Host": host} if host else {})
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


class Prober:
    """Routes through the stack's edge (edge_url ""; no edge port: every route answers 0)."""

    def __init__(self, edge_url: str):
        self.edge_url = edge_url

    def route(self, host: str, path: str) -> int:
        return get_status(self.edge_url, host, path) if self.edge_url else 0

    def ready(self, url: str) -> int:
        return get_status(url, timeout=READY_TIMEOUT_S)
