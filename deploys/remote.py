"""Run one of the deployed ops scripts on a target over plain SSH (status, stop).

The connection comes from the same place pyinfra takes it: inventory.py for this machine's
targets, group_data/production.py (ssh_user, ssh_port, ssh_key, _sudo) for the NAS.
"""

from __future__ import annotations

import os
import runpy
import shlex
import subprocess

from deploys.catalog import GROUP_DATA, REPO, load


def ssh_argv(target: str) -> list[str]:
    os.environ["MARKETPLACE_TARGET"] = target
    inventory = runpy.run_path(str(REPO / "inventory.py"))
    hosts = inventory.get(target) or []
    if not hosts:
        raise SystemExit(f"no host for target {target!r} in inventory.py")
    name, data = hosts[0]
    if target == "production":
        data = {**runpy.run_path(str(GROUP_DATA / "production.py")), **data}
    argv = ["ssh", "-o", "BatchMode=yes"]
    if data.get("ssh_port"):
        argv += ["-p", str(data["ssh_port"])]
    if data.get("ssh_key"):
        argv += ["-i", str(data["ssh_key"]), "-o", "IdentitiesOnly=yes"]
    if data.get("ssh_known_hosts_file"):
        argv += ["-o", f"UserKnownHostsFile={data['ssh_known_hosts_file']}"]
    user = data.get("ssh_user")
    host = data.get("ssh_hostname", name)
    argv.append(f"{user}@{host}" if user else host)
    return argv + (["sudo", "-n"] if data.get("_sudo") else [])


def run_script(target: str, script: str) -> int:
    """Run ROOT/scripts/SCRIPT on the target, its output straight to this terminal."""
    catalog = load(target)
    return subprocess.call(ssh_argv(target) + ["sh", f"{catalog.deploy_root}/scripts/{script}"])


def rotation_script(target: str, secret: str) -> tuple[str, list[str]]:
    """The remote command that rotates one secret, and the services it restarts."""
    catalog = load(target)
    if secret not in catalog.used_secrets:
        raise SystemExit(f"{secret!r} is not a secret of target {target}: one of "
                         f"{', '.join(catalog.used_secrets)}")
    database = catalog.secret_database(secret)
    if database and catalog.databases[database]["engine"] == "mongodb":
        raise SystemExit(f"{secret}: MongoDB takes MONGO_INITDB_ROOT_PASSWORD only on an empty data "
                         "folder; change it in the server (db.changeUserPassword), write the new "
                         f"value to secrets/values/{secret}, then run `sh scripts/secrets.sh`")
    users = catalog.secret_users(secret)
    servers = {db["service"] for db in catalog.databases.values()} & set(catalog.services)
    admin = any(catalog.admin_secret(s) == secret for s in servers)
    steps = [f"sh scripts/secrets.sh rotate {shlex.quote(secret)}"]
    if database or admin:
        steps.append("sh scripts/ensure_databases.sh")
    if users:
        steps.append(f"sh scripts/compose.sh up -d --force-recreate --wait "
                     f"--wait-timeout {catalog.wait_timeout_s} {' '.join(users)}")
    script = f"cd {shlex.quote(catalog.deploy_root)} && " + " && ".join(steps)
    return script, users


def rotate_secret(target: str, secret: str) -> int:
    """Rotate on the target; the value is made there and never crosses the connection."""
    script, users = rotation_script(target, secret)
    print(f"rotating {secret} on {target}; restarting: {', '.join(users) or 'nothing'}")
    return subprocess.call(ssh_argv(target) + ["sh", "-c", shlex.quote(script)])
