"""The status page's snapshot served over HTTP (engine swarm: the scheduler serves it to the
edge, whose replicas on other nodes do not have the data node's folder). Only the snapshot's
three files, GET and HEAD, behind the page's basic auth (the user of the description, the
password of its secret file, compared in constant time); the edge adds the page's headers."""

from __future__ import annotations

import base64
import hmac
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TYPES = {"index.html": "text/html; charset=utf-8", "status.json": "application/json; charset=utf-8",
         "metrics": "text/plain; version=0.0.4; charset=utf-8"}


def authorized(header: str | None, user: str, password_file: Path) -> bool:
    """A Basic Authorization header that names the page's user and password."""
    if not header or not header.startswith("Basic "):
        return False
    try:
        given_user, _, given = base64.b64decode(header[6:], validate=True).decode().partition(":")
        password = password_file.read_text().strip()
    except (ValueError, OSError):
        return False
    return bool(password) and hmac.compare_digest(given_user.encode(), user.encode()) \
        and hmac.compare_digest(given.encode(), password.encode())


def handler_for(folder: Path, prefix: str, user: str, password_file: Path):
    class Handler(BaseHTTPRequestHandler):
        server_version = "nasops-status"
        sys_version = ""

        def log_message(self, *args):  # the edge logs the requests
            pass

        def do_HEAD(self):  # noqa: N802 - http.server's names
            self.answer(body=False)

        def do_GET(self):  # noqa: N802
            self.answer(body=True)

        def answer(self, body: bool) -> None:
            if not authorized(self.headers.get("Authorization"), user, password_file):
                return self.send(401, b"authorization required\n", "text/plain; charset=utf-8", body,
                                 {"WWW-Authenticate": 'Basic realm="status"'})
            path = self.path.split("?", 1)[0]
            name = path[len(prefix):] if path.startswith(prefix) else None
            name = "index.html" if name == "" else name
            if name not in TYPES:
                return self.send(404, b"not found\n", "text/plain; charset=utf-8", body)
            try:
                data = (folder / name).read_bytes()
            except OSError:
                return self.send(404, b"no snapshot yet\n", "text/plain; charset=utf-8", body)
            return self.send(200, data, TYPES[name], body)

        def send(self, code: int, data: bytes, ctype: str, body: bool, extra: dict | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if body:
                self.wfile.write(data)

    return Handler


def serve(stack, port: int, address: str = "") -> ThreadingHTTPServer:
    """The server, answering in a daemon thread (shutdown() stops it)."""
    m = stack.monitoring
    server = ThreadingHTTPServer((address, port), handler_for(stack.path("status_dir"), m["path"] + "/",
                                                                m["user"], Path(m["password_file"])))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="status", daemon=True).start()
    return server
