"""scripts/secrets.sh, run for real with sh in a scratch deploy root."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest


@pytest.fixture
def root(tmp_path, local_files):
    (tmp_path / "scripts").mkdir()
    script = tmp_path / "scripts" / "secrets.sh"
    script.write_bytes(local_files["scripts/secrets.sh"].content)
    return tmp_path


def run(root):
    return subprocess.run(["sh", str(root / "scripts" / "secrets.sh")], capture_output=True,
                          text=True, check=True)


def test_generates_every_secret_and_resolves_every_token(root, local):
    out = run(root).stdout
    values = {p.name: p.read_text() for p in (root / "secrets" / "values").iterdir()}
    assert set(values) == set(local.used_secrets)
    assert all(len(v) == local.secrets[name]["length"] and v.isalnum() for name, v in values.items())
    assert len(set(values.values())) == len(values)
    for name in local.secret_files:
        env = root / "secrets" / f"{name}.env"
        assert stat.S_IMODE(env.stat().st_mode) == 0o600
        assert "{secret:" not in env.read_text()
    for value in values.values():
        assert value not in out  # names are printed, values never


def test_second_run_keeps_every_value_and_file(root):
    run(root)
    first = {p: p.read_bytes() for p in (root / "secrets").rglob("*") if p.is_file()}
    out = run(root).stdout
    assert out == ""
    assert first == {p: p.read_bytes() for p in (root / "secrets").rglob("*") if p.is_file()}


def test_env_files_hold_the_generated_values(root):
    run(root)
    value = (root / "secrets" / "values" / "db_marketplace_password").read_text()
    env = (root / "secrets" / "connector.env").read_text()
    assert f"postgresql://connector:{value}@postgres:5432/marketplace" in env


def test_secret_folders_are_private(root):
    run(root)
    for folder in ("secrets", "secrets/values"):
        assert stat.S_IMODE(os.stat(root / folder).st_mode) == 0o700
