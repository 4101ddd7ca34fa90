"""The deploy's operations. Each plans from the StackState fact (read once, before any change)
and yields commands only for what differs; every no-change branch says why."""

from __future__ import annotations

from io import BytesIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, FunctionCommand, QuoteString, StringCommand, operation

from deploys.facts import TargetState
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
    changed = 0
    for mf in managed:
        dest = f"{root}/{mf.path}"
        current = state.files.get(mf.path)
        if current is None or current.sha256 != mf.sha256:
            tmp = f"{dest}.deploy-tmp"
            yield FileUploadCommand(BytesIO(mf.content), tmp)
            if validate:
                yield StringCommand(*(QuoteString(a.replace("{}", tmp)) for a in validate))
            yield StringCommand("chmod", f"{mf.mode:o}", QuoteString(tmp), "&&",
                                "chown", QuoteString(owner), QuoteString(tmp), "&&",
                                "mv", "-f", QuoteString(tmp), QuoteString(dest))
        elif current.mode != mf.mode or current.owner != owner:
            yield StringCommand("chmod", f"{mf.mode:o}", QuoteString(dest), "&&",
                                "chown", QuoteString(owner), QuoteString(dest))
        else:
            continue
        changed += 1
    if not changed:
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
def stack(root: str, reasons: list[str], healthy: str):
    """Converge the containers (`scripts/start_all.sh`: config -q, up -d --wait
    --remove-orphans) when anything the stack depends on changed, then check every service
    and route (`scripts/healthcheck.sh`)."""
    if not reasons:
        host.noop(healthy)
        return
    for reason in reasons:
        host.log(f"converge: {reason}")
    yield StringCommand("sh", _path(root, "scripts/start_all.sh"))
    yield StringCommand("sh", _path(root, "scripts/healthcheck.sh"))


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
