"""The production target: the Synology NAS (DSM 7.2, Docker 24, Compose 2.20.1).

The defaults in all.py are production's. What only the operator can know is asked for here:
set these before the first deploy (the catalog refuses to deploy without them).
"""

services = {
    # No public image exists: build one from open-condo-software/condo (needs a 6 GB Node heap),
    # push or load it on the NAS, and set its pinned tag here; or set enabled=False (and drop
    # its route: routes = {"condo": None}).
    "condo": {"image": None},
    # cocolabs/cocorico is a 2019 debug container, not a production image: build one from
    # Cocolabs-SAS/cocorico and set its pinned tag here; or set enabled=False (and drop its
    # route: routes = {"marketplace": None}).
    "cocorico": {"image": None},
}

# deploy_root (all.py: /volume1/web/marketplace) is inside the shared folder `web`. If DSM exports
# it over SMB or NFS, the deploy refuses to keep secrets there: set deploy_root to a folder in a
# share nobody mounts, or accept that share's ACLs decide who reads it:
# allow_in_exported_share = ["web"]

tunnel = {
    # UUID of the marketplace's own tunnel (`cloudflared tunnel create marketplace`).
    "id": None,
}

# -- How pyinfra reaches the NAS (pyinfra's own keys; the catalog ignores ssh_* and _*) ------
# The NAS address comes from MARKETPLACE_NAS (no ssh_hostname here; see inventory.py).
# An administrator account of DSM with SSH enabled (Control Panel > Terminal & SNMP).
ssh_user = "deploy"
ssh_key = "~/.ssh/marketplace_nas"
# DSM has no docker group and /var/run/docker.sock is root:root: deploy with sudo. Give the
# password once: MARKETPLACE_SUDO_PASSWORD=..., or MARKETPLACE_ASK_SUDO=1 to be asked (it reaches
# sudo on stdin, never a command line); or give the account a NOPASSWD sudo rule.
_sudo = True
# DSM's SFTP server shows only shared folders at / and must be enabled in DSM; SCP needs
# neither (pyinfra >= 3.5).
ssh_file_transfer_protocol = "scp"
# DSM 7 refuses to run scripts from /tmp (breaks sudo uploads): use a volume's temp folder.
_temp_dir = "/volume1/@tmp"

# Backups (docs/OPERATIONS.md, "Backups and restores"): encrypt the secrets-and-configuration
# part with a passphrase you choose and also keep off the NAS (write it to
# secrets/values/backup_passphrase under deploy_root before the deploy), and copy every verified
# backup off the NAS with restic over SFTP:
#   secrets = {"backup_passphrase": {"kind": "provided"}}
#   backup = {"passphrase_secret": "backup_passphrase",
#             "offsite": {"repository": "sftp:restic@backup.example.lan:/srv/restic/marketplace",
#                         "known_hosts": ["backup.example.lan ssh-ed25519 AAAA..."]}}
