"""The local default target: this machine over SSH (127.0.0.1:2222), stand-ins for what cannot
run here. `make deploy` converges it when no NAS is configured."""

import os as _os
from pathlib import Path as _Path

extends = ["standins"]

# -- How pyinfra reaches it (pyinfra's own keys): root over the SSH server that `make setup` runs
_SSH = _Path(_os.environ.get("MARKETPLACE_STATE", _Path(__file__).resolve().parent.parent / ".state")) / "ssh"
ssh_hostname = "127.0.0.1"
ssh_port = int(_os.environ.get("MARKETPLACE_SSH_PORT", "2222"))
ssh_user = "root"
ssh_key = str(_SSH / "id_ed25519")
ssh_known_hosts_file = str(_SSH / "known_hosts")
ssh_strict_host_key_checking = "yes"

project_name = "marketplace"
deploy_root = "/var/lib/marketplace/local"
docker_bin = "/usr/local/bin/docker"
wait_timeout_s = 300
backup_dir = "/var/lib/marketplace/backups/local"

hostnames = {
    "main": "boma.localhost",
    "kaui": "kaui.boma.localhost",
    "condo": "condo.boma.localhost",
}

# Deployed from a working tree while it is being changed.
require_clean_tree = False

# This machine: restores need no CONFIRM=yes.
backup = {"confirm_restore": False}
