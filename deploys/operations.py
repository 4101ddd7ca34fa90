"""The deploy's operations. Each plans from the StackState fact (read once, before any change)
and yields commands only for what differs; every no-change branch says why."""

from __future__ import annotations

from io import BytesIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, QuoteString, StringCommand, operation

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
