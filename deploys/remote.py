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
    from deploys import lock, release

    commit, _ = release.git_commit()
    me = lock.owner(f"rotate-{release.release_id(commit)}", commit)
    script = (f"{lock.take_script(catalog.deploy_root, me)} && cd {shlex.quote(catalog.deploy_root)} && "
              f"{{ {' && '.join(steps)}; rc=$?; {lock.release_script(catalog.deploy_root, str(me['id']))}; "
              "exit $rc; }")
    return script, users


def rotate_secret(target: str, secret: str) -> int:
    """Rotate on the target; the value is made there and never crosses the connection."""
    script, users = rotation_script(target, secret)
    print(f"rotating {secret} on {target}; restarting: {', '.join(users) or 'nothing'}")
    return subprocess.call(ssh_argv(target) + ["sh", "-c", shlex.quote(script)])


def run_remote(target: str, script: str) -> subprocess.CompletedProcess:
    """`sh -c SCRIPT` on the target, output captured."""
    return subprocess.run(ssh_argv(target) + ["sh", "-c", shlex.quote(script)], capture_output=True,
                          text=True)


def list_releases(target: str) -> int:
    """Print the target's releases, newest first, marking the current and the last good one."""
    import json

    catalog = load(target)
    proc = run_remote(target, f"cd {shlex.quote(catalog.deploy_root)} && sh scripts/release.sh list")
    if proc.returncode != 0:
        print(proc.stderr.strip() or "no releases recorded yet")
        return proc.returncode
    rows, marks, lock_line = [], {}, None
    for line in proc.stdout.splitlines():
        key, _, rest = line.partition("\t")
        if key in ("current", "last-good"):
            marks[key] = rest
        elif key == "lock":
            lock_line = rest
        else:
            status, _, record = rest.partition("\t")
            info = json.loads(record) if record else {}
            rows.append((key, status, info))
    print(f"{'RELEASE':32} {'STATUS':28} {'COMMIT':12} {'BY':28} MARK")
    for rid, status, info in sorted(rows, reverse=True):
        commit = (info.get("commit") or "?")[:10] + ("+dirty" if info.get("dirty") else "")
        mark = " ".join(k for k, v in marks.items() if v == rid)
        print(f"{rid:32} {status:28} {commit:12} {info.get('who', '?'):28} {mark}")
    if lock_line:
        print(f"deploy lock held by {lock_line}")
    return 0


def rollback(target: str, release: str | None) -> int:
    """Roll the target back to a recorded release (default: the last good one), under the lock."""
    from deploys import lock, release as release_mod

    catalog = load(target)
    commit, _ = release_mod.git_commit()
    me = lock.owner(f"rollback-{release_mod.release_id(commit)}", commit)
    root = shlex.quote(catalog.deploy_root)
    script = (lock.take_script(catalog.deploy_root, me) + f" && cd {root} && "
              f"{{ sh scripts/release.sh rollback {shlex.quote(release or '')}; rc=$?; "
              f"{lock.release_script(catalog.deploy_root, str(me['id']))}; exit $rc; }}")
    return subprocess.call(ssh_argv(target) + ["sh", "-c", shlex.quote(script)])


def unlock(target: str) -> int:
    """Release a deploy lock left behind by an interrupted deploy."""
    from deploys import lock

    catalog = load(target)
    return subprocess.call(ssh_argv(target) + ["sh", "-c", shlex.quote(lock.release_script(catalog.deploy_root))])
