"""Retention: which backups are kept (backup.keep), a pure function of what the folder holds."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

UNDER_WAY = ("dumping", "verifying")


@dataclass(frozen=True)
class Held:
    id: str
    status: str
    full: bool  # a full backup (every database and the configuration), not a partial one
    has_manifest: bool


def iso_week(backup_id: str) -> tuple[int, int]:
    return dt.date(int(backup_id[:4]), int(backup_id[4:6]), int(backup_id[6:8])).isocalendar()[:2]


def keep_set(held: list[Held], last_verified: str | None, daily: int, weekly: int, partial: int) -> set[str]:
    """The ids to keep: the last verified backup; every backup under way; the newest `partial`
    partial ones; failed or unverified full ones newer than the last verified; the newest
    verified full backup of each of the last `daily` days and of each of the last `weekly` ISO
    weeks. `held` in any order."""
    keep = {last_verified} if last_verified else set()
    days: list[str] = []
    weeks: list[tuple[int, int]] = []
    partials = 0
    for b in sorted(held, key=lambda h: h.id, reverse=True):
        if b.status in UNDER_WAY:
            keep.add(b.id)
        elif not b.full:
            if partials < partial and b.has_manifest:
                keep.add(b.id)
                partials += 1
        elif b.status != "verified":
            if not last_verified or b.id > last_verified:
                keep.add(b.id)
        else:
            day, week = b.id[:8], iso_week(b.id)
            if (not days or days[-1] != day) and len(days) < daily:
                days.append(day)
                keep.add(b.id)
            if (not weeks or weeks[-1] != week) and len(weeks) < weekly:
                weeks.append(week)
                keep.add(b.id)
    return keep
