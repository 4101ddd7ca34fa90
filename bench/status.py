"""`make bench`, the status page: latency of GET /monitoring/ through the edge (basic auth, the
staging hostname) at a steady 100 requests per second, open loop: each request is due at its own
time, and its latency counts from then (a slow answer delays the ones queued behind it and they
show it). A snapshot refresh (scripts/status.sh, what DSM's task runs every minute) runs in the
middle of the window. Not a test: nothing is asserted; the issue's target is p99 < 50 ms.
"""

from __future__ import annotations

import base64
import http.client
import json
import queue
import statistics
import subprocess
import threading
import time
from pathlib import Path

from deploys import catalog as catalog_mod
from deploys import layout

NAS_STANDIN = "marketplace-nas-standin"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(catalog, rate: int = 100, seconds: float = 30.0, workers: int = 16) -> dict:
    password = (Path(catalog.deploy_root) / layout.SECRET_VALUES / catalog.monitoring["password_secret"]).read_text().strip()
    auth = "Basic " + base64.b64encode(f"{catalog.monitoring['user']}:{password}".encode()).decode()
    headers = {"Host": catalog.monitoring_hostname, "Authorization": auth}
    port = catalog.edge.host_port
    due: queue.Queue = queue.Queue()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while (when := due.get()) is not None:
            try:
                conn.request("GET", f"{layout.STATUS_PATH}/", headers=headers)
                reply = conn.getresponse()
                body = reply.read()
                ok = reply.status == 200 and b"<html" in body
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                ok, body = False, str(exc).encode()
            took = time.perf_counter() - when
            with lock:
                latencies.append(took)
                if not ok:
                    errors.append(body[:80].decode(errors="replace"))
        conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    refresh = threading.Timer(seconds / 2, lambda: subprocess.run(
        ["docker", "exec", NAS_STANDIN, "bash", f"{catalog.deploy_root}/{layout.script('status')}"],
        capture_output=True))
    refresh.start()
    start = time.perf_counter()
    total = int(rate * seconds)
    for i in range(total):
        when = start + i / rate
        delay = when - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        due.put(when)
    for _ in threads:
        due.put(None)
    for t in threads:
        t.join()
    refresh.join()
    elapsed = time.perf_counter() - start
    ms = [v * 1000 for v in latencies]
    return {"requests": len(ms), "rate_rps": rate, "achieved_rps": round(len(ms) / elapsed, 1),
            "errors": len(errors), "p50_ms": round(statistics.median(ms), 2), "p90_ms": round(_percentile(ms, 0.90), 2),
            "p99_ms": round(_percentile(ms, 0.99), 2), "max_ms": round(max(ms), 2)}


def row_of(result: dict) -> tuple[str, str]:
    return ("status page at 100 req/s (p99)",
            f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms, "
            f"{result['requests']} requests, {result['errors']} errors (target: p99 < 50 ms)")


def main() -> int:
    result = measure(catalog_mod.load("staging"))
    print(*row_of(result), sep="  ")
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
