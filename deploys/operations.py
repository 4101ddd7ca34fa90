"""The deploy's operations. Each plans from the StackState fact (read once, before any change)
and yields commands only for what differs; every no-change branch says why."""

from __future__ import annotations

from io import BytesIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, FunctionCommand, QuoteString, StringCommand, operation

from deploys import lock as lock_mod
from deploys.facts import TargetState
from deploys.plan import files_to_push
from deploys.render import ManagedFile


def _path(root: str, rel: str) -> QuoteString:
    return QuoteString(f"{root}/{rel}")


@operation()
def directories(root: str, dirs: list[str], state: TargetState, owner: str):
    """Create the folders under the deploy root that are missing (never removes any)."""
    missing = [d for d in dirs if d not in state.dirs]
    if not missing:
        host.noop(f"all {len(dirs)} folders exist under {root}")
        return
    paths = [QuoteString(root)] + [_path(root, d) for d in missing]
    yield StringCommand("mkdir", "-p", *paths)
    yield StringCommand("chown", QuoteString(owner), *paths)


@operation()
def files(root: str, managed: list[ManagedFile], state: TargetState, owner: str,
          validate: list[str] | None = None):
    """Upload each file whose content differs (atomically: temp file, then rename) and fix
    each mode or owner that differs. `validate` (argv; `{}` is the temp file's path) must
    accept the new content before it replaces the old."""
    pending = files_to_push(managed, state, owner)
    moves: list[str | QuoteString] = []
    by_mode: dict[int, list[QuoteString]] = {}
    for mf, action in pending:
        dest = f"{root}/{mf.path}"
        if action == "upload":
            tmp = f"{dest}.deploy-tmp"
            yield FileUploadCommand(BytesIO(mf.content), tmp)
            if validate:
                yield StringCommand(*(QuoteString(a.replace("{}", tmp)) for a in validate))
            by_mode.setdefault(mf.mode, []).append(QuoteString(tmp))
            moves += ["&&", "mv", "-f", QuoteString(tmp), QuoteString(dest)]
        else:
            by_mode.setdefault(mf.mode, []).append(QuoteString(dest))
    if pending:
        # One command for every mode, owner and rename (each rename is atomic on its own).
        parts: list[str | QuoteString] = []
        for mode, paths in sorted(by_mode.items()):
            parts += [*(["&&"] if parts else []), "chmod", f"{mode:o}", *paths]
        every = [p for paths in by_mode.values() for p in paths]
        yield StringCommand(*parts, "&&", "chown", QuoteString(owner), *every, *moves)
    else:
        host.noop(f"all {len(managed)} files match the catalog (content, mode {owner}-owned)")


@operation()
def secrets(root: str, current: bool, why: str):
    """Generate missing secrets and (re)write the secret env files with scripts/secrets.sh,
    when a secret is missing, a template changed or an env file was edited on the target
    (TargetState.secrets_current says which, and why)."""
    if current:
        host.noop(why)
        return
    host.log(f"secrets: {why}")
    yield StringCommand("sh", _path(root, "scripts/secrets.sh"))


@operation()
def stack(root: str, reasons: list[str], healthy: str, release_id: str, record: bytes,
          snapshots: list[str]):
    """Converge the containers as a release when anything the stack depends on changed:
    `scripts/release.sh apply` (pg_dump of the databases it touches, converge, health gate,
    automatic rollback to the last good release on failure, all recorded under releases/),
    then the health table (`scripts/healthcheck.sh`)."""
    if not reasons:
        host.noop(healthy)
        return
    for reason in reasons:
        host.log(f"converge: {reason}")
    host.log(f"release {release_id}" + (f": snapshot of {', '.join(snapshots)} first" if snapshots else ""))
    yield StringCommand("mkdir", "-p", _path(root, f"releases/{release_id}"))
    yield FileUploadCommand(BytesIO(record), f"{root}/releases/{release_id}/deploy.json")
    yield StringCommand("sh", _path(root, "scripts/release.sh"), "apply", QuoteString(release_id),
                        *(QuoteString(db) for db in snapshots))
    yield StringCommand("sh", _path(root, "scripts/healthcheck.sh"))


@operation()
def take_lock(root: str, me: dict, changes: list[str], stale_id: str | None):
    """Take the deploy lock before the first change (refused, naming the holder, when another
    deploy holds it); nothing to change needs no lock."""
    if not changes:
        host.noop("nothing to change: no lock needed")
        return
    if stale_id:
        host.log(f"lock: taking over the lock of {stale_id} (its deploy is no longer running)")
    yield StringCommand("sh", "-c", QuoteString(lock_mod.take_script(root, me, stale_id)))


@operation()
def release_lock(root: str, me: dict, changes: list[str]):
    """Release the deploy lock this deploy took (the release already did, if it ran)."""
    if not changes:
        host.noop("no lock was taken")
        return
    yield StringCommand("sh", "-c", QuoteString(lock_mod.release_script(root, str(me["id"]))))


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


@operation()
def shared_tunnel(root: str, current: str | None, merged: str):
    """Install the other site's config.yml with our managed block (scripts/shared_tunnel.sh:
    validate, back up, restart its tunnel, restore on failure), only when it differs."""
    if current == merged:
        host.noop("the shared tunnel's config already holds the managed block as the catalog renders it")
        return
    host.log("shared tunnel: the managed block differs: installing it and restarting that tunnel")
    yield StringCommand("sh", _path(root, "scripts/shared_tunnel.sh"))
