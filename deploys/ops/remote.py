"""The ops commands that reach a target outside a deploy run (make status, down, releases,
rollback, rotate, unlock), through pyinfra's own connection: the inventory and group_data are
loaded exactly as `pyinfra inventory.py ...` loads them (SSH user, key, port, sudo, SCP, temp
dir), so there is one way to reach a target. Every command is a template of templates/commands/.
"""

from __future__ import annotations

import json
import os
import sys

from deploys.target import commands
from deploys.converge import release
from deploys.catalog import REPO, load


class Target:
    """One connected target: run rendered commands on it."""

    def __init__(self, target: str):
        from pyinfra.api import Config, State
        from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments
        from pyinfra.api.connect import connect_all
        from pyinfra.context import ctx_inventory, ctx_state
        from pyinfra_cli.inventory import make_inventory

        os.environ["MARKETPLACE_TARGET"] = target
        self.catalog = load(target)
        # As the pyinfra CLI does it: a state in context, the inventory file, then connect.
        state = State(check_for_changes=False)
        state.cwd = str(REPO)
        ctx_state.set(state)
        inventory = make_inventory(str(REPO / "inventory.py"), cwd=str(REPO))
        ctx_inventory.set(inventory)
        state.init(inventory, Config())
        connect_all(state)
        hosts = list(state.activated_hosts)
        if not hosts:
            raise SystemExit(f"could not connect to target {target!r} (see inventory.py)")
        self.host = hosts[0]
        arguments, _ = pop_global_arguments(state, self.host, {})
        self.arguments = {k: v for k, v in arguments.items() if k in CONNECTOR_ARGUMENT_KEYS}

    def run(self, name: str, echo: bool = True, **values) -> tuple[int, list[str], list[str]]:
        """Run templates/commands/NAME.sh.j2 (rendered with VALUES) with the target's sh, as the
        deploy would (sudo when the inventory says so). With echo, its output goes to ours."""
        return self.shell(commands.command(self.catalog, name, **values), echo)

    def shell(self, script: str, echo: bool = False) -> tuple[int, list[str], list[str]]:
        """Run a POSIX sh script as root on the target (sudo, with the password on stdin, where
        the target needs it; deploys/target/access.py)."""
        from deploys.target.access import Become

        become = Become.of(self.host.data)
        ok, output = self.host.run_shell_command(become.script(script),
                                                 **{**self.arguments, **become.arguments()})
        why = None if ok else become.explain(output.stderr_lines)
        if why:
            print(why, file=sys.stderr)
        if echo:
            for line in output.stdout_lines:
                print(line)
            for line in output.stderr_lines:
                print(line, file=sys.stderr)
        return (0 if ok else 1), output.stdout_lines, output.stderr_lines


    def stream(self, script: str) -> int:
        """Run a POSIX sh script as root, its output printed line by line as it comes."""
        from deploys.target.access import Become

        become = Become.of(self.host.data)
        ok, _ = self.host.run_shell_command(become.script(script), print_output=True,
                                            **{**self.arguments, **become.arguments()})
        return 0 if ok else 1


def run_script(target: str, script: str, args: list[str] | None = None, stream: bool = False) -> int:
    """Run ROOT/scripts/SCRIPT.sh ARGS on the target (healthcheck, stop_all, start_all, ...);
    with stream, its output is printed as it comes (make logs FOLLOW=1)."""
    t = Target(target)
    if stream:
        return t.stream(commands.command(t.catalog, "script", script=script, args=list(args or [])))
    return t.run("script", script=script, args=list(args or []))[0]


