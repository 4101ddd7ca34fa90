"""The backup folder: its backups' ids, records (manifest, status, the last verified one) and
the lock that lets one backup or restore run at a time."""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

ID = re.compile(r"^\d{8}T\d{6}Z$")
LOCK_FILE = ".backup.lock"
LOCK_WAIT_S = 900


class Refused(Exception):
    """What the command will not do, said to the operator (exit 1, or `code`)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def new_id_at(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y%m%dT%H%M%SZ")


class Store:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def dir(self, backup_id: str) -> Path:
        return self.root / backup_id

    def ids(self) -> list[str]:
        """Every backup's id, newest first."""
        if not self.root.is_dir():
            return []
        return sorted((p.name for p in self.root.iterdir() if ID.match(p.name) and p.is_dir()), reverse=True)

    def new(self, now=time.time, sleep=time.sleep) -> str:
        """A new backup's folder (0700, with counts/), named after the time (one a second)."""
        while True:
            backup_id = new_id_at(now())
            try:
                self.dir(backup_id).mkdir(mode=0o700)
            except FileExistsError:
                sleep(1)
                continue
            (self.dir(backup_id) / "counts").mkdir(mode=0o700)
            return backup_id

    def status(self, backup_id: str) -> str:
        try:
            return (self.dir(backup_id) / "status").read_text().strip()
        except OSError:
            return "missing"

    def set_status(self, backup_id: str, status: str) -> None:
        replace(self.dir(backup_id) / "status", status + "\n")

    def manifest(self, backup_id: str) -> dict | None:
        try:
            return json.loads((self.dir(backup_id) / "manifest.json").read_text())
        except (OSError, ValueError):
            return None

    def write_manifest(self, backup_id: str, manifest: dict) -> None:
        replace(self.dir(backup_id) / "manifest.json", json.dumps(manifest, indent=2) + "\n")

    def last_verified(self) -> str | None:
        """The newest verified backup's id, while its folder exists."""
        try:
            backup_id = (self.root / "last-verified").read_text().split()[0]
        except (OSError, IndexError):
            return None
        return backup_id if self.dir(backup_id).is_dir() else None

    def last_verified_line(self) -> tuple[str, int] | None:
        try:
            backup_id, epoch = (self.root / "last-verified").read_text().split()[:2]
            return backup_id, int(epoch)
        except (OSError, ValueError):
            return None

    def set_last_verified(self, backup_id: str, epoch: int) -> None:
        replace(self.root / "last-verified", f"{backup_id} {epoch}\n")

    @contextmanager
    def lock(self, say, wait_s: int = LOCK_WAIT_S, sleep=time.sleep):
        """One backup or restore at a time, across containers (a lock on a file of the folder:
        the kernel drops it when its holder dies, so a killed run leaves nothing to clean)."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        path = self.root / LOCK_FILE
        with open(path, "a+") as f:
            waited = 0
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    f.seek(0)
                    holder = f.read().strip() or "another run"
                    if waited >= wait_s:
                        raise Refused(f"another backup or restore ({holder}) has run for {wait_s // 60} minutes; "
                                      "not waiting longer") from None
                    if waited == 0:
                        say(f"waiting for the backup or restore of {holder}")
                    sleep(5)
                    waited += 5
            f.seek(0)
            f.truncate()
            f.write(f"{socket.gethostname()} since {datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ}\n")
            f.flush()
            try:
                yield
            finally:
                f.seek(0)
                f.truncate()
                fcntl.flock(f, fcntl.LOCK_UN)


def replace(path: Path, text: str | bytes) -> None:
    """Write a file whole or not at all (a temporary file renamed over it)."""
    part = path.with_name(f".{path.name}.tmp")
    if isinstance(text, bytes):
        part.write_bytes(text)
    else:
        part.write_text(text)
    os.replace(part, path)


def disk_usage_kib(path: Path) -> int:
    """What `du -sk` says of a folder: its files' allocated blocks, in KiB."""
    total = 0
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                pass
    try:
        total += os.lstat(path).st_blocks * 512
    except OSError:
        pass
    return total // 1024
