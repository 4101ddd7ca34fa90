"""The deploy's operations: each applies one part of a Plan (deploys/plan.py) and decides
nothing itself. A part with nothing to do yields no command and says why; every shell command
comes from a template (templates/commands/) or is an argv quoted with pyinfra's helpers, and
runs as root through deploys/target/access.py (sudo on the NAS); uploads go as the SSH account to its
temp folder, one archive per group."""

from __future__ import annotations

from io import BytesIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, FunctionCommand, QuoteString, StringCommand, operation

from deploys.target import commands
from deploys import layout
from deploys.target.access import Become
from deploys.catalog import Catalog
from deploys.plan import Plan


def _path(plan: Plan, rel: str) -> QuoteString:
    return QuoteString(f"{plan.desired.root}/{rel}")


def _sh(script: str) -> StringCommand:
    """A rendered command template, run as root by the target's POSIX shell."""
    return Become.of(host.data).script(script)


def _root(command: StringCommand) -> StringCommand:
    return Become.of(host.data).command(command)


def _temp(catalog: Catalog, name: str) -> str:
    """A file in the SSH account's temp folder (pyinfra's `_temp_dir`; DSM: /volume1/@tmp)."""
    return f"{host.data.get('_temp_dir') or '/tmp'}/{catalog.project_name}-{name}"


@operation()
def take_lock(plan: Plan, catalog: Catalog, me: dict):
    """Take the deploy lock before the first change (another deploy's refused the plan already);
    a plan with nothing to change needs no lock."""
    if not plan.changes:
        host.noop("nothing to change: no lock needed")
        return
    if plan.takeover:
        host.log(f"lock: taking over the lock of {plan.takeover} (its deploy is no longer running)")
    yield _sh(commands.command(catalog, "lock", action="take", me=me, stale_id=plan.takeover))


@operation()
def directories(plan: Plan):
    """Create the folders under the deploy root that are missing (never removes any)."""
    if not plan.folders:
        host.noop(f"all {len(plan.desired.dirs)} folders exist under {plan.desired.root}")
        return
    paths = [QuoteString(plan.desired.root)] + [_path(plan, c.subject) for c in plan.folders]
    yield _root(StringCommand("mkdir", "-p", *paths, "&&", "chown", QuoteString(plan.desired.owner), *paths))


@operation()
def files(plan: Plan, group: str, catalog: Catalog, validate: list[str] | None = None):
    """Upload a group's files that differ, in one archive to the temp folder; then one command
    as root (templates/commands/install.sh.j2) unpacks them beside their destinations, has
    `validate` (argv, `{}` the uploaded file) accept each, fixes every mode and owner and
    renames each into place (atomic per file)."""
    pushes = plan.pushes(group)
    if not pushes:
        count = len(plan.desired.groups.get(group, ()))
        host.noop(f"all {count} files match the catalog (content, mode, {plan.desired.owner}-owned)")
        return
    archive = None
    if any(action == "upload" for _, action in pushes):
        archive = _temp(catalog, f"{group}.deploy.tar")
        yield FileUploadCommand(BytesIO(commands.upload_archive(pushes)), archive)
    yield _sh(commands.install_command(catalog, pushes, archive=archive, validate=validate))


@operation()
def secrets(plan: Plan):
    """Generate missing secrets and (re)write the secret env files with scripts/secrets.sh, when
    a secret is missing, a template changed or an env file was edited on the target."""
    if plan.secrets is None:
        host.noop(plan.notes["secrets"])
        return
    host.log(str(plan.secrets))
    yield _root(StringCommand("bash", _path(plan, layout.script("secrets"))))


@operation()
def shared_tunnel(plan: Plan):
    """Install the other site's config.yml with our managed block (scripts/shared_tunnel.sh:
    validate, back up, restart its tunnel, restore on failure), only when it differs."""
    if plan.shared is None:
        host.noop("the shared tunnel's config already holds the managed block as the catalog renders it")
        return
    host.log(str(plan.shared))
    yield _root(StringCommand("bash", _path(plan, layout.script("shared_tunnel"))))


@operation()
def dsm_tasks(plan: Plan, catalog: Catalog):
    """Converge DSM's Task Scheduler to the catalog's tasks (create, set, delete ours only) in
    one command as root (templates/commands/dsm_tasks.sh.j2)."""
    if not plan.dsm_calls:
        host.noop(plan.notes["dsm"])
        return
    for call in plan.dsm_calls:
        host.log(f"{call.action}: DSM task {call.name!r}: {call.reason}")
    yield _sh(commands.command(catalog, "dsm_tasks", calls=plan.dsm_calls))


@operation()
def release(plan: Plan, catalog: Catalog, release_id: str, record: bytes):
    """Converge the containers as a release when anything the stack depends on changed:
    `scripts/release.sh apply` (pg_dump of the databases it touches, converge, health gate,
    automatic rollback to the last good release on failure, all recorded under releases/),
    detached from the connection (templates/commands/release.sh.j2), then the health table
    (`scripts/healthcheck.sh`)."""
    if not plan.converge:
        host.noop(plan.notes["converge"])
        return
    for change in plan.converge + plan.snapshots:
        host.log(str(change))
    host.log(f"release {release_id}")
    uploaded = f"{host.data.get('_temp_dir') or '/tmp'}/{release_id}.deploy.json"
    yield FileUploadCommand(BytesIO(record), uploaded)
    yield _root(StringCommand("mkdir", "-p", _path(plan, layout.release_dir(release_id)), "&&", "mv", "-f", QuoteString(uploaded),
                              _path(plan, f"{layout.release_dir(release_id)}/deploy.json")))
    yield _sh(commands.command(catalog, "release", release_id=release_id,
                               snapshots=[c.subject for c in plan.snapshots]))
    yield _root(StringCommand("bash", _path(plan, layout.script("healthcheck")), "services"))


@operation()
def release_lock(plan: Plan, catalog: Catalog, me: dict):
    """Release the deploy lock this deploy took (the release already did, if it ran)."""
    if not plan.changes:
        host.noop("no lock was taken")
        return
    yield _sh(commands.command(catalog, "lock", action="release", me=me))


@operation()
def tunnel_ingress(api, desired: list[dict[str, str]]):
    """Push the catalog's ingress to a remotely managed tunnel, only when Cloudflare's differs
    (read at plan time; the token never appears in a command or in the output)."""
    current = api.current_ingress()
    if current == desired:
        host.noop(f"Cloudflare's ingress for tunnel {api.tunnel_id} matches the catalog "
                  f"({len(desired)} rules)")
        return
    host.log(f"tunnel: Cloudflare has {len(current)} rules, the catalog {len(desired)}: pushing")
    yield FunctionCommand(lambda *_: api.push(desired), (), {})
