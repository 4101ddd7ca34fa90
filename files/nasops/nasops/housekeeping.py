"""The ops logs' rotation (`housekeeping`): a *.log past log_max_kib in one of the rotated
folders is gzipped to NAME.1.gz (older ones shift, log_keep kept) and emptied in place, so a
task appending to it right now (the monitor's own log) goes on writing."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path


def rotate(root: Path, folders, max_kib: int, keep: int) -> list[Path]:
    """The logs rotated (relative to root)."""
    done = []
    for folder in folders:
        where = root / folder
        if not where.is_dir():
            continue
        for log in sorted(where.glob("*.log")):
            if log.is_file() and not log.is_symlink() and log.stat().st_size > max_kib * 1024:
                rotate_one(log, keep)
                done.append(log.relative_to(root))
    return done


def rotate_one(log: Path, keep: int) -> None:
    def old(i: int) -> Path:
        return log.with_name(f"{log.name}.{i}.gz")

    old(keep).unlink(missing_ok=True)
    for i in range(keep - 1, 0, -1):
        if old(i).is_file():
            os.replace(old(i), old(i + 1))
    part = log.with_name(f"{log.name}.1.gz.tmp")
    with log.open("rb") as src, gzip.open(part, "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.replace(part, old(1))
    with log.open("r+b") as f:
        f.truncate(0)
