"""Converge one target to its catalog: `pyinfra inventory.py deploys/marketplace.py`.

The catalog (validated by inventory.py before pyinfra connects) is rendered; one fact reads the
target in one remote command; the plan (deploys/plan.py) decides every change and its reason;
the operations below apply it in order. An unchanged target costs one round trip and reports
zero changes. A deploy that changes anything holds the target's deploy lock; one that changes the
stack is a release (scripts/release.sh: health gate, automatic rollback, recorded in releases/).
"""

from pyinfra import host

from deploys import catalog as catalog_mod
from deploys.converge import cloudflare, operations, release
from deploys.target import commands, lock, preflight
from deploys import layout, plan as plan_mod, render
from deploys.target.access import Become
from deploys.target.facts import StackState

catalog = catalog_mod.load(host.data.target)
files = render.render(catalog)
desired = plan_mod.Desired.of(catalog, files)
become = Become.of(host.data)
# `|| echo @unreadable`: a state command that fails (sudo refused) is reported here, not as
# pyinfra's dump of the whole command.
state_script = become.script(commands.state_command(catalog, desired))
state = host.get_fact(StackState, script=state_script.get_raw_value() + " || echo @unreadable",
                      **become.arguments())
if state.unreadable:
    raise SystemExit(f"{host.name}: could not read the target as root. " + become.refused())
checks = preflight.judge(catalog, state.preflight, become.describe(), state.dsm)
if not all(check.ok for check in checks):
    raise SystemExit(f"{host.name}: preflight: the target does not meet every requirement; nothing "
                     f"was touched.\n{preflight.report(checks)}")
last = state.last_release
if last and not last.reported and not last.running:
    print(f"{host.name}: release {last.id} ended while its deploy was not connected: {last.status} "
          f"(its output: {catalog.deploy_root}/{layout.release_dir(last.id)}/apply.log)")
try:
    plan = plan_mod.build(desired, state, lock.is_stale)
except plan_mod.PlanRefused as refused:
    raise SystemExit(f"{catalog.deploy_root}: {refused}") from None
# A target that requires it gets only pushed commits, unless told otherwise (`--data allow_dirty=1`,
# make deploy ALLOW_DIRTY=1), and then the release records why.
unclean = release.tree_problem() if catalog.require_clean_tree else None
if unclean and not host.data.get("allow_dirty"):
    raise SystemExit(f"{host.name}: refusing to deploy: {unclean}. Commit and push, or deploy anyway "
                     "with `make deploy ALLOW_DIRTY=1` (pyinfra ... --data allow_dirty=1); nothing was touched")
me = release.identity(catalog.target, files, allowed_dirty=unclean)

operations.take_lock(
    name="Take the deploy lock",
    **become.arguments(),
    plan=plan, catalog=catalog, me=me.owner,
)
operations.directories(
    name="Create the deploy root's missing folders",
    **become.arguments(),
    plan=plan,
)
operations.files(
    name="Push the build contexts",
    **become.arguments(),
    plan=plan, group="contexts", catalog=catalog,
)
operations.files(
    name="Push the configuration, scripts and DSM tasks",
    **become.arguments(),
    plan=plan, group="config", catalog=catalog,
)
operations.secrets(
    name="Generate missing secrets and write the secret env files",
    **become.arguments(),
    plan=plan,
)
operations.files(
    name="Push the compose file once `docker compose config -q` accepts it",
    **become.arguments(),
    plan=plan, group="compose", catalog=catalog,
    validate=["bash", f"{catalog.deploy_root}/{layout.script('compose')}", "-f", "{}", "config", "-q"],
)
if catalog.tunnel["mode"] == "shared":
    operations.files(
        name="Push the shared tunnel's config with the managed block",
        **become.arguments(),
        plan=plan, group="shared", catalog=catalog,
    )
    operations.shared_tunnel(
        name="Install the managed block in the shared tunnel, restart it only if it changed",
        **become.arguments(),
        plan=plan,
    )
operations.dsm_tasks(
    name="Converge the DSM Task Scheduler's tasks",
    **become.arguments(),
    plan=plan, catalog=catalog,
)
operations.release(
    name="Release: converge the stack, gate on health, roll back on failure",
    **become.arguments(),
    plan=plan, catalog=catalog, release_id=me.release_id, record=me.record,
)
operations.release_lock(
    name="Release the deploy lock",
    **become.arguments(),
    plan=plan, catalog=catalog, me=me.owner,
)
if catalog.tunnel["mode"] == "remote":
    operations.tunnel_ingress(
        name="Push the tunnel's ingress to Cloudflare when it differs",
        **become.arguments(),
        api=cloudflare.TunnelAPI.from_catalog(catalog), desired=cloudflare.desired_ingress(catalog),
    )
