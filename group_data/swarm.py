"""The Swarm target: the local default's catalog on engine "swarm", on this machine's Docker
engine as a one-node (or, in the tests, two-node) swarm manager, over the local target's SSH path
(root at 127.0.0.1:2222). `make test` initialises the swarm itself (tests/support/swarm.py);
by hand: `docker swarm init --advertise-addr 127.0.0.1`, then
`docker node update --label-add marketplace.data=true $(docker node ls -q)`, then
`make deploy TARGET=swarm`. What differs from local is what Swarm needs (docs/OUTGROW.md): the
apps reached through the edge only (Swarm publishes a port on every address of a node), the edge
published on every node, and the jobs of `dsm_tasks` run by the stack's own scheduler service
instead of DSM's Task Scheduler (which also serves the status page's snapshot, a folder of the
data node, to the edge's replicas).
"""

extends = ["local"]

engine = "swarm"
project_name = "marketplace-swarm"
deploy_root = "/var/lib/marketplace/swarm"
backup_dir = "/var/lib/marketplace/backups/swarm"
port_offset = 300

# Swarm publishes on every address of a node (no host_ip): the edge alone is published, the
# apps are reached through it.
services = {name: {"host_port": None} for name in ("killbill", "connector", "kaui", "condo", "cocorico")}
services["edge"] = {"public": True}
# A Swarm task's address has no reverse DNS record: MariaDB (this machine's MySQL stand-in)
# would wait for the lookup on every connection; the official mysql image skips it already.
services["cocorico-mysql"] = {"command": ["mariadbd", "--skip-name-resolve"]}
# The edge on every node (one each: it publishes the port); Kill Bill, whose state is in
# PostgreSQL, on two (Swarm moves a lost node's task to another).
swarm = {"replicas": {"edge": 2, "killbill": 2}}
# No DSM: the stack's scheduler service runs the jobs (nasops schedule); a node's boot starts the
# services by their restart policy, and the alerts go to webhooks and mail only.
dsm_tasks = {"start-on-boot": None}
alerts = {"dsm_notify": False}
