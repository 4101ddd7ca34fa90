"""Values that look like shell reach the containers literally and run nowhere: deployed over
SSH with the usual command from a clone whose staging catalog carries them, then read back from
the running connector."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.clone import Clone
from tests.support.staging import Deploy, container_name

pytestmark = pytest.mark.e2e
MARK = "/tmp/marketplace-e2e-pwned"
HOSTILE = f"$(touch {MARK}-1) `touch {MARK}-2` $HOME ${{HOME}} 'single' \"double\"; touch {MARK}-3 & |"


@pytest.fixture(scope="module")
def deployed(staging_stack, tmp_path_factory):
    for i in (1, 2, 3):
        Path(f"{MARK}-{i}").unlink(missing_ok=True)
    clone = Clone(tmp_path_factory.mktemp("injection") / "repo")
    clone.commit("hostile values", append={"group_data/staging.py": (
        f"\nservices = {{'connector': {{'env': {{'HOSTILE_ENV': {HOSTILE!r}}}, "
        f"'secret_env': {{'HOSTILE_SECRET': {HOSTILE!r} + '{{secret:webhook_condo_hmac}}'}}}}}}\n")})
    result = clone.deploy()
    yield result, staging_stack
    assert Deploy().rc == 0  # staging back to its own catalog


def container_env(catalog, name: str) -> str:
    return subprocess.run(["docker", "exec", container_name(catalog, "connector"), "printenv", name],
                          capture_output=True, text=True, check=True).stdout.rstrip("\n")


def test_the_deploy_with_hostile_values_succeeds(deployed):
    result, _ = deployed
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


def test_hostile_values_reach_the_container_literally(deployed):
    _, catalog = deployed
    assert container_env(catalog, "HOSTILE_ENV") == HOSTILE
    key = Path(catalog.deploy_root, "secrets", "values", "webhook_condo_hmac").read_text()
    assert container_env(catalog, "HOSTILE_SECRET") == HOSTILE + key


def test_nothing_ran_on_the_target_or_in_the_container(deployed):
    _, catalog = deployed
    assert not any(Path(f"{MARK}-{i}").exists() for i in (1, 2, 3))
    listing = subprocess.run(["docker", "exec", container_name(catalog, "connector"), "ls", "/tmp"],
                             capture_output=True, text=True, check=True).stdout
    assert "pwned" not in listing
