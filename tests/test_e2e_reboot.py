"""Surviving a reboot of the NAS, as far as this machine can play one: every container of the
stack stopped, the Docker engine restarted (the DSM stand-in is one of its containers and comes
back with it, as the NAS comes back from a reboot), DSM fires the boot-up tasks, and the stack
must come back healthy with its data."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.support.staging import NAS, Deploy, containers, healthy, provision, psql, sh

pytestmark = pytest.mark.e2e


def restart_engine() -> None:
    """Restart this machine's Docker engine the way it runs here (systemd, else the dockerd that
    `make setup` started), then let setup see everything is back."""
    if subprocess.run(["systemctl", "is-active", "--quiet", "docker"], capture_output=True).returncode == 0:
        subprocess.run(["systemctl", "restart", "docker"], check=True)
    else:
        subprocess.run(["pkill", "-TERM", "-x", "dockerd"], check=False)
        deadline = time.monotonic() + 90
        while subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True).returncode == 0:
            assert time.monotonic() < deadline, "dockerd did not stop"
            time.sleep(0.5)
    provision()


def test_the_stack_comes_back_after_a_reboot_with_its_data(staging_stack):
    assert Deploy().rc == 0  # the boot-up task is in DSM's Task Scheduler
    marker = f"before-reboot-{uuid.uuid4().hex[:8]}"
    psql(staging_stack, f"CREATE TABLE IF NOT EXISTS reboot_probe (v text); INSERT INTO reboot_probe VALUES ('{marker}');")
    ids = sh("docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={staging_stack.project_name}").stdout.split()
    sh("docker", "stop", "-t", "30", *ids)
    assert all(state.endswith("exited") for state in containers(staging_stack).values())

    restart_engine()

    # The stand-in's boot fired the boot-up task (start_all.sh): nothing else starts the stack.
    deadline = time.monotonic() + 420
    while not healthy(staging_stack):
        assert time.monotonic() < deadline, sh("docker", "logs", "--tail", "30", NAS, check=False).stdout
        time.sleep(5)
    boot_log = Path(staging_stack.deploy_root, "logs/tasks/start-on-boot.log").read_text()
    assert "ready" in boot_log, boot_log[-2000:]  # ensure_databases.sh ran at boot
    assert all(state.endswith("running") for state in containers(staging_stack).values())
    assert marker in psql(staging_stack, "SELECT v FROM reboot_probe;")
    assert sh("docker", "exec", NAS, "stat", "-c", "%U:%G %a", "/var/run/docker.sock").stdout.strip() == "root:root 660"
    assert Deploy().changed == 0
