"""What a release records about where it came from: the git commit (a dirty tree marked as such),
who ran it from where and when, and the hash of every rendered file. The target side (image
digests, outcome, snapshots, the audit log) is scripts/release.sh."""

from __future__ import annotations

import json
import subprocess
import time

from deploys.catalog import REPO
from deploys.render import ManagedFile


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


def release_id(commit: str) -> str:
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{commit[:7]}"


def deploy_record(owner: dict, target: str, commit: str, dirty: bool,
                  files: dict[str, ManagedFile]) -> bytes:
    record = {**owner, "target": target, "commit": commit, "dirty": dirty,
              "files": {path: mf.sha256 for path, mf in sorted(files.items())}}
    return (json.dumps(record, sort_keys=True) + "\n").encode()
