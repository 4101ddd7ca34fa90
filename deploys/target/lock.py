"""One deploy at a time: the deploy lock on the target (releases/.lock, an atomic mkdir), from
the deploy side. The shell that takes and releases it is templates/lib/lock.sh.j2.

The deploy's first operation takes it when anything is to change, naming who, from where,
which process and since when; the release (scripts/release.sh apply) or the deploy's last
operation releases it. A lock left by a deploy of this machine whose process is gone is taken
over; any other is refused, naming its holder, until `make unlock`.
"""

from __future__ import annotations

import getpass
import os
import socket
import time


def owner(deploy_id: str, commit: str) -> dict[str, object]:
    return {"id": deploy_id, "who": f"{getpass.getuser()}@{socket.gethostname()}",
            "host": socket.gethostname(), "pid": os.getpid(), "commit": commit,
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def is_stale(holder: dict) -> bool:
    """Held by a deploy from this machine whose process is gone."""
    if holder.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(holder.get("pid", 0)), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError, TypeError):
        return False
    return False
