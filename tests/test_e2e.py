"""End to end on the staging target: deploy over SSH, check with testinfra, deploy again for
zero changes and no restarts, repair drift (container removed, files edited by hand).

Needs this machine provisioned as a target (`make setup`, which `make test` runs first). The
staging project is torn down at the start (its data included): it belongs to the tests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from deploys import catalog as catalog_mod

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
ENV = {**os.environ, "MARKETPLACE_TARGET": "staging"}


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=check, cwd=REPO, env=ENV)


class Deploy:
    """One `pyinfra inventory.py deploys/marketplace.py` run and its results table."""

    def __init__(self):
        proc = sh(str(VENV_BIN / "pyinfra"), "-y", "inventory.py", "deploys/marketplace.py", check=False)
        self.rc, self.output = proc.returncode, proc.stdout + proc.stderr
        row = re.search(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", self.output)
        assert row, self.output[-3000:]
        self.changed, self.errors, self.unchanged = (0 if v == "-" else int(v) for v in row.groups()[1:])

    def __repr__(self) -> str:
        return f"<Deploy rc={self.rc} changed={self.changed}>\n{self.output[-4000:]}"


@pytest.fixture(scope="module")
def staging():
    subprocess.run(["bash", "files/local-target/setup.sh"], cwd=REPO, check=True, capture_output=True)
    catalog = catalog_mod.load("staging")
    sh("docker", "compose", "-p", catalog.project_name, "down", "--remove-orphans", check=False)
    sh("rm", "-rf", catalog.deploy_root)
    return catalog


def containers(catalog) -> dict[str, str]:
    """service -> 'container id + start time' of the staging project."""
    out = sh("docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={catalog.project_name}").stdout
    if not out.split():
        return {}
    fmt = '{{index .Config.Labels "com.docker.compose.service"}} {{.Id}} {{.State.StartedAt}} {{.State.Status}}'
    lines = sh("docker", "inspect", "-f", fmt, *out.split()).stdout.splitlines()
    return {line.split()[0]: " ".join(line.split()[1:]) for line in lines}


def run_checks(catalog) -> subprocess.CompletedProcess:
    return sh(str(VENV_BIN / "pytest"), "checks/", "--target", "staging", "-q", "-p", "no:cacheprovider",
              check=False)


@pytest.fixture(scope="module")
def first(staging):
    return Deploy()


def test_first_deploy_converges_everything(first):
    assert first.rc == 0, first
    assert first.changed == 8 and first.errors == 0, first


def test_checks_pass_on_the_deployed_target(staging, first):
    result = run_checks(staging)
    assert result.returncode == 0, result.stdout[-4000:]


def secret_values(catalog) -> dict[str, str]:
    """name -> value of every secret on the staging target (key pairs: each line of the key)."""
    values = {}
    for path in Path(catalog.deploy_root, "secrets", "values").iterdir():
        text = path.read_text().strip()
        lines = text.splitlines()
        if len(lines) > 2:
            values.update({f"{path.name}[{i}]": line for i, line in enumerate(lines[1:-1])})
        else:
            values[path.name] = text
    return values


def test_no_secret_value_in_the_deploy_output(staging, first):
    leaked = [name for name, value in secret_values(staging).items() if value in first.output]
    assert not leaked


def test_no_secret_value_in_the_repository(staging, first):
    listed = sh("git", "ls-files", "--cached", "--others", "--exclude-standard").stdout.split()
    texts = [(REPO / f).read_text(errors="replace") for f in listed if (REPO / f).is_file()]
    leaked = [name for name, value in secret_values(staging).items() if any(value in t for t in texts)]
    assert not leaked


def snapshot(catalog) -> dict[str, tuple]:
    """Every file under the deploy root but the databases' own data: content, mode, owner."""
    import hashlib

    data = tuple(src for svc in catalog.services.values() for src in svc.volumes
                 if src.endswith(("data", "mysql", "mongo")))
    found = {}
    for path in sorted(Path(catalog.deploy_root).rglob("*")):
        rel = str(path.relative_to(catalog.deploy_root))
        if path.is_file() and not path.is_symlink() and not rel.startswith(data):
            st = path.stat()
            found[rel] = (hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mode, st.st_uid)
    return found


