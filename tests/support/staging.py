"""Driving and observing the staging target from the tests: the usual deploy command, the ops
commands, and what Docker and the deploy root show (read on this machine: the DSM stand-in that
plays the NAS shares its Docker engine and its /volume1 with it)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

from bench import changed_operations

REPO = Path(__file__).resolve().parent.parent.parent
VENV_BIN = Path(sys.executable).parent
STATE = Path(os.environ.get("MARKETPLACE_STATE", REPO / ".state"))
# deploy's sudo password on the DSM stand-in (made by `make setup`), given the way an operator
# gives theirs
ENV = {**os.environ, "MARKETPLACE_TARGET": "staging", "MARKETPLACE_STATE": str(STATE)}


def provision() -> None:
    """This machine as the targets (`make setup`), then the staging password it made into ENV."""
    subprocess.run(["bash", "files/local-target/setup.sh"], cwd=REPO, check=True, capture_output=True)
    ENV["MARKETPLACE_SUDO_PASSWORD"] = (STATE / "staging-sudo-password").read_text().strip()
NAS = "marketplace-nas-standin"

__all__ = ["ENV", "NAS", "REPO", "STATE", "provision", "VENV_BIN", "Deploy", "changed_operations", "cli", "containers", "healthy",
           "psql", "run_checks", "secret_values", "sh", "snapshot"]


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=check, cwd=REPO, env=ENV)


class Deploy:
    """One `pyinfra inventory.py deploys/marketplace.py` run of this checkout, and its results."""

    def __init__(self):
        proc = sh(str(VENV_BIN / "pyinfra"), "-y", "inventory.py", "deploys/marketplace.py", check=False)
        self.rc, self.output = proc.returncode, proc.stdout + proc.stderr
        row = re.search(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", self.output)
        assert row, self.output[-3000:]
        self.changed, self.errors, self.unchanged = (0 if v == "-" else int(v) for v in row.groups()[1:])

    def __repr__(self) -> str:
        return f"<Deploy rc={self.rc} changed={self.changed}>\n{self.output[-4000:]}"


def cli(*args: str) -> subprocess.CompletedProcess:
    """`python -m deploys.ops.cli ARGS` (what the make targets run)."""
    return sh(str(VENV_BIN / "python"), "-m", "deploys.ops.cli", *args, check=False)


def containers(catalog) -> dict[str, str]:
    """service -> 'container id, start time, status' of the project's containers."""
    out = sh("docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={catalog.project_name}").stdout
    if not out.split():
        return {}
    fmt = '{{index .Config.Labels "com.docker.compose.service"}} {{.Id}} {{.State.StartedAt}} {{.State.Status}}'
    lines = sh("docker", "inspect", "-f", fmt, *out.split()).stdout.splitlines()
    return {line.split()[0]: " ".join(line.split()[1:]) for line in lines}


def container_name(catalog, service: str) -> str:
    """The name of the service's container (a zero-gap release gives it the next number)."""
    out = sh("docker", "ps", "-a", "--format", "{{.Names}}", "--filter", f"label=com.docker.compose.project={catalog.project_name}",
             "--filter", f"label=com.docker.compose.service={service}", "--filter", "label=com.docker.compose.oneoff=False").stdout.split()
    assert out, f"no container of {service}"
    return max(out, key=lambda name: int(name.rpartition("-")[2]) if name.rpartition("-")[2].isdigit() else 0)


def run_checks(catalog) -> subprocess.CompletedProcess:
    """The testinfra checks against the target, as `make check` runs them."""
    return sh(str(VENV_BIN / "pytest"), "checks/", "--target", catalog.target, "-q", "-p", "no:cacheprovider",
              check=False)


def healthy(catalog) -> bool:
    return subprocess.run(["bash", f"{catalog.deploy_root}/scripts/healthcheck.sh"],
                          capture_output=True).returncode == 0


def psql(catalog, sql: str, database: str = "marketplace") -> str:
    return sh("docker", "exec", f"{catalog.project_name}-postgres-1", "psql", "-U", "postgres", "-d",
              database, "-tAc", sql).stdout.strip()


def secret_values(catalog) -> dict[str, str]:
    """name -> value of every secret on the target (key pairs: each line of the key)."""
    values = {}
    for path in Path(catalog.deploy_root, "secrets", "values").iterdir():
        text = path.read_text().strip()
        lines = text.splitlines()
        if len(lines) > 2:
            values.update({f"{path.name}[{i}]": line for i, line in enumerate(lines[1:-1])})
        else:
            values[path.name] = text
    return values


def snapshot(catalog) -> dict[str, tuple]:
    """Every file under the deploy root but the databases' own data and what DSM's scheduled
    tasks write meanwhile (their logs, the sync jobs' outcomes, the monitor's state, the status
    page): content, mode, owner."""
    from deploys import layout

    data = tuple(src for svc in catalog.services.values() for src in svc.volumes
                 if src.endswith(("data", "mysql", "mongo"))) + (layout.TASK_LOGS + "/", layout.INTEGRATION + "/",
                                                                  layout.MONITOR + "/", layout.STATUS_DIR + "/")
    found = {}
    for path in sorted(Path(catalog.deploy_root).rglob("*")):
        rel = str(path.relative_to(catalog.deploy_root))
        if path.is_file() and not path.is_symlink() and not rel.startswith(data):
            st = path.stat()
            found[rel] = (hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mode, st.st_uid)
    return found
