"""Inventory: which target a run converges, and how to reach it.

A target is a file of group_data/ that says how to reach it (its ssh_* keys, merged over what it
extends like every other setting): `local` (this machine, root), `staging` (the DSM stand-in on
this machine, reached exactly like the NAS), `production` (the NAS). Choose one with
MARKETPLACE_TARGET; without it the NAS is the target whenever MARKETPLACE_NAS is set, the local
target otherwise. A target file without ssh_hostname (production) takes its address from
MARKETPLACE_NAS.

Every run validates the target's catalog and ingress here (deploys/render/validate.py), before pyinfra
connects to anything.
"""

import os
import sys

from deploys.target import access as _access  # noqa: F401 - pyinfra never prompts for sudo by itself
from deploys import catalog as _catalog
from deploys.render import validate as _validate

_NAS = os.environ.get("MARKETPLACE_NAS", "")
_TARGET = os.environ.get("MARKETPLACE_TARGET") or ("production" if _NAS else "local")

if _TARGET not in _catalog.targets():
    sys.exit(f"MARKETPLACE_TARGET={_TARGET!r}: expected one of {', '.join(_catalog.targets())} "
             "(a target is a group_data file with its ssh_* keys)")
try:
    _validate.check(_TARGET)
    _connection = _catalog.connection(_TARGET)
    _engine = _catalog.load(_TARGET).engine
except _catalog.CatalogError as _error:
    sys.exit(f"{_error}\nNothing was touched: fix the catalog and run again.")
if _engine == "kubernetes":
    sys.exit(f"target {_TARGET} runs on {_engine}: it is rendered, not deployed over SSH. "
             f"`make render TARGET={_TARGET}` writes its manifests (docs/OUTGROW.md).")

_address = _connection.pop("ssh_hostname", None) or _NAS
if not _address:
    sys.exit(f"target {_TARGET} has no ssh_hostname: set MARKETPLACE_NAS=<its hostname or address>")
_key = _connection.get("ssh_key")
if _key and not os.path.isfile(os.path.expanduser(str(_key))):
    _fix = (f"this machine is the target: `make setup` (or `make deploy TARGET={_TARGET}`) makes it"
            if _address in ("127.0.0.1", "::1", "localhost") else
            f"set ssh_key in group_data/{_TARGET}.py to the key the NAS's deploy account accepts")
    sys.exit(f"target {_TARGET}: its SSH key {_key} does not exist; {_fix}. Nothing was touched.")
# `_sudo` (pyinfra's key) is handled by deploys/target/access.py, not by pyinfra (see there why).
_connection["become"] = "sudo" if _connection.pop("_sudo", False) else "root"
_connection["_sudo"] = False  # over the target file's own, which pyinfra loads as group data
_connection.update(ssh_hostname=_address, target=_TARGET)
# The inventory group is named after the target, so pyinfra also loads group_data/<target>.py.
globals()[_TARGET] = [(f"{_TARGET}@{_address}", _connection)]
