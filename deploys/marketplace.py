"""Converge one target to its catalog: `pyinfra inventory.py deploys/marketplace.py`.

One StackState fact (one remote command) tells what is there; every operation plans from it,
so an unchanged target costs one round trip and reports zero changes. A deploy that changes
anything holds the target's deploy lock; one that changes the stack is a release
(scripts/release.sh: health gate, automatic rollback, recorded under releases/).
"""

from pyinfra import host

from deploys import catalog as catalog_mod
from deploys import cloudflare, lock, operations, plan, release, shared_tunnel
from deploys.facts import StackState
from deploys.render import COMPOSE_FILE, SHARED_TUNNEL_FILE, ManagedFile, directories, render

catalog = catalog_mod.load(host.data.target)
files = render(catalog)
root, owner = catalog.deploy_root, catalog.file_owner
dirs = directories(catalog, files)
secrets_script = files["scripts/secrets.sh"]
commit, dirty = release.git_commit()
release_id = release.release_id(commit)
me = lock.owner(release_id, commit)

state = host.get_fact(StackState, script=plan.state_script(catalog, files, dirs))
secrets_current, secrets_why = state.secrets_current(catalog.used_secrets, secrets_script.sha256)

stale_id = None
if state.lock is not None:
    if not lock.is_stale(state.lock):
        raise SystemExit(f"deploy lock held by {lock.describe(state.lock)} on {root}: another deploy "
                         "is running; nothing was touched. If it is not running: make unlock")
    stale_id = str(state.lock.get("id"))

groups = {
    "contexts": [f for p, f in files.items() if p.startswith("build/")],
    "config": [f for p, f in files.items() if not p.startswith("build/") and p != COMPOSE_FILE],
    "compose": [files[COMPOSE_FILE]],
}
merged = None
if catalog.tunnel["mode"] == "shared":
    shared = catalog.tunnel["shared"]
    if state.shared_config is None:
        raise SystemExit(f"tunnel.mode is 'shared' but {shared['config_file']} does not exist on the "
                         "target: nothing was touched")
    try:
        merged = shared_tunnel.merge(state.shared_config, catalog)
    except shared_tunnel.SharedTunnelError as exc:
        raise SystemExit(f"shared tunnel {shared['config_file']}: {exc}; nothing was touched") from None
    groups["shared"] = [ManagedFile(SHARED_TUNNEL_FILE, merged.encode(), 0o644)]

reasons = plan.converge_reasons(catalog, files, state, secrets_current)
changes = ([d for d in dirs if d not in state.dirs]
           + [mf.path for group in groups.values() for mf, _ in plan.files_to_push(group, state, owner)]
           + ([] if secrets_current else ["secrets"]) + reasons
           + (["shared tunnel"] if merged is not None and merged != state.shared_config else []))

operations.take_lock(
    name="Take the deploy lock",
    root=root, me=me, changes=changes, stale_id=stale_id,
)
operations.directories(
    name="Create the deploy root's folders",
    root=root, dirs=dirs, state=state, owner=owner,
)
operations.files(
    name="Push the build contexts",
    root=root, managed=groups["contexts"], state=state, owner=owner,
)
operations.files(
    name="Push the configuration, scripts and DSM tasks",
    root=root, managed=groups["config"], state=state, owner=owner,
)
operations.secrets(
    name="Generate missing secrets and write the secret env files",
    root=root, current=secrets_current, why=secrets_why,
)
operations.files(
    name="Push the compose file once `docker compose config -q` accepts it",
    root=root, managed=groups["compose"], state=state, owner=owner,
    validate=["sh", f"{root}/scripts/compose.sh", "-f", "{}", "config", "-q"],
)
if merged is not None:
    operations.files(
        name="Push the shared tunnel's config with the managed block",
        root=root, managed=groups["shared"], state=state, owner=owner,
    )
    operations.shared_tunnel(
        name="Install the managed block in the shared tunnel, restart it only if it changed",
        root=root, current=state.shared_config, merged=merged,
    )
operations.stack(
    name="Release: converge the stack, gate on health, roll back on failure",
    root=root, reasons=reasons, healthy=plan.healthy_summary(catalog), release_id=release_id,
    record=release.deploy_record(me, catalog.target, commit, dirty, files),
    snapshots=plan.snapshot_databases(catalog, files, state),
)
operations.release_lock(
    name="Release the deploy lock",
    root=root, me=me, changes=changes,
)
if catalog.tunnel["mode"] == "remote":
    operations.tunnel_ingress(
        name="Push the tunnel's ingress to Cloudflare when it differs",
        api=cloudflare.TunnelAPI.from_catalog(catalog), desired=cloudflare.desired_ingress(catalog),
    )