def rotate_secret(target: str, secret: str) -> int:
    """Rotate one secret on the target under the deploy lock; the value is made there and never
    crosses the connection. A database password is set in the database before any service gets
    it, and an interrupted rotation resumes with the same new value. Restarts only the services
    that use it."""
    catalog = load(target)
    if secret not in catalog.used_secrets:
        raise SystemExit(f"{secret!r} is not a secret of target {target}: one of "
                         f"{', '.join(catalog.used_secrets)}")
    database = catalog.secret_database(secret)
    if database and catalog.databases[database]["engine"] == "mongodb":
        raise SystemExit(f"{secret}: MongoDB takes MONGO_INITDB_ROOT_PASSWORD only on an empty data "
                         "folder; change it in the server (db.changeUserPassword), write the new "
                         f"value to secrets/values/{secret}, then run `bash scripts/secrets.sh`")
    users = catalog.secret_users(secret)
    steps = [["bash", "scripts/secrets.sh", "rotate", secret]]
    if secret in catalog.database_secrets:
        # the new value waits in secrets/values/NAME.next until the database has taken it
        # (ensure_databases.sh promotes it), then the env files are written with it
        steps += [["bash", "scripts/ensure_databases.sh"], ["bash", "scripts/secrets.sh"]]
    if users:
        steps.append(["bash", "scripts/compose.sh", "up", "-d", "--force-recreate", "--wait",
                      "--wait-timeout", str(catalog.wait_timeout_s), *users])
    if secret in catalog.database_secrets and _engine_of(catalog, secret) == "redis":
        # Redis took the new password beside the old one; now every user has the new one,
        # the old one goes
        steps.append(["bash", "scripts/ensure_databases.sh"])
    print(f"rotating {secret} on {target}; restarting: {', '.join(users) or 'nothing'}")
    me = release.identity(target, kind="rotate")
    return Target(target).run("locked", me=me.owner, steps=steps)[0]


def _engine_of(catalog, secret: str) -> str | None:
    """The engine of the database server a secret is a password of (its user's or its admin's)."""
    database = catalog.secret_database(secret)
    if database:
        return catalog.databases[database]["engine"]
    servers = {db["service"]: db["engine"] for db in catalog.databases.values()}
    return next((engine for server, engine in servers.items()
                 if server in catalog.services and catalog.admin_secret(server) == secret), None)


def preflight_report(target: str) -> int:
    """Print the preflight report of a target; non-zero when a requirement is not met."""
    from deploys.render import dsm
    from deploys.target import preflight
    from deploys.target.access import Become
    from deploys.target.state import _sections

    connected = Target(target)
    rc, stdout, _ = connected.run("preflight", echo=False, dsm_tasks=dsm.desired(connected.catalog))
    if rc != 0:
        return rc
    sections = _sections(stdout)
    checks = preflight.judge(connected.catalog, preflight.facts(sections.get("preflight", [])),
                             Become.of(connected.host.data).describe(), dsm.parse(sections.get("dsm", [])))
    print(f"preflight of target {target}:")
    print(preflight.report(checks))
    return 0 if all(c.ok for c in checks) else 1


def show_plan(target: str) -> int:
    """`make plan`: what a deploy would change on the target and why, touching nothing (the
    deploy's own read, preflight and plan, without pyinfra's operations). Exit 0: nothing would
    change; 2: something would; 1: the deploy would refuse (the reason printed)."""
    from deploys.target import lock, preflight
    from deploys import plan as plan_mod, render
    from deploys.target.access import Become
    from deploys.target.state import parse_state

    connected = Target(target)
    catalog = connected.catalog
    desired = plan_mod.Desired.of(catalog, render.render(catalog))
    become = Become.of(connected.host.data)
    rc, stdout, _ = connected.shell(commands.state_command(catalog, desired))
    state = parse_state(stdout)
    if rc != 0 or state.unreadable:
        print(f"{target}: could not read the target as root. {become.refused()}", file=sys.stderr)
        return 1
    checks = preflight.judge(catalog, state.preflight, become.describe(), state.dsm)
    if not all(check.ok for check in checks):
        print(f"{target}: preflight: the deploy would stop here, touching nothing.\n{preflight.report(checks)}")
        return 1
    try:
        plan = plan_mod.build(desired, state, lock.is_stale)
    except plan_mod.PlanRefused as refused:
        print(f"{target}: the deploy would refuse: {refused}")
        return 1
    changes = [str(change) for change in plan.changes]
    if catalog.tunnel["mode"] == "remote":
        from deploys.converge import cloudflare

        api = cloudflare.TunnelAPI.from_catalog(catalog)
        if api.current_ingress() != cloudflare.desired_ingress(catalog):
            changes.append(f"push: Cloudflare's ingress of tunnel {api.tunnel_id}: differs from the catalog")
    unclean = release.tree_problem() if catalog.require_clean_tree else None
    print(f"plan for target {target} ({catalog.deploy_root}):")
    if unclean:
        print(f"  the deploy would refuse this checkout: {unclean} (make deploy ALLOW_DIRTY=1 overrides)")
    for change in changes:
        print(f"  {change}")
    if not changes:
        print("  nothing to change: " + "; ".join(f"{step}: {note}" for step, note in plan.notes.items()))
    return 2 if changes else 0


