"""Time as the records and the page write it."""

from __future__ import annotations

import time
from datetime import datetime, timezone


def now() -> int:
    return int(time.time())


def iso(epoch: int) -> str:
    """2026-12-05T03:00:00Z"""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def hhmm(epoch: int) -> str:
    """03:00Z"""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%H:%MZ")


def ago(seconds: int) -> str:
    """How long, as a person reads it: "42 s", "3 min", "2 h 5 min", "4 d 2 h"."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def parse_docker_time(text: str | None) -> int | None:
    """Docker's RFC 3339 with nanoseconds (2026-12-05T03:00:00.123456789Z) as epoch seconds."""
    if not text or text.startswith("0001-"):
        return None
    base = text.split(".")[0].rstrip("Z")
    try:
        return int(datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp())
    except ValueError:
        return None
