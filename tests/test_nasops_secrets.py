"""The program's `secrets` (what scripts/secrets.sh runs), for real in a scratch deploy root:
openssl's keys and hashes, the files' modes and owners, from the real catalog's description."""

from __future__ import annotations

import io
import os
import stat
import subprocess
from types import SimpleNamespace

import pytest

from deploys.render import stack_description
from nasops import secrets
from tests.nasops_fixtures import stack_in


@pytest.fixture
def root(tmp_path):
    return tmp_path


def attempt(root, *args, catalog=None):
    out, err = io.StringIO(), io.StringIO()
    rc = secrets.main(stack_in(root, catalog), list(args), out, err)
    return SimpleNamespace(returncode=rc, stdout=out.getvalue(), stderr=err.getvalue())


def run(root, *args, catalog=None):
    done = attempt(root, *args, catalog=catalog)
    assert done.returncode == 0, done.stderr
    return done


def values_of(root):
    return {p.name: p.read_text() for p in (root / "secrets" / "values").iterdir()}


def test_generates_every_secret_and_resolves_every_token(root, local_catalog):
    out = run(root).stdout
    values = values_of(root)
    assert set(values) == set(local_catalog.used_secrets)
    passwords = {n: v for n, v in values.items() if local_catalog.secrets[n]["kind"] == "password"}
    assert all(len(v) == local_catalog.secrets[name]["length"] and v.isalnum() for name, v in passwords.items())
    assert len(set(values.values())) == len(values)
    for name in local_catalog.secret_files:
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


def test_the_jwt_key_pair_is_rsa_private_0600_public_readable(root, local_catalog):
    run(root)
    private = root / "secrets" / "values" / "jwt_signing"
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    mounted = root / "secrets" / "keys" / "jwt_signing.pem"
    assert stat.S_IMODE(mounted.stat().st_mode) == 0o600
    assert mounted.stat().st_uid == local_catalog.secrets["jwt_signing"]["reader_uid"]
    public = root / "public" / "keys" / "jwt_signing.pub.pem"
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    text = subprocess.run(["openssl", "pkey", "-in", str(private), "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    assert "3072 bit" in text


def test_rotate_replaces_one_secret_and_rewrites_only_its_users(root):
    run(root)
    before = values_of(root)
    envs = {p.name: p.read_bytes() for p in (root / "secrets").glob("*.env")}
    out = run(root, "rotate", "killbill_admin_password").stdout
    after = values_of(root)
    assert "rotated killbill_admin_password" in out
    assert after["killbill_admin_password"] != before["killbill_admin_password"]
    assert {k: v for k, v in after.items() if k != "killbill_admin_password"} == \
        {k: v for k, v in before.items() if k != "killbill_admin_password"}
    changed = {p.name for p in (root / "secrets").glob("*.env") if p.read_bytes() != envs[p.name]}
    assert changed == {"killbill.env", "connector.env"}  # the connector calls Kill Bill as its admin


def test_rotate_refuses_an_unknown_secret(root):
    run(root)
    result = attempt(root, "rotate", "nope")
    assert result.returncode == 2 and "not a secret" in result.stderr


def test_a_provided_secret_must_be_placed_by_the_operator(tmp_path, group_data):
    from deploys import catalog as catalog_mod

    gd = group_data("local", 'extends = ["standins"]\ntunnel = {"mode": "remote", "account_id": "0123456789abcdef0123456789abcdef"}\n')
    catalog = catalog_mod.load("local", gd)
    result = attempt(tmp_path, catalog=catalog)
    assert result.returncode == 1
    assert "tunnel_token is provided by the operator" in result.stderr
    (tmp_path / "secrets" / "values" / "tunnel_token").write_text("eyJhIjoiYiJ9-operator-token")
    run(tmp_path, catalog=catalog)
    assert "TUNNEL_TOKEN=eyJhIjoiYiJ9-operator-token" in (tmp_path / "secrets" / "cloudflared.env").read_text()


def test_every_dollar_is_written_for_compose_to_read_literally(tmp_path, group_data):
    """Compose interpolates env files: `$HOME` would become the deploying shell's HOME."""
    from deploys import catalog as catalog_mod

    value = "$(touch pwned) `id` $HOME ${HOME}-{secret:webhook_condo_hmac}"
    gd = group_data("local", 'extends = ["standins"]\n'
                    f"services = {{'connector': {{'secret_env': {{'ODD': {value!r}}}}}}}\n")
    run(tmp_path, catalog=catalog_mod.load("local", gd))
    key = (tmp_path / "secrets" / "values" / "webhook_condo_hmac").read_text()
    line = next(ln for ln in (tmp_path / "secrets" / "connector.env").read_text().splitlines()
                if ln.startswith("ODD="))
    assert line == "ODD=$$(touch pwned) `id` $$HOME $${HOME}-" + key
    assert not (tmp_path / "pwned").exists()


def test_a_database_password_is_prepared_not_used_until_the_database_takes_it(root):
    run(root)
    before = values_of(root)
    envs = {p.name: p.read_bytes() for p in (root / "secrets").glob("*.env")}
    out = run(root, "rotate", "db_killbill_password").stdout
    pending = root / "secrets" / "values" / "db_killbill_password.next"
    assert "the database takes it before the services do" in out
    assert pending.is_file() and pending.read_text() != before["db_killbill_password"]
    assert values_of(root)["db_killbill_password"] == before["db_killbill_password"]
    assert {p.name: p.read_bytes() for p in (root / "secrets").glob("*.env")} == envs
    # An interrupted rotation, run again, resumes with the same pending value.
    prepared = pending.read_text()
    again = run(root, "rotate", "db_killbill_password").stdout
    assert "resuming" in again and pending.read_text() == prepared


def test_the_state_names_the_section_and_hashes_what_sha256sum_checks(root, local_catalog):
    run(root)
    first, *files = (root / "secrets/.state").read_text().splitlines()
    assert first == f"# secrets section {stack_description.secrets_sha(local_catalog)}"  # what the deploy compares
    assert "secrets/connector.env" in {line.split("  ", 1)[1] for line in files}
    subprocess.run(["sha256sum", "--check", "--quiet"], input="\n".join(files) + "\n", text=True, cwd=root, check=True)


def test_a_swarm_secret_is_written_literally(tmp_path):
    from deploys import catalog as catalog_mod

    run(tmp_path, catalog=catalog_mod.load("swarm"))
    assert "$$" not in (tmp_path / "secrets/connector.env").read_text()


def test_the_status_page_hash_is_kept_while_its_password_is(root):
    run(root)
    auth = root / "secrets/htpasswd/monitoring"
    user, hashed = auth.read_text().strip().split(":", 1)
    assert hashed.startswith("$6$rounds=1000$")
    password = (root / "secrets/values/monitoring_password").read_bytes()
    salt = hashed.split("$")[2] + "$" + hashed.split("$")[3]
    assert subprocess.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"], input=password,
                          capture_output=True, check=True).stdout.decode().strip() == hashed
    assert "password hash" not in run(root).stdout
    assert "wrote the status page's password hash" in run(root, "rotate", "monitoring_password").stdout
    assert auth.read_text() != f"{user}:{hashed}\n"
