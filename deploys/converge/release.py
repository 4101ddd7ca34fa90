"""Who and what a release is, from the deploy side: its id, the git commit it was rendered from
(a dirty tree marked as such), who ran it from where and when (the lock's owner record), and the
hash of every rendered file. The target side (image digests, outcome, snapshots, the audit log)
is scripts/release.sh."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass

from deploys.target import lock
from deploys.catalog import REPO
from deploys.layout import ManagedFile


@dataclass(frozen=True)
class Identity:
    release_id: str
    owner: dict       # the deploy lock's owner record (deploys/target/lock.py)
    record: bytes     # releases/<id>/deploy.json


def git_commit() -> tuple[str, bool]:
    """(HEAD's commit, whether the tree differs from it); ("unknown", True) outside git."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True,
                                text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown", True
    return head, bool(status.strip())


def unpushed() -> str | None:
    """Why HEAD is not on its remote branch (None: it is): no upstream, or commits ahead."""
    try:
        ahead = subprocess.run(["git", "-C", str(REPO), "rev-list", "--count", "@{upstream}..HEAD"],
                               capture_output=True, text=True)
    except OSError:
        return "not a git checkout"
    if ahead.returncode != 0:
        return "its branch has no upstream to compare with"
    count = int(ahead.stdout.strip() or 0)
    return f"{count} commit(s) not pushed" if count else None


def tree_problem() -> str | None:
    """What keeps this checkout from being a release of a pushed commit (None: nothing)."""
    commit, dirty = git_commit()
    if commit == "unknown":
        return "not a git checkout"
    if dirty:
        return "the tree has uncommitted changes (git status)"
    return unpushed()


def release_id(commit: str) -> str:
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{commit[:7]}"


def identity(target: str, files: dict[str, ManagedFile] | None = None, kind: str = "",
             allowed_dirty: str | None = None) -> Identity:
    """This run's identity: a deploy's (with its files) or an ops command's (kind: rotate, ...).
    `allowed_dirty`: why the tree was not a pushed commit, when the deploy was told to go on."""
    commit, dirty = git_commit()
    rid = (f"{kind}-" if kind else "") + release_id(commit)
    owner = lock.owner(rid, commit)
    record = {**owner, "target": target, "commit": commit, "dirty": dirty,
              **({"allow_dirty": allowed_dirty} if allowed_dirty else {}),
              "files": {path: mf.sha256 for path, mf in sorted((files or {}).items())}}
    return Identity(rid, owner, (json.dumps(record, sort_keys=True) + "\n").encode())
