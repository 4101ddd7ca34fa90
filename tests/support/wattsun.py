"""The stand-in "WattSun" tunnel the end-to-end tests share: the other site's cloudflared on
this machine (the stand-in image, host network) and its hand-written config.yml. The fixtures
that start it are in tests/conftest.py."""

from __future__ import annotations

import subprocess
import time
import urllib.request

CONTAINER = "wattsun-cloudflared-standin"
METRICS = 20241


def foreign_config(edge_port: int) -> str:
    return f"""\
# WattSun production tunnel -- hand-maintained, do not reformat.
tunnel: wattsun-prod
credentials-file: /etc/cloudflared/wattsun.json

ingress:
  - hostname: wattsun.co.ke
    service: http://127.0.0.1:{edge_port}   # WattSun's own site (here: any live origin)
  - service: http_status:404
"""


def docker(*args: str, check: bool = True) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check).stdout.strip()


def started_at() -> str:
    return docker("inspect", "-f", "{{.State.StartedAt}}", CONTAINER)


def wait_ready(timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{METRICS}/ready", timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False
