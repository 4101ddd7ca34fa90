"""Converge one target to its catalog: `pyinfra inventory.py deploys/marketplace.py`.

One StackState fact (one remote command) tells what is there; every operation plans from it,
so an unchanged target costs one round trip and reports zero changes.
"""

from pyinfra import host

from deploys import catalog as catalog_mod
from deploys import cloudflare, operations, plan, shared_tunnel
from deploys.facts import StackState
from deploys.render import COMPOSE_FILE, SHARED_TUNNEL_FILE, ManagedFile, directories, render

catalog = catalog_mod.load(host.data.target)
files = render(catalog)
root, owner = catalog.deploy_root, catalog.file_owner
dirs = directories(catalog, files)
secrets_script = files["scripts/secrets.sh"]

state = host.get_fact(StackState, script=plan.state_script(catalog, files, dirs))
secrets_current, secrets_why = state.secrets_current(catalog.used_secrets, secrets_script.sha256)

operations.directories(
    name="Create the deploy root's folders",
    root=root, dirs=dirs, state=state, owner=owner,
)
operations.files(
    name="Push the build contexts",
    root=root, managed=[f for p, f in files.items() if p.startswith("build/")], state=state, owner=owner,
)
operations.files(
    name="Push the configuration, scripts and DSM tasks",
    root=root, managed=[f for p, f in files.items() if not p.startswith("build/") and p != COMPOSE_FILE],
    state=state, owner=owner,
)
operations.secrets(
    name="Generate missing secrets and write the secret env files",
    root=root, current=secrets_current, why=secrets_why,
)
operations.files(
    name="Push the compose file once `docker compose config -q` accepts it",
    root=root, managed=[files[COMPOSE_FILE]], state=state, owner=owner,
    validate=["sh", f"{root}/scripts/compose.sh", "-f", "{}", "config", "-q"],
)
operations.stack(
    name="Converge the stack and check every health route",
    root=root, reasons=plan.converge_reasons(catalog, files, state, secrets_current),
    healthy=plan.healthy_summary(catalog),
)

if catalog.tunnel["mode"] == "shared":
    shared = catalog.tunnel["shared"]
    if state.shared_config is None:
        raise SystemExit(f"tunnel.mode is 'shared' but {shared['config_file']} does not exist on the "
                         "target: nothing was touched by this step")
    try:
        merged = shared_tunnel.merge(state.shared_config, catalog)
    except shared_tunnel.SharedTunnelError as exc:
        raise SystemExit(f"shared tunnel {shared['config_file']}: {exc}") from None
    operations.files(
        name="Push the shared tunnel's config with the managed block",
        root=root, managed=[ManagedFile(SHARED_TUNNEL_FILE, merged.encode(), 0o644)], state=state,
        owner=owner,
    )
    operations.shared_tunnel(
        name="Install the managed block in the shared tunnel, restart it only if it changed",
        root=root, current=state.shared_config, merged=merged,
    )

if catalog.tunnel["mode"] == "remote":
    operations.tunnel_ingress(
        name="Push the tunnel's ingress to Cloudflare when it differs",
        api=cloudflare.TunnelAPI.from_catalog(catalog), desired=cloudflare.desired_ingress(catalog),
    )
