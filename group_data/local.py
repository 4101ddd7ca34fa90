"""The local default target: this machine over SSH (127.0.0.1:2222), stand-ins for what cannot
run here. `make deploy` converges it when no NAS is configured."""

extends = ["standins"]

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
