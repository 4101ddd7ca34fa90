"""The shared cloudflared, for real: a stand-in "WattSun" tunnel container on this machine, its
hand-written config.yml, and scripts/shared_tunnel.sh installing our managed block: validated,
backed up, restarted only when the block changed, restored when the tunnel is not ready."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deploys import catalog as catalog_mod
from deploys.render import render
from deploys.render.shared_tunnel import merge, without_block
from tests.support.wattsun import CONTAINER, METRICS, docker, started_at, wait_ready

pytestmark = pytest.mark.e2e


def shared_catalog(group_data, config: Path, root: Path, metrics: int = METRICS, extra: str = ""):
    gd = group_data("staging", "\n".join([
        'extends = ["standins", "local"]',
        'project_name = "marketplace-staging"',
        f'deploy_root = "{root}"',
        "port_offset = 100",
        'services = {"cloudflared": {"enabled": False}}',
        f'tunnel = {{"mode": "shared", "shared": {{"config_file": "{config}", "container": "{CONTAINER}", '
        f'"metrics_url": "http://127.0.0.1:{metrics}", "ready_timeout_s": 8}}}}',
        extra]))
    return catalog_mod.load("staging", gd)


def push(catalog, root: Path, merged: str) -> None:
    """What the deploy pushes: every rendered file (the script, the NAS-side program it runs, the
    stack's description) and the merged config."""
    for rel, managed in render(catalog).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(managed.content)
        (root / rel).chmod(managed.mode)
    (root / "tunnel").mkdir(exist_ok=True)
    (root / "tunnel" / "shared-config.yml").write_text(merged)


def run_script(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(root / "scripts" / "shared_tunnel.sh")], capture_output=True, text=True)


def install(catalog, root: Path, foreign: str) -> subprocess.CompletedProcess:
    """What the deploy does: push the files and the merged config, then run the script."""
    push(catalog, root, merge(foreign, catalog))
    return run_script(root)


def test_the_block_is_installed_the_tunnel_restarted_and_ready(wattsun, group_data, tmp_path):
    catalog = shared_catalog(group_data, wattsun, tmp_path)
    original, before = wattsun.read_text(), started_at()
    result = install(catalog, tmp_path, original)
    assert result.returncode == 0, result.stdout + result.stderr
    assert wattsun.read_text() == merge(original, catalog)
    installed = wattsun.read_text()
    # our block first: no foreign rule comes before one of ours; every foreign byte kept
    assert installed.index("# BEGIN") < installed.index("  - hostname: wattsun.co.ke")
    assert without_block(installed, catalog) == original
    assert started_at() != before and wait_ready()
    [backup] = (tmp_path / "backups" / "cloudflared").iterdir()
    assert backup.read_text() == original

    # Unchanged block: nothing installed, no restart.
    again_before = started_at()
    again = install(catalog, tmp_path, wattsun.read_text())
    assert again.returncode == 0 and "already holds the managed block" in again.stdout
    assert started_at() == again_before
    assert len(list((tmp_path / "backups" / "cloudflared").iterdir())) == 1


def test_a_tunnel_that_is_not_ready_gets_its_previous_file_back(wattsun, group_data, tmp_path):
    current = wattsun.read_text()
    # A changed block, and a tunnel that never reports ready where the deploy looks.
    catalog = shared_catalog(group_data, wattsun, tmp_path, metrics=METRICS + 1,
                             extra='routes = {"api": {"path": "/connector"}}')
    assert merge(current, catalog) != current
    result = install(catalog, tmp_path, current)
    assert result.returncode == 1
    assert "restoring" in result.stderr and "previous file restored" in result.stderr
    assert wattsun.read_text() == current
    assert docker("inspect", "-f", "{{.State.Status}}", CONTAINER) == "running" and wait_ready()


def test_an_invalid_merged_file_is_refused_before_anything_changes(wattsun, group_data, tmp_path):
    catalog = shared_catalog(group_data, wattsun, tmp_path)
    current, before = wattsun.read_text(), started_at()
    push(catalog, tmp_path, current.replace("  - service: http_status:404\n", ""))
    result = run_script(tmp_path)
    assert result.returncode != 0 and "catch-all" in result.stderr
    assert wattsun.read_text() == current and started_at() == before