def rollback(target: str, release_id: str | None) -> int:
    """Roll the target back to a recorded release (default: the last good one), under the lock."""
    me = release.identity(target, kind="rollback")
    steps = [["bash", "scripts/release.sh", "rollback", *([release_id] if release_id else [])]]
    return Target(target).run("locked", me=me.owner, steps=steps)[0]


def unlock(target: str) -> int:
    """Remove a deploy lock left behind by an interrupted deploy (audited)."""
    return Target(target).run("lock", action="unlock")[0]


def list_releases(target: str) -> int:
    """Print the target's releases, newest first, marking the current and the last good one."""
    rc, stdout, stderr = Target(target).run("script", echo=False, script="release", args=["list"])
    if rc != 0:
        print("\n".join(stderr).strip() or "no releases recorded yet")
        return rc
    rows, marks, lock_line = [], {}, None
    for line in stdout:
        key, _, rest = line.partition("\t")
        if key in ("current", "last-good"):
            marks[key] = rest
        elif key == "lock":
            lock_line = rest
        else:
            status, _, record = rest.partition("\t")
            rows.append((key, status, json.loads(record) if record else {}))
    print(f"{'RELEASE':32} {'STATUS':28} {'COMMIT':12} {'BY':28} MARK")
    for rid, status, info in sorted(rows, reverse=True):
        commit = (info.get("commit") or "?")[:10] + ("+dirty" if info.get("dirty") else "")
        mark = " ".join(k for k, v in marks.items() if v == rid)
        print(f"{rid:32} {status:28} {commit:12} {info.get('who', '?'):28} {mark}")
    if lock_line:
        print(f"deploy lock held by {lock_line}")
    return 0


def backup_now(target: str) -> int:
    """Take a backup now (dump, verify, prune, copy off the NAS); its manifest is printed."""
    return Target(target).run("script", script="backup", args=["run", "--kind", "manual"])[0]


def list_backups(target: str) -> int:
    """Print the target's backups, newest first: id, age, size, verified, release, databases."""
    rc, stdout, stderr = Target(target).run("script", echo=False, script="backup", args=["list"])
    if rc != 0:
        print("\n".join(stderr), file=sys.stderr)
        return rc
    print(f"{'BACKUP':18} {'AGE':>7} {'SIZE':>9} {'STATUS':22} {'KIND':12} {'RELEASE':32} DATABASES")
    for line in stdout:
        bid, status, kind, age, size_kib, rel, dbs = (line.split("\t") + [""] * 7)[:7]
        print(f"{bid:18} {_age(int(age or 0)):>7} {_size(int(size_kib or 0)):>9} {status:22} {kind:12} "
              f"{rel or '-':32} {dbs}")
    if not stdout:
        print("no backups yet: make backup")
    return 0


def restore_backup(target: str, backup_id: str, only: list[str], confirm: bool, from_offsite: bool) -> int:
    """Restore a backup (all its databases, or ONLY these) under the deploy lock: the services
    that use them stop, their current state is backed up first, then they start and the gate
    waits for health."""
    catalog = load(target)
    if catalog.backup["confirm_restore"] and not confirm:
        print(f"restoring {backup_id} on {target} replaces the data of "
              f"{', '.join(only) or 'every database'} (a backup of the current state is taken first); "
              "run again with CONFIRM=yes", file=sys.stderr)
        return 2
    steps = []
    if from_offsite:
        steps.append(["bash", "scripts/backup.sh", "offsite-restore", backup_id])
    steps.append(["bash", "scripts/backup.sh", "restore", backup_id, *only])
    me = release.identity(target, kind="restore")
    return Target(target).run("locked", me=me.owner, steps=steps)[0]


def offsite_key(target: str) -> int:
    """Print the public key the off-NAS repository's account must authorize."""
    return Target(target).run("script", script="backup", args=["offsite-key"])[0]


def _age(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _size(kib: int) -> str:
    for unit, size in (("GiB", 1 << 20), ("MiB", 1 << 10)):
        if kib >= size:
            return f"{kib / size:.1f} {unit}"
    return f"{kib} KiB"
