"""Converge one target to its catalog: `pyinfra inventory.py deploys/marketplace.py`.

The catalog (validated by inventory.py before pyinfra connects) is rendered; one fact reads the
target in one remote command; the plan (deploys/plan.py) decides every change and its reason;
the operations below apply it in order. An unchanged target costs one round trip and reports
zero changes. A deploy that changes anything holds the target's deploy lock; one that changes the
stack is a release (scripts/release.sh: health gate, automatic rollback, recorded in releases/).
"""

from pyinfra import host

from deploys import catalog as catalog_mod
from deploys import cloudflare, commands, layout, lock, operations, plan as plan_mod, release, render
from deploys.facts import StackState

catalog = catalog_mod.load(host.data.target)
files = render.render(catalog)
desired = plan_mod.Desired.of(catalog, files)
state = host.get_fact(StackState, script=commands.state_command(catalog, desired))
try:
    plan = plan_mod.build(desired, state, lock.is_stale)
except plan_mod.PlanRefused as refused:
    raise SystemExit(f"{catalog.deploy_root}: {refused}") from None
me = release.identity(catalog.target, files)

operations.take_lock(
    name="Take the deploy lock",
    plan=plan, catalog=catalog, me=me.owner,
)
operations.directories(
    name="Create the deploy root's missing folders",
    plan=plan,
)
operations.files(
    name="Push the build contexts",
    plan=plan, group="contexts", catalog=catalog,
)
operations.files(
    name="Push the configuration, scripts and DSM tasks",
    plan=plan, group="config", catalog=catalog,
)
operations.secrets(
    name="Generate missing secrets and write the secret env files",
    plan=plan,
)
operations.files(
    name="Push the compose file once `docker compose config -q` accepts it",
    plan=plan, group="compose", catalog=catalog,
    validate=["bash", f"{catalog.deploy_root}/{layout.script('compose')}", "-f", "{}", "config", "-q"],
)
if catalog.tunnel["mode"] == "shared":
    operations.files(
        name="Push the shared tunnel's config with the managed block",
        plan=plan, group="shared", catalog=catalog,
    )
    operations.shared_tunnel(
        name="Install the managed block in the shared tunnel, restart it only if it changed",
        plan=plan,
    )
operations.release(
    name="Release: converge the stack, gate on health, roll back on failure",
    plan=plan, release_id=me.release_id, record=me.record,
)
operations.release_lock(
    name="Release the deploy lock",
    plan=plan, catalog=catalog, me=me.owner,
)
if catalog.tunnel["mode"] == "remote":
    operations.tunnel_ingress(
        name="Push the tunnel's ingress to Cloudflare when it differs",
        api=cloudflare.TunnelAPI.from_catalog(catalog), desired=cloudflare.desired_ingress(catalog),
    )
