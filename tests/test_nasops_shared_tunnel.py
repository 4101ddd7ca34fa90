"""`nasops shared-tunnel`: the other site's config.yml replaced only by a file its own cloudflared
validates, its owner and mode kept, the previous file backed up and put back when the tunnel
does not get ready; through fakes at the Docker SDK and the readiness URL."""

from __future__ import annotations

import io
import os

import pytest

from nasops import shared_tunnel
from tests.nasops_fixtures import catalog_with, stack_in


class Tunnel:
    def __init__(self, ready_after=0, never=False):
        self.restarts, self.asked = 0, 0
        self.ready_after, self.never = ready_after, never
        self.attrs = {"Config": {"Image": "cloudflare/cloudflared:2024.1.5"}}

    def restart(self):
        self.restarts += 1

    def ready(self, url):
        self.asked += 1
        return 503 if self.never or self.asked <= self.ready_after else 200


class Client:
    def __init__(self, tunnel, refuse=False):
        self.validated = []
        outer = self

        class Containers:
            def get(self, name):
                return tunnel

            def run(self, image, command, **kw):
                outer.validated.append((image, command, kw["volumes"], kw["network_mode"]))
                if refuse:
                    raise RuntimeError("cloudflared refused the file")
                return b""

        self.containers = Containers()


@pytest.fixture
def stack(tmp_path):
    catalog = catalog_with(tmp_path, 'tunnel = {"mode": "shared"}\nservices = {"cloudflared": {"enabled": False}}\n', target="staging")
    s = stack_in(tmp_path, catalog)
    cfg = tmp_path / "wattsun/config.yml"
    cfg.parent.mkdir()
    cfg.write_text("ingress:\n  - service: http_status:404\n")
    os.chmod(cfg, 0o640)
    s.raw["tunnel"]["config_file"] = str(cfg)
    s.file(s.tunnel["rendered_file"]).parent.mkdir(parents=True, exist_ok=True)
    s.file(s.tunnel["rendered_file"]).write_text("ingress:\n  - hostname: ours\n  - service: http_status:404\n")
    return s


def run(stack, tunnel, refuse=False):
    out, err = io.StringIO(), io.StringIO()
    client = Client(tunnel, refuse)
    rc = shared_tunnel.run(stack, client, out, err, prober=tunnel, sleep=lambda s: None, now=lambda: 1_800_000_000)
    return rc, out.getvalue(), err.getvalue(), client


def test_the_block_is_installed_validated_first_and_the_tunnel_restarted(stack):
    tunnel = Tunnel(ready_after=2)
    rc, out, _, client = run(stack, tunnel)
    cfg = stack.tunnel["config_file"]
    assert rc == 0 and "ready with the managed block" in out
    assert open(cfg).read() == stack.file(stack.tunnel["rendered_file"]).read_text()
    assert os.stat(cfg).st_mode & 0o777 == 0o640  # its owner's mode kept
    assert client.validated[0][0] == "cloudflare/cloudflared:2024.1.5" and client.validated[0][3] == "none"
    assert tunnel.restarts == 1
    backup = stack.file(stack.tunnel["backup_dir"]) / "config.yml.20270115T080000"
    assert backup.read_text() == "ingress:\n  - service: http_status:404\n"
    assert run(stack, Tunnel())[1].endswith("already holds the managed block as rendered\n")  # the second time


def test_a_tunnel_that_does_not_get_ready_gets_its_previous_file_back(stack):
    before = open(stack.tunnel["config_file"]).read()
    tunnel = Tunnel(never=True)
    rc, _, err, _ = run(stack, tunnel)
    assert rc == 1 and "restoring" in err and "STILL NOT READY" in err
    assert open(stack.tunnel["config_file"]).read() == before and tunnel.restarts == 2


def test_a_file_cloudflared_refuses_touches_nothing(stack):
    before = open(stack.tunnel["config_file"]).read()
    rc, _, err, _ = run(stack, Tunnel(), refuse=True)
    assert rc == 1 and "refuses the merged file (cloudflared refused the file)" in err and "is untouched" in err
    assert open(stack.tunnel["config_file"]).read() == before
