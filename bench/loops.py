"""Request loops on loopback while something happens (a release): one thread per target, a GET
every 50 ms on a new connection, each answer's status and time kept. Bounded in count and time
(a loop stops by itself after max_requests or max_seconds), so a hung release cannot hang
the run.

    with RequestLoops("127.0.0.1", {"api": (3200, "boma.localhost", "/api/health")}) as loops:
        deploy()
    loops.figures()  # {"api": {"requests": 812, "errors": [], "longest_ms": 41.2, ...}}
"""

from __future__ import annotations

import http.client
import threading
import time


class RequestLoop(threading.Thread):
    def __init__(self, address: str, port: int, host: str, path: str, every_s: float, max_requests: int,
                 max_seconds: float):
        super().__init__(daemon=True)
        self.address, self.port, self.host, self.path = address, port, host, path
        self.every_s, self.max_requests, self.max_seconds = every_s, max_requests, max_seconds
        self.stopping = threading.Event()
        self.answers: list[tuple[float, float, str]] = []  # (since start s, took s, status or error)

    def one(self) -> str:
        conn = http.client.HTTPConnection(self.address, self.port, timeout=15)
        try:
            conn.request("GET", self.path, headers={"Host": self.host, "Connection": "close"})
            response = conn.getresponse()
            response.read()
            return str(response.status)
        except (OSError, http.client.HTTPException) as e:
            return f"error: {type(e).__name__}: {e}"
        finally:
            conn.close()

    def run(self) -> None:
        start = time.monotonic()
        while not self.stopping.is_set() and len(self.answers) < self.max_requests:
            t0 = time.monotonic()
            if t0 - start > self.max_seconds:
                break
            status = self.one()
            took = time.monotonic() - t0
            self.answers.append((t0 - start, took, status))
            self.stopping.wait(max(0.0, self.every_s - took))

    def figures(self) -> dict:
        bad = [(round(at, 2), status) for at, _, status in self.answers if not status.startswith("2")]
        return {"requests": len(self.answers), "errors": bad,
                "longest_ms": round(max((took for _, took, _ in self.answers), default=0) * 1000, 1),
                "target": f"{self.host}{self.path} on port {self.port}"}


class RequestLoops:
    def __init__(self, address: str, targets: dict[str, tuple[int, str, str]], every_s: float = 0.05,
                 max_requests: int = 20000, max_seconds: float = 900):
        self.loops = {name: RequestLoop(address, port, host, path, every_s, max_requests, max_seconds)
                      for name, (port, host, path) in targets.items()}

    def __enter__(self) -> "RequestLoops":
        for loop in self.loops.values():
            loop.start()
        time.sleep(0.5)  # every loop has answered before the release starts
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(1)  # and goes on a moment after it has ended
        for loop in self.loops.values():
            loop.stopping.set()
        for loop in self.loops.values():
            loop.join(timeout=30)

    def figures(self) -> dict[str, dict]:
        return {name: loop.figures() for name, loop in self.loops.items()}
