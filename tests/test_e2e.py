"""End to end on the staging target: deploy over SSH, check with testinfra, deploy again for
zero changes and no restarts, repair drift (container removed, files edited by hand).

Needs this machine provisioned as a target (`make setup`, which `make test` runs first). The
staging project is torn down at the start (its data included): it belongs to the tests.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deploys import catalog as catalog_mod
from tests.support.staging import (ENV, NAS, REPO, VENV_BIN, Deploy, cli, container_name, containers, provision,
                                   run_checks, secret_values, sh, snapshot)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fresh_staging():
    """The staging target torn down (its data included: it belongs to the tests)."""
    provision()
    catalog = catalog_mod.load("staging")
    sh("docker", "compose", "-p", catalog.project_name, "down", "--remove-orphans", check=False)
    sh("rm", "-rf", catalog.deploy_root, catalog.backup_dir)
    return catalog


@pytest.fixture(scope="module")
def first_deploy(fresh_staging):
    """The first deploy of the torn-down staging target."""
    return Deploy()


def test_first_deploy_converges_everything(first_deploy):
    assert first_deploy.rc == 0, first_deploy
    assert first_deploy.changed == 8 and first_deploy.errors == 0, first_deploy


def test_checks_pass_on_the_deployed_target(fresh_staging, first_deploy):
    result = run_checks(fresh_staging)
    assert result.returncode == 0, result.stdout[-4000:]


def test_no_secret_value_in_the_deploy_output(fresh_staging, first_deploy):
    leaked = [name for name, value in secret_values(fresh_staging).items() if value in first_deploy.output]
    assert not leaked


def test_no_secret_value_in_the_repository(fresh_staging, first_deploy):
    listed = sh("git", "ls-files", "--cached", "--others", "--exclude-standard").stdout.split()
    texts = [(REPO / f).read_text(errors="replace") for f in listed if (REPO / f).is_file()]
    leaked = [name for name, value in secret_values(fresh_staging).items() if any(value in t for t in texts)]
    assert not leaked


def test_a_bad_catalog_leaves_the_target_byte_for_byte_unchanged(fresh_staging, first_deploy, tmp_path):
    import shutil

    listed = sh("git", "ls-files", "--cached", "--others", "--exclude-standard").stdout.split()
    for rel in listed:
        if (REPO / rel).is_file():
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, tmp_path / rel)
    with open(tmp_path / "group_data" / "staging.py", "a") as fh:
        fh.write('services = {"postgres": {"host_port": 5432}, "killbill": {"image": "killbill/killbill:latest", '
                 '"build": None}}\nroutes = {"condo": {"host": "main", "path": "/condo"}}\n')
    before, running = snapshot(fresh_staging), containers(fresh_staging)
    proc = subprocess.run([str(VENV_BIN / "pyinfra"), "-y", "inventory.py", "deploys/marketplace.py"],
                          cwd=tmp_path, capture_output=True, text=True,
                          env={**ENV, "MARKETPLACE_STATE": ENV.get("MARKETPLACE_STATE", str(REPO / ".state"))})
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    for path in ("services.postgres.host_port", "services.killbill.image", "routes.condo.path"):
        assert path in output, output
    assert "Nothing was touched" in output and "Connecting" not in output
    assert snapshot(fresh_staging) == before
    assert containers(fresh_staging) == running


def test_rotating_a_secret_restarts_only_the_services_that_use_it(fresh_staging, first_deploy):
    name = "db_killbill_password"
    value = Path(fresh_staging.deploy_root, "secrets", "values", name).read_text()
    before = containers(fresh_staging)
    rotate = cli("rotate", "staging", name)
    assert rotate.returncode == 0, rotate.stdout + rotate.stderr
    assert Path(fresh_staging.deploy_root, "secrets", "values", name).read_text() != value
    after = containers(fresh_staging)
    assert after["killbill"] != before["killbill"] and after["killbill"].endswith("running")
    assert {k: v for k, v in after.items() if k != "killbill"} == \
        {k: v for k, v in before.items() if k != "killbill"}
    assert value not in rotate.stdout + rotate.stderr
    health = sh("bash", f"{fresh_staging.deploy_root}/scripts/healthcheck.sh", check=False)
    assert health.returncode == 0, health.stdout
    assert Deploy().changed == 0
    # A later converge sees nothing to recreate (the rotation left Compose's own hashes right).
    sh("bash", f"{fresh_staging.deploy_root}/scripts/start_all.sh")
    assert containers(fresh_staging) == after


def test_an_interrupted_rotation_locks_nobody_out_and_resumes(fresh_staging, first_deploy):
    name = "db_kaui_password"
    values = Path(fresh_staging.deploy_root, "secrets", "values")
    current = (values / name).read_text()
    # Interrupted right after the new value was made: nothing uses it yet, everything still works.
    sh("bash", f"{fresh_staging.deploy_root}/scripts/secrets.sh", "rotate", name)
    prepared = (values / f"{name}.next").read_text()
    assert (values / name).read_text() == current
    assert sh("bash", f"{fresh_staging.deploy_root}/scripts/healthcheck.sh", check=False).returncode == 0
    # Interrupted again, after the database took it but before the services did.
    sh("bash", f"{fresh_staging.deploy_root}/scripts/ensure_databases.sh")
    assert (values / name).read_text() == prepared and not (values / f"{name}.next").exists()
    # `make rotate` again finishes the job: kaui gets a value its database takes.
    rotate = cli("rotate", "staging", name)
    assert rotate.returncode == 0, rotate.stdout + rotate.stderr
    assert sh("bash", f"{fresh_staging.deploy_root}/scripts/healthcheck.sh", check=False).returncode == 0
    assert Deploy().changed == 0


def test_mysql_roots_password_rotates_like_the_others(fresh_staging, first_deploy):
    values = Path(fresh_staging.deploy_root, "secrets", "values")
    before = (values / "cocorico_mysql_root_password").read_text()
    rotate = cli("rotate", "staging", "cocorico_mysql_root_password")
    assert rotate.returncode == 0, rotate.stdout + rotate.stderr
    assert (values / "cocorico_mysql_root_password").read_text() != before
    # The databases script logs in with the value file, not the container's environment.
    assert sh("bash", f"{fresh_staging.deploy_root}/scripts/ensure_databases.sh", check=False).returncode == 0
    assert sh("bash", f"{fresh_staging.deploy_root}/scripts/healthcheck.sh", check=False).returncode == 0
    assert Deploy().changed == 0


def _redis(catalog, commands: str) -> list[str]:
    """redis-cli in the Redis container, commands (with any AUTH) on stdin: the replies."""
    # (without the container's REDISCLI_AUTH, the admin's password, which redis-cli would use)
    proc = subprocess.run(["docker", "exec", "-i", f"{catalog.project_name}-redis-1", "env", "-u",
                           "REDISCLI_AUTH", "redis-cli", "--no-auth-warning"],
                          input=commands, capture_output=True, text=True)
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line]


def test_redis_has_no_default_user_and_each_app_its_own(fresh_staging, first_deploy):
    values = Path(fresh_staging.deploy_root, "secrets", "values")
    connector = (values / "db_connector_cache_password").read_text()
    condo = (values / "db_condo_cache_password").read_text()
    assert _redis(fresh_staging, "PING\n")[0].startswith("NOAUTH")
    assert _redis(fresh_staging, "AUTH default x\n")[0].startswith("WRONGPASS")
    replies = _redis(fresh_staging, f"AUTH connector {connector}\nSET e2e:k v\nCONFIG GET dir\n"
                                    "FLUSHALL\nACL SETUSER connector nopass\nACL LIST\nSAVE\n")
    assert replies[:2] == ["OK", "OK"], replies
    assert all(r.startswith("NOPERM") for r in replies[2:]), replies
    assert _redis(fresh_staging, f"AUTH connector {condo}\n")[0].startswith("WRONGPASS")
    # redis-server runs as the image's redis user; its ACL file holds hashes only, mode 0600
    status = sh("docker", "exec", f"{fresh_staging.project_name}-redis-1", "cat", "/proc/1/status").stdout
    uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
    assert uid != "0"
    acl = sh("docker", "exec", f"{fresh_staging.project_name}-redis-1", "stat", "-c", "%a %U",
             "/data/users.acl").stdout.split()
    assert acl == ["600", "redis"]
    text = sh("docker", "exec", f"{fresh_staging.project_name}-redis-1", "cat", "/data/users.acl").stdout
    assert connector not in text and condo not in text and "user default off" in text


def test_rotating_a_redis_password_keeps_the_old_until_the_app_has_the_new(fresh_staging, first_deploy):
    name = "db_condo_cache_password"
    values = Path(fresh_staging.deploy_root, "secrets", "values")
    old = (values / name).read_text()
    before = containers(fresh_staging)
    # Interrupted after Redis took the new password, before condo got it: both work meanwhile.
    sh("bash", f"{fresh_staging.deploy_root}/scripts/secrets.sh", "rotate", name)
    new = (values / f"{name}.next").read_text()
    sh("bash", f"{fresh_staging.deploy_root}/scripts/ensure_databases.sh")
    assert _redis(fresh_staging, f"AUTH condo {old}\n") == ["OK"]
    assert _redis(fresh_staging, f"AUTH condo {new}\n") == ["OK"]
    # The next deploy sees the promoted value, gives condo the new password and drops the old.
    finish = Deploy()
    assert finish.rc == 0, finish
    assert _redis(fresh_staging, f"AUTH condo {new}\n") == ["OK"]
    assert _redis(fresh_staging, f"AUTH condo {old}\n")[0].startswith("WRONGPASS")
    after = containers(fresh_staging)
    assert after["condo"] != before["condo"] and after["redis"] == before["redis"]
    assert sh("bash", f"{fresh_staging.deploy_root}/scripts/healthcheck.sh", check=False).returncode == 0
    assert Deploy().changed == 0


def test_second_deploy_changes_nothing_and_restarts_nothing(fresh_staging, first_deploy):
    before = containers(fresh_staging)
    again = Deploy()
    assert again.rc == 0, again
    assert again.changed == 0, again
    assert containers(fresh_staging) == before


def test_container_removed_by_hand_comes_back(fresh_staging, first_deploy):
    sh("docker", "rm", "-f", container_name(fresh_staging, "connector"))
    others = {k: v for k, v in containers(fresh_staging).items()}
    repair = Deploy()
    assert repair.rc == 0 and repair.changed == 3, repair  # lock, release, unlock
    assert "converge: connector: no container" in repair.output
    after = containers(fresh_staging)
    assert after["connector"].endswith("running")
    assert {k: v for k, v in after.items() if k != "connector"} == others  # nothing else restarted
    assert Deploy().changed == 0


def test_files_edited_on_the_target_are_put_back(fresh_staging, first_deploy):
    env_file = Path(fresh_staging.deploy_root, ".env")
    original = env_file.read_bytes()
    env_file.write_bytes(original + b"EDITED=1\n")
    Path(fresh_staging.deploy_root, "scripts", "healthcheck.sh").chmod(0o777)
    repair = Deploy()
    assert repair.rc == 0, repair
    assert env_file.read_bytes() == original
    assert Path(fresh_staging.deploy_root, "scripts", "healthcheck.sh").stat().st_mode & 0o777 == 0o755
    assert Deploy().changed == 0


def test_stop_then_deploy_brings_the_stack_back_with_its_data(fresh_staging, first_deploy):
    psql = ["docker", "exec", f"{fresh_staging.project_name}-postgres-1", "psql", "-U", "postgres", "-d",
            "marketplace", "-tAc"]
    sh(*psql, "CREATE TABLE IF NOT EXISTS e2e_keep (n int); INSERT INTO e2e_keep VALUES (1), (2);")
    stop = cli("run", "staging", "stop_all")
    assert stop.returncode == 0, stop.stderr
    assert set(containers(fresh_staging).values()) and all(v.endswith("exited") for v in containers(fresh_staging).values())
    back = Deploy()
    assert back.rc == 0 and back.changed == 3, back
    assert sh(*psql, "SELECT count(*) FROM e2e_keep").stdout.strip() == "2"
    assert run_checks(fresh_staging).returncode == 0


@pytest.mark.parametrize("hostname, path, status, served_by", [
    ("boma.localhost", "/api/health", 200, None),          # the connector (no stand-in header)
    ("boma.localhost", "/apiv2", 404, "cocorico"),         # /api is a prefix, not a substring
    ("boma.localhost", "/x/api/health", 404, "cocorico"),
    ("boma.localhost", "/billing/1.0/healthcheck", 200, "killbill"),  # prefix stripped
    ("boma.localhost", "/billing/nope", 404, "killbill"),
    ("boma.localhost", "/billing", 301, None),             # to /billing/
    ("boma.localhost", "/", 302, "cocorico"),              # to the locale
    ("kaui.boma.localhost", "/health", 200, "kaui"),
    ("condo.boma.localhost", "/server-health?checks=postgres,redis", 200, "condo"),
    ("unknown.example", "/api/health", 404, None),
])
def test_edge_routes_to_the_right_service(fresh_staging, first_deploy, hostname, path, status, served_by):
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    url = f"http://127.0.0.1:{fresh_staging.edge.host_port}{path}"
    request = urllib.request.Request(url, headers={"Host": hostname})
    try:
        response = urllib.request.build_opener(NoRedirect).open(request, timeout=15)
    except urllib.error.HTTPError as err:
        response = err
    assert response.status == status
    assert response.headers.get("X-Standin") == served_by


def test_forwarded_headers_are_trusted_from_the_tunnel_only(fresh_staging, first_deploy):
    import json
    import urllib.request

    spoofed = {"Host": "boma.localhost", "X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https"}
    published = urllib.request.Request(f"http://127.0.0.1:{fresh_staging.edge.host_port}/en/", headers=spoofed)
    forwarded = json.loads(urllib.request.urlopen(published, timeout=15).read())["forwarded"]
    assert "6.6.6.6" not in forwarded["for"] and forwarded["proto"] == "http"
    # From cloudflared, on the tunnel's port: passed on.
    code = ("import json, urllib.request; r = urllib.request.Request('http://edge:%d/en/', headers=%r); "
            "print(json.loads(urllib.request.urlopen(r, timeout=15).read())['forwarded'])"
            % (fresh_staging.tunnel["edge_port"], spoofed))
    out = sh("docker", "exec", container_name(fresh_staging, "cloudflared"), "python3", "-c", code).stdout
    assert "6.6.6.6" in out and "'proto': 'https'" in out


def test_a_folder_turned_into_a_symlink_is_refused_before_anything(fresh_staging, first_deploy, tmp_path):
    logs = Path(fresh_staging.deploy_root, "scripts", "logs")
    moved = tmp_path / "logs"
    logs.rename(moved)
    logs.symlink_to(tmp_path)
    try:
        before = snapshot(fresh_staging)
        refused = sh(str(VENV_BIN / "pyinfra"), "-y", "inventory.py", "deploys/marketplace.py", check=False)
        output = refused.stdout + refused.stderr
        assert refused.returncode != 0 and "scripts/logs -> " in output and "nothing was touched" in output
        assert snapshot(fresh_staging) == before
    finally:
        logs.unlink()
        moved.rename(logs)
    assert Deploy().changed == 0


def test_a_deploy_root_in_an_exported_shared_folder_is_refused(fresh_staging, first_deploy):
    """The DSM stand-in lists its shared folders in /etc/samba/smb.share.conf as DSM does; a
    share holding the deploy root is added there, as if someone exported `web` over SMB."""
    conf = "/etc/samba/smb.share.conf"
    original = sh("docker", "exec", NAS, "cat", conf).stdout
    parent = str(Path(fresh_staging.deploy_root).parent)
    added = f"[web]\n\tcomment=\"web\"\n\tpath={parent}\n\tbrowseable=yes\n"
    subprocess.run(["docker", "exec", "-i", NAS, "sh", "-c", f"cat > {conf}"], input=original + added,
                   text=True, check=True)
    try:
        before, running = snapshot(fresh_staging), containers(fresh_staging)
        refused = sh(str(VENV_BIN / "pyinfra"), "-y", "inventory.py", "deploys/marketplace.py", check=False)
        output = refused.stdout + refused.stderr
        assert refused.returncode != 0, output[-3000:]
        assert (f"deploy_root {fresh_staging.deploy_root} is in the shared folder 'web' ({parent}), "
                "which the target exports over SMB") in output
        assert "allow_in_exported_share" in output and "nothing was touched" in output
        assert snapshot(fresh_staging) == before and containers(fresh_staging) == running
    finally:
        subprocess.run(["docker", "exec", "-i", NAS, "sh", "-c", f"cat > {conf}"], input=original,
                       text=True, check=True)
    assert Deploy().changed == 0
