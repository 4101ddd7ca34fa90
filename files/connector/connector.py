"""Marketplace connector (reference implementation): ties the apps together.

GET /api/health -> {"ok", "db", "redis", "jwt", "integrations": {name: ok}}: booleans only (it is
  public: no internal URL, no error text; the reasons go to the connector's log)
GET /api/health/live -> the same without the integrations (the container's own healthcheck,
  so one app being down does not mark the connector unhealthy)
Each probe has a short timeout and each answer is kept HEALTH_CACHE_S seconds (default 5), so a
flood of requests cannot fan out to the databases and the apps.
  db     an authenticated `SELECT 1` on DATABASE_URL
  redis  a PING on REDIS_URL (with its password)
  jwt    the JWT signing key pair is mounted: the private key (JWT_PRIVATE_KEY_FILE) is
         readable by this process and the public key (JWT_PUBLIC_KEY_FILE) is there
  integrations  each app's health route from INTEGRATIONS (JSON {name: url})
  killbill_auth  a call to Kill Bill as the marketplace's tenant (KILLBILL_API_KEY/-SECRET, as
         KILLBILL_USER/-PASSWORD) succeeds; not part of "ok": the tenant is made by a release
         once Kill Bill is healthy, after the connector is
  NAME_sync_ok, NAME_sync_at  for each sync job of SYNC_JOBS: the outcome and start time of its
         last run (SYNC_STATUS_DIR/NAME.status, written by the deploy's scripts/sync.sh); false
         and null before its first run. Not part of "ok": a failed nightly sync is reported,
         it does not make the connector unhealthy.
HTTP 200 when everything is up, 503 and "ok": false when anything is down.

`python3 connector.py sync NAME` runs one sync job (DSM's Task Scheduler starts it through
scripts/sync.sh). This reference connector's job only proves NAME's API answers (its health
route from INTEGRATIONS); the production Connector's jobs push invoices to Kill Bill, import
Condo's units and tickets and Cocorico's listings. Exit status 0: the job succeeded.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import redis

STARTED = time.monotonic()
SYNC_JOBS = [job for job in os.environ.get("SYNC_JOBS", "").split(",") if job]
SYNC_STATUS_DIR = os.environ.get("SYNC_STATUS_DIR", "/run/marketplace/sync")
INTEGRATIONS: dict[str, str] = json.loads(os.environ.get("INTEGRATIONS", "{}"))
CACHE_S = float(os.environ.get("HEALTH_CACHE_S", "5"))
PROBE_TIMEOUT_S = 2
_cache: dict[bool, tuple[float, tuple[int, dict]]] = {}
_cache_lock = threading.Lock()


def db_ok() -> tuple[bool, str | None]:
    try:
        conn = psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=PROBE_TIMEOUT_S)
        with conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            ok = cur.fetchone() == (1,)
        conn.close()
        return ok, None
    except Exception as exc:  # noqa: BLE001 - any failure means "down"
        return False, type(exc).__name__


def redis_ok() -> tuple[bool, str | None]:
    try:
        return bool(redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=PROBE_TIMEOUT_S).ping()), None
    except Exception as exc:  # noqa: BLE001
        return False, type(exc).__name__


def jwt_keys_ok() -> tuple[bool, str | None]:
    """The key pair the marketplace signs its JWTs with is mounted and readable."""
    wanted = {"JWT_PRIVATE_KEY_FILE": "PRIVATE KEY", "JWT_PUBLIC_KEY_FILE": "PUBLIC KEY"}
    for env, marker in wanted.items():
        path = os.environ.get(env)
        if not path:
            continue
        try:
            with open(path) as fh:
                if f"-----BEGIN {marker}-----" not in fh.read():
                    return False, f"{env}: not a PEM {marker.lower()}"
        except OSError as exc:
            return False, f"{env}: {type(exc).__name__}"
    return True, None


def integration(url: str) -> tuple[bool, str | None]:
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S) as resp:
            return resp.status == 200, None if resp.status == 200 else f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except OSError as exc:
        return False, type(exc).__name__


def killbill_auth() -> tuple[bool, str | None]:
    """A call to Kill Bill as the marketplace's tenant (KILLBILL_API_KEY/-SECRET) and its user
    (KILLBILL_USER/-PASSWORD): what every billing call of the connector needs."""
    import base64

    url, key, secret = (os.environ.get(k) for k in ("KILLBILL_URL", "KILLBILL_API_KEY", "KILLBILL_API_SECRET"))
    if not (url and key and secret):
        return False, "KILLBILL_URL, KILLBILL_API_KEY or KILLBILL_API_SECRET not set"
    login = base64.b64encode(f"{os.environ.get('KILLBILL_USER', '')}:{os.environ.get('KILLBILL_PASSWORD', '')}".encode())
    request = urllib.request.Request(f"{url}/1.0/kb/accounts/pagination?offset=0&limit=1", headers={
        "X-Killbill-ApiKey": key, "X-Killbill-ApiSecret": secret, "Authorization": f"Basic {login.decode()}",
        "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S) as resp:
            return resp.status == 200, None
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except OSError as exc:
        return False, type(exc).__name__


def probe(with_integrations: bool) -> tuple[int, dict]:
    """Every check, in parallel; the reasons of a failure go to the log, not to the answer."""
    targets = INTEGRATIONS if with_integrations else {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        db_f, redis_f = pool.submit(db_ok), pool.submit(redis_ok)
        checks = {name: pool.submit(integration, url) for name, url in targets.items()}
        billing = pool.submit(killbill_auth) if with_integrations and os.environ.get("KILLBILL_URL") else None
        results = {"db": db_f.result(), "redis": redis_f.result(), "jwt": jwt_keys_ok()}
        apps = {name: f.result() for name, f in checks.items()}
        auth = billing.result() if billing else None
    for name, (ok, why) in [*results.items(), *apps.items()]:
        if not ok:
            print(f"health: {name} is down: {why}", file=sys.stderr, flush=True)
    body = {name: ok for name, (ok, _) in results.items()}
    body["integrations"] = {name: ok for name, (ok, _) in apps.items()}
    body["ok"] = all(body[k] for k in results) and all(body["integrations"].values())
    if auth is not None:  # reported, not judged: a release makes the tenant after this is healthy
        body["killbill_auth"] = auth[0]
        if not auth[0]:
            print(f"health: killbill_auth fails: {auth[1]}", file=sys.stderr, flush=True)
    if with_integrations:
        body.update(sync_outcomes())
    return (200 if body["ok"] else 503), body


def sync_outcomes() -> dict:
    """NAME_sync_ok / NAME_sync_at of every sync job, from the status files the deploy writes."""
    found = {}
    for job in SYNC_JOBS:
        try:
            with open(os.path.join(SYNC_STATUS_DIR, f"{job}.status")) as fh:
                status = json.load(fh)
        except (OSError, ValueError):
            status = {}
        found[f"{job}_sync_ok"] = status.get("ok") is True
        found[f"{job}_sync_at"] = status.get("at") if isinstance(status.get("at"), str) else None
    return found


def sync(job: str) -> int:
    """One sync job: here, NAME's API must answer on its health route."""
    url = INTEGRATIONS.get(job)
    if job not in SYNC_JOBS or url is None:
        print(f"sync {job}: not a sync job of this connector (SYNC_JOBS={','.join(SYNC_JOBS)})", file=sys.stderr)
        return 2
    ok, why = integration(url)
    print(f"sync {job}: reference connector: {job}'s API {'answers' if ok else 'does not answer: ' + str(why)}",
          flush=True)
    return 0 if ok else 1


def health(with_integrations: bool = True) -> tuple[int, dict]:
    """The probe's answer, at most CACHE_S seconds old (one probe at a time)."""
    with _cache_lock:
        cached = _cache.get(with_integrations)
        if cached is None or time.monotonic() - cached[0] >= CACHE_S:
            cached = (time.monotonic(), probe(with_integrations))
            _cache[with_integrations] = cached
        return cached[1]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?")[0].rstrip("/")
        if path in ("/api/health", "/api/health/live"):
            status, body = health(with_integrations=path == "/api/health")
        else:
            status, body = 404, {"error": "not found"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args) -> None:
        pass  # health probes every few seconds would drown the log


if __name__ == "__main__":
    if sys.argv[1:2] == ["sync"] and len(sys.argv) == 3:
        sys.exit(sync(sys.argv[2]))
    # PID 1 in its container: SIGTERM (docker stop) stops it without waiting for SIGKILL, the
    # way a release needs: no new connection is taken (a client tries the service's next
    # address), the requests in flight are answered, then it exits.
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler)
    server.daemon_threads = False  # server_close waits for the requests in flight
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stopping.wait()
    server.shutdown()
    server.server_close()
