"""One deploy at a time: a lock on the target (releases/.lock, an atomic mkdir).

The deploy's first operation takes it when anything is to change, naming who, from where,
which process and since when; the release (scripts/release.sh apply) or the deploy's last
operation releases it. A lock left by a deploy of this machine whose process is gone is taken
over; any other is refused, naming its holder, until `make unlock`.
"""

from __future__ import annotations

import getpass
import json
import os
import shlex
import socket
import time

LOCK_DIR = "releases/.lock"


def owner(deploy_id: str, commit: str) -> dict[str, object]:
    return {"id": deploy_id, "who": f"{getpass.getuser()}@{socket.gethostname()}",
            "host": socket.gethostname(), "pid": os.getpid(), "commit": commit,
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def describe(holder: dict) -> str:
    return (f"{holder.get('who', '?')} (deploy {holder.get('id', '?')}, pid {holder.get('pid', '?')}) "
            f"since {holder.get('since', '?')}")


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


def take_script(root: str, me: dict, stale_id: str | None = None) -> str:
    """sh: take the lock (or take over STALE_ID's), else exit 3 naming the holder."""
    q = shlex.quote
    note = f"lock of {stale_id} taken over by {me['id']} (that deploy is no longer running)"
    audit = f"printf '%s %s\\n' \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\" {q(note)} >> releases/audit.log"
    # ...unless its release script still runs on the target (a cut connection does not stop it
    # at once): then it is refused like any held lock.
    running = f"ps -eo args 2>/dev/null | grep -q {q('[r]elease.sh apply ' + str(stale_id))}"
    takeover = (f"elif [ \"$(cat {LOCK_DIR}/id 2>/dev/null)\" = {q(stale_id)} ] && ! {running}; "
                f"then {audit}; " if stale_id else "")
    return (f"mkdir -p {q(root + '/releases')} && cd {q(root)} && "
            f"if mkdir {LOCK_DIR} 2>/dev/null; then :; {takeover}"
            f"else echo \"deploy lock held by $(cat {LOCK_DIR}/owner 2>/dev/null) -- another deploy is "
            f"running; if it is not: make unlock\" >&2; exit 3; fi && "
            f"printf '%s\\n' {q(json.dumps(me, sort_keys=True))} > {LOCK_DIR}/owner && "
            f"echo {q(str(me['id']))} > {LOCK_DIR}/id")


def release_script(root: str, deploy_id: str | None = None) -> str:
    """sh: release the lock (only ours when deploy_id is given; any, by hand, otherwise)."""
    q = shlex.quote
    if deploy_id:
        return (f"cd {q(root)} && if [ \"$(cat {LOCK_DIR}/id 2>/dev/null)\" = {q(deploy_id)} ]; "
                f"then rm -rf {LOCK_DIR}; fi")
    return (f"cd {q(root)} && if [ -d {LOCK_DIR} ]; then "
            f"printf '%s %s\\n' \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\" \"lock of $(cat {LOCK_DIR}/owner 2>/dev/null) "
            f"released by hand (make unlock)\" >> releases/audit.log; "
            f"echo \"released the lock of $(cat {LOCK_DIR}/owner 2>/dev/null)\"; rm -rf {LOCK_DIR}; "
            "else echo 'no deploy lock is held'; fi")
