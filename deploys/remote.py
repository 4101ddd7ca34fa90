"""Run one of the deployed ops scripts on a target over plain SSH (status, stop).

The connection comes from the same place pyinfra takes it: inventory.py for this machine's
targets, group_data/production.py (ssh_user, ssh_port, ssh_key, _sudo) for the NAS.
"""

from __future__ import annotations

import os
import runpy
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
