"""The Swarm target: the local default's catalog on engine "swarm", on this machine's Docker
engine as a one-node (or, in the tests, two-node) swarm manager, over the local target's SSH path
(root at 127.0.0.1:2222). `make test` initialises the swarm itself (tests/support/swarm.py);
by hand: `docker swarm init --advertise-addr 127.0.0.1`, then
`docker node update --label-add marketplace.data=true $(docker node ls -q)`, then
`make deploy TARGET=swarm`. What differs from local is what Swarm needs (docs/OUTGROW.md): a
smaller stack (the Kill Bill side, the Connector and the edge), no release tasks, published
ports on every address, and the edge without the status page's folders so it may run a replica
on every node.
"""

extends = ["local"]

engine = "swarm"
project_name = "marketplace-swarm"
deploy_root = "/var/lib/marketplace/swarm"
backup_dir = "/var/lib/marketplace/backups/swarm"
port_offset = 300

services = {
    "killbill": {"release_tasks": {"ddl-check": None}, "host_port": None},
    "connector": {"host_port": None},
    "kaui": {"enabled": False},
    "condo": {"enabled": False},
    "cocorico": {"enabled": False},
    "cocorico-mysql": {"enabled": False},
    "cocorico-mongo": {"enabled": False},
    "cloudflared": {"enabled": False},
    # Swarm publishes on every address of a node (no host_ip): the edge alone is published.
    "edge": {"public": True},
}
routes = {"marketplace": None, "kaui": None, "condo": None}
killbill_tenant = {"kaui_service": None}
# The status page's snapshot is a folder of the data node: without it the edge has no bind mount.
monitoring = {"enabled": False}
swarm = {"replicas": {"edge": 2}}
