"""Shared fixtures: catalogs of every target, built from the real group_data."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from deploys import catalog as catalog_mod
from deploys.render import image_tag, render
from tests.support import wattsun as wattsun_mod

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def local_catalog():
    return catalog_mod.load("local")


@pytest.fixture(scope="session")
def staging_catalog():
    return catalog_mod.load("staging")


@pytest.fixture(scope="session")
def local_files(local_catalog):
    return render(local_catalog)


@pytest.fixture
def group_data(tmp_path):
    """A copy of group_data with a target file of the test's own: write(target, text)."""
    src = REPO / "group_data"
    for f in src.glob("*.py"):
        (tmp_path / f.name).write_text(f.read_text())

    def write(target: str, text: str) -> Path:
        (tmp_path / f"{target}.py").write_text(textwrap.dedent(text))
        return tmp_path

    return write


# -- end to end: the staging stack and the stand-in WattSun tunnel (tests/support/) -----------

@pytest.fixture(scope="module")
def staging_stack():
    """The staging stack as this checkout's catalog wants it (a deploy: about a second when it
    already is)."""
    from tests.support.staging import Deploy, provision

    provision()
    staging = catalog_mod.load("staging")
    deploy = Deploy()
    assert deploy.rc == 0, deploy
    return staging


@pytest.fixture(scope="module")
def wattsun(staging_stack):
    """The other site's tunnel: the stand-in cloudflared on the host network, its config dir."""
    # On the NAS's /volume1 (the DSM stand-in shares it with this machine at the same path), as
    # the real WattSun tunnel's folder is.
    folder = Path("/volume1/web/wattsun-e2e/cloudflared")
    shutil.rmtree(folder.parent, ignore_errors=True)
    folder.mkdir(parents=True)
    config = folder / "config.yml"
    config.write_text(wattsun_mod.foreign_config(staging_stack.edge.host_port))
    image = image_tag(staging_stack, staging_stack.services["cloudflared"])
    wattsun_mod.docker("rm", "-f", wattsun_mod.CONTAINER, check=False)
    # The stand-in image was built by the staging project's Compose: its labels would make this
    # container look like one of that project's (the real WattSun tunnel's image has none).
    wattsun_mod.docker("run", "-d", "--name", wattsun_mod.CONTAINER, "--network", "host",
                       "-v", f"{folder}:/etc/cloudflared:ro", "--label", "com.docker.compose.project=wattsun",
                       image, "cloudflared", "tunnel", "--config", "/etc/cloudflared/config.yml",
                       "--metrics", f"127.0.0.1:{wattsun_mod.METRICS}", "run")
    assert wattsun_mod.wait_ready()
    yield config
    wattsun_mod.docker("rm", "-f", wattsun_mod.CONTAINER, check=False)
    shutil.rmtree(folder.parent, ignore_errors=True)