def test_a_bad_catalog_leaves_the_target_byte_for_byte_unchanged(staging, first, tmp_path):
    import shutil

    listed = sh("git", "ls-files", "--cached", "--others", "--exclude-standard").stdout.split()
    for rel in listed:
        if (REPO / rel).is_file():
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, tmp_path / rel)
    with open(tmp_path / "group_data" / "staging.py", "a") as fh:
        fh.write('services = {"postgres": {"host_port": 5432}, "killbill": {"image": "killbill/killbill:latest", '
                 '"build": None}}\nroutes = {"condo": {"host": "main", "path": "/condo"}}\n')
    before, running = snapshot(staging), containers(staging)
    proc = subprocess.run([str(VENV_BIN / "pyinfra"), "-y", "inventory.py", "deploys/marketplace.py"],
                          cwd=tmp_path, capture_output=True, text=True,
                          env={**ENV, "MARKETPLACE_STATE": str(REPO / ".state")})
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    for path in ("services.postgres.host_port", "services.killbill.image", "routes.condo.path"):
        assert path in output, output
    assert "Nothing was touched" in output and "Connecting" not in output
    assert snapshot(staging) == before
    assert containers(staging) == running


def test_rotating_a_secret_restarts_only_the_services_that_use_it(staging, first):
    name = "db_killbill_password"
    value = Path(staging.deploy_root, "secrets", "values", name).read_text()
    before = containers(staging)
    rotate = sh(str(VENV_BIN / "python"), "-m", "deploys.cli", "rotate", "staging", name, check=False)
    assert rotate.returncode == 0, rotate.stdout + rotate.stderr
    assert Path(staging.deploy_root, "secrets", "values", name).read_text() != value
    after = containers(staging)
    assert after["killbill"] != before["killbill"] and after["killbill"].endswith("running")
    assert {k: v for k, v in after.items() if k != "killbill"} == \
        {k: v for k, v in before.items() if k != "killbill"}
    assert value not in rotate.stdout + rotate.stderr
    health = sh("bash", f"{staging.deploy_root}/scripts/healthcheck.sh", check=False)
    assert health.returncode == 0, health.stdout
    assert Deploy().changed == 0
    # A later converge sees nothing to recreate (the rotation left Compose's own hashes right).
    sh("bash", f"{staging.deploy_root}/scripts/start_all.sh")
    assert containers(staging) == after


def test_second_deploy_changes_nothing_and_restarts_nothing(staging, first):
    before = containers(staging)
    again = Deploy()
    assert again.rc == 0, again
    assert again.changed == 0, again
    assert containers(staging) == before


def test_container_removed_by_hand_comes_back(staging, first):
    sh("docker", "rm", "-f", f"{staging.project_name}-connector-1")
    others = {k: v for k, v in containers(staging).items()}
    repair = Deploy()
    assert repair.rc == 0 and repair.changed == 3, repair  # lock, release, unlock
    assert "converge: connector: no container" in repair.output
    after = containers(staging)
    assert after["connector"].endswith("running")
    assert {k: v for k, v in after.items() if k != "connector"} == others  # nothing else restarted
    assert Deploy().changed == 0


def test_files_edited_on_the_target_are_put_back(staging, first):
    env_file = Path(staging.deploy_root, ".env")
    original = env_file.read_bytes()
    env_file.write_bytes(original + b"EDITED=1\n")
    Path(staging.deploy_root, "scripts", "healthcheck.sh").chmod(0o777)
    repair = Deploy()
    assert repair.rc == 0, repair
    assert env_file.read_bytes() == original
    assert Path(staging.deploy_root, "scripts", "healthcheck.sh").stat().st_mode & 0o777 == 0o755
    assert Deploy().changed == 0


def test_stop_then_deploy_brings_the_stack_back_with_its_data(staging, first):
    psql = ["docker", "exec", f"{staging.project_name}-postgres-1", "psql", "-U", "postgres", "-d",
            "marketplace", "-tAc"]
    sh(*psql, "CREATE TABLE IF NOT EXISTS e2e_keep (n int); INSERT INTO e2e_keep VALUES (1), (2);")
    stop = sh(str(VENV_BIN / "python"), "-m", "deploys.cli", "run", "staging", "stop_all", check=False)
    assert stop.returncode == 0, stop.stderr
    assert set(containers(staging).values()) and all(v.endswith("exited") for v in containers(staging).values())
    back = Deploy()
    assert back.rc == 0 and back.changed == 3, back
    assert sh(*psql, "SELECT count(*) FROM e2e_keep").stdout.strip() == "2"
    assert run_checks(staging).returncode == 0


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
def test_edge_routes_to_the_right_service(staging, first, hostname, path, status, served_by):
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    url = f"http://127.0.0.1:{staging.edge.host_port}{path}"
    request = urllib.request.Request(url, headers={"Host": hostname})
    try:
        response = urllib.request.build_opener(NoRedirect).open(request, timeout=15)
    except urllib.error.HTTPError as err:
        response = err
    assert response.status == status
    assert response.headers.get("X-Standin") == served_by
