"""The staging target: the NAS's own catalog and connection path, on the DSM stand-in that
`make setup` runs on this machine (files/nas-standin: SSH as the administrator `deploy`, sudo,
SCP only, /volume1, docker at /usr/local/bin only, Task Scheduler). What differs from production
is only what cannot be the same: the address, the key, the stand-in images, and the names and
ports that let it run beside the local target. CI and `make test` deploy here."""

import os as _os
from pathlib import Path as _Path

extends = ["production", "standins"]

# -- How pyinfra reaches it: production's user, sudo, SCP and temp dir (production.py), here
_SSH = _Path(_os.environ.get("MARKETPLACE_STATE", _Path(__file__).resolve().parent.parent / ".state")) / "ssh"
ssh_hostname = "127.0.0.1"
ssh_port = int(_os.environ.get("MARKETPLACE_NAS_SSH_PORT", "2223"))
ssh_key = str(_SSH / "id_ed25519")
ssh_known_hosts_file = str(_SSH / "known_hosts_nas")
ssh_strict_host_key_checking = "yes"

project_name = "marketplace-staging"
deploy_root = "/volume1/web/marketplace-staging"
backup_dir = "/volume1/backups/marketplace-staging"
port_offset = 100
wait_timeout_s = 300

hostnames = {
    "main": "boma.localhost",
    "kaui": "kaui.boma.localhost",
    "condo": "condo.boma.localhost",
}

# The tests deploy their own commits (clones that are never pushed) and this working tree.
require_clean_tree = False

# Restores here need no CONFIRM=yes (the tests restore); the secrets-and-configuration part is
# encrypted, as production's should be (there with a passphrase you keep off the NAS too: kind
# "provided"; here one made on the target).
backup = {"confirm_restore": False, "passphrase_secret": "backup_passphrase"}
secrets = {"backup_passphrase": {}}
