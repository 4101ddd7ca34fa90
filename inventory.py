"""Inventory: which target a run converges, and how to reach it.

  MARKETPLACE_TARGET=local       (default when MARKETPLACE_NAS is unset) this machine over SSH
  MARKETPLACE_TARGET=staging     the same machine, the staging project beside the local one
  MARKETPLACE_TARGET=production  the NAS named by MARKETPLACE_NAS (default when it is set)

Connection settings for the NAS (SSH user, key, sudo, SCP) are in group_data/production.py.
Every selected target's catalog and ingress are validated here (deploys/validate.py), before
pyinfra connects to anything.
"""

import os
import sys
from pathlib import Path

from deploys import catalog as _catalog
from deploys import validate as _validate

_REPO = Path(__file__).resolve().parent
_SSH = Path(os.environ.get("MARKETPLACE_STATE", _REPO / ".state")) / "ssh"
_NAS = os.environ.get("MARKETPLACE_NAS", "")
_TARGET = os.environ.get("MARKETPLACE_TARGET") or ("production" if _NAS else "local")


def _this_machine(target):
    return (f"{target}@127.0.0.1", {
        "target": target,
        "ssh_hostname": "127.0.0.1",
        "ssh_port": int(os.environ.get("MARKETPLACE_SSH_PORT", "2222")),
        "ssh_user": "root",
        "ssh_key": str(_SSH / "id_ed25519"),
        "ssh_known_hosts_file": str(_SSH / "known_hosts"),
        "ssh_strict_host_key_checking": "yes",
    })


if _TARGET not in _catalog.TARGETS:
    sys.exit(f"MARKETPLACE_TARGET={_TARGET!r}: expected one of {', '.join(_catalog.TARGETS)}")
if _TARGET == "production" and not _NAS:
    sys.exit("MARKETPLACE_TARGET=production needs MARKETPLACE_NAS=<NAS hostname or address>")

try:
    _validate.check(_TARGET)
except _catalog.CatalogError as _error:
    sys.exit(f"{_error}\nNothing was touched: fix the catalog and run again.")

production = [(_NAS, {"target": "production"})] if _TARGET == "production" else []
staging = [_this_machine("staging")] if _TARGET == "staging" else []
local = [_this_machine("local")] if _TARGET == "local" else []
