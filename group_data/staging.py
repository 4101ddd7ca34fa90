"""The staging target: the local target's stack under its own project name and root, every host
port shifted by 100 so it runs beside the local one. CI and `make test` deploy here."""

extends = ["standins", "local"]

project_name = "marketplace-staging"
deploy_root = "/var/lib/marketplace/staging"
port_offset = 100
backup_dir = "/var/lib/marketplace/backups/staging"
