"""The layout of a deploy root: every path and name the deploy keeps on the target, in one place.

Paths are relative to the catalog's `deploy_root`. Python code and templates take them from
here (templates get this module as `layout`); nothing else spells them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

COMPOSE_FILE = "docker-compose.yml"
ENV_FILE = ".env"
# Files whose change means the containers must be converged. Everything a container depends on
# is in the compose file itself (image tags are content hashes of the build contexts, and each
# service carries a hash of the config it mounts); the secret env files are tracked apart.
STACK_FILES = (COMPOSE_FILE, ENV_FILE)

SCRIPTS = "scripts"
LOGS = "scripts/logs"
# Where the DSM tasks append their output (logs/tasks/KEY.log) and the integration sync jobs
# keep their logs and outcome (logs/integration/NAME.log, NAME.status).
TASK_LOGS = "logs/tasks"
INTEGRATION = "logs/integration"
# scripts/monitor.sh: the last run's state of every check, and what was sent (alerts.log).
MONITOR = "logs/monitor"
# scripts/status.sh: the status page's snapshot (index.html, status.json, metrics), served by the
# edge at STATUS_PATH/; the basic auth file derived from the password secret by
# scripts/secrets.sh (a SHA-512 crypt hash); where the edge finds both (mounted read-only).
STATUS_PATH = "/monitoring"
STATUS_DIR = "monitoring"
STATUS_AUTH_DIR = "secrets/htpasswd"
STATUS_AUTH_FILE = "secrets/htpasswd/monitoring"
EDGE_STATUS_ROOT = "/srv/status"
EDGE_AUTH_DIR = "/etc/nginx/htpasswd"
STATUS_MOUNTS = {STATUS_DIR: EDGE_STATUS_ROOT + STATUS_PATH, STATUS_AUTH_DIR: EDGE_AUTH_DIR}
BUILD = "build"
# The stack as the NAS-side program (files/nasops) reads it: JSON, rendered from the catalog.
STACK_DESCRIPTION = "ops/stack.json"
DDL = "postgres/ddl"
EDGE_CONF = "edge/conf.d"
# Where a zero-gap release points the edge at a service's new container (SERVICE.conf: one
# nginx `set $upstream`), written by the NAS-side program only while it switches.
EDGE_SWITCH = EDGE_CONF + "/switch"
# The hash of the edge's configuration it has loaded (Compose: a change to EDGE_CONF alone is a
# graceful `nginx -s reload`, not a new container), written by the NAS-side program.
EDGE_LOADED = "edge/loaded-config"
CLOUDFLARED = "cloudflared"
DSM_TASKS = "dsm/tasks.json"
# The off-NAS copy's remote host keys (backup.offsite.known_hosts).
OFFSITE_KNOWN_HOSTS = "offsite/known_hosts"

SECRETS = "secrets"
SECRET_VALUES = "secrets/values"
SECRET_KEYS = "secrets/keys"
PUBLIC_KEYS = "public/keys"
# What scripts/secrets.sh wrote last time: the hashes of itself and of every file it wrote.
SECRET_STATE = "secrets/.state"
# its first line: this and the hash of the description's secrets section they were written from
SECRETS_SPEC_LINE = "# secrets section "

RELEASES = "releases"
LOCK_DIR = "releases/.lock"
AUDIT_LOG = "releases/audit.log"

# tunnel.mode "shared": the other site's config.yml with our block, merged by the deploy from
# what it reads on the target (deploys/render/shared_tunnel.py), then installed by its script.
SHARED_TUNNEL_FILE = "tunnel/shared-config.yml"

# Folders created under deploy_root besides those of the managed files and volumes.
EXTRA_DIRS = (SECRETS, SECRET_VALUES, LOGS, "tunnel", RELEASES, TASK_LOGS, INTEGRATION, MONITOR)
# The ops scripts' logs, rotated by scripts/monitor.sh (`housekeeping`).
ROTATED_LOGS = (TASK_LOGS, INTEGRATION, MONITOR)

# Where DSM lists the shared folders it exports over SMB (sections `[name]` with `path=`) and
# NFS (exports(5)); read by the state command, absent on a machine that is not a NAS.
SMB_SHARES = "/etc/samba/smb.share.conf"
NFS_EXPORTS = "/etc/exports"

# The suffix of a file being written: uploaded beside its destination, then renamed over it.
TEMP_SUFFIX = ".deploy-tmp"

# Where a service finds the files of an RSA key pair ({key:NAME.private|public}): the folder
# under deploy_root (written by scripts/secrets.sh), the folder in the container (mounted
# read-only), the file name.
KEY_MOUNTS = {"private": (SECRET_KEYS, "/run/secrets/marketplace", "{name}.pem"),
              "public": (PUBLIC_KEYS, "/run/marketplace/keys", "{name}.pub.pem")}

# The Compose label that marks a stack's containers, and the one the deploy adds (the hash of
# a service's definition and mounted config).
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
# On engine swarm: the stack's namespace (set by `docker stack deploy`) and the catalog's service
# name (set by the stack file; Swarm's own is PROJECT_SERVICE).
SWARM_PROJECT_LABEL = "com.docker.stack.namespace"
SWARM_SERVICE_LABEL = "marketplace.service"
# Engine swarm: the stack file is COMPOSE_FILE (`docker stack deploy -c` reads Compose's format);
# the entrypoint that hands a service its secret env, and the images' entrypoints as read on the
# target (`nasops stack deploy` writes it before each deploy).
SWARM_WITH_ENV = "swarm/with-env.sh"
SWARM_ENTRYPOINTS = "swarm/entrypoints.yml"
SWARM_DATABASES = "docker-compose.databases.yml"  # the stack file's database servers alone (beside it: `file:` paths are relative to the first file)
# Folders whose every file the deploy renders: on engine swarm they become Swarm configs.
RENDERED_FOLDERS = (EDGE_CONF, CLOUDFLARED)
CONFIG_HASH_LABEL = "marketplace.config-hash"


def task_log(key: str) -> str:
    return f"{TASK_LOGS}/{key}.log"


# The ops scripts (templates/scripts/NAME.sh.j2 -> scripts/NAME.sh) and their modes.
OPS_SCRIPTS = {"start_all": 0o755, "stop_all": 0o755, "backup": 0o755, "healthcheck": 0o755,
               "compose": 0o755, "ensure_databases": 0o755, "secrets": 0o700, "sync": 0o755,
               "monitor": 0o755, "status": 0o755, "ops": 0o755, "run": 0o755, "tenant": 0o755}


# The ops scripts that are one command of the NAS-side program (scripts/NAME.sh runs `ops.sh
# COMMAND "$@"`): what a swarm's scheduler runs for a `dsm_tasks` entry, without the script.
PROGRAM_COMMANDS = {"backup": "backup", "healthcheck": "health", "monitor": "monitor", "status": "status",
                    "sync": "sync", "tenant": "tenant", "ensure_databases": "databases", "secrets": "secrets"}
# Engine swarm: the stack's service that runs the jobs of `dsm_tasks` (nasops schedule), and
# what it records of their last runs.
SCHEDULER = "scheduler"
SCHEDULE_STATE = f"{MONITOR}/schedule.json"
# ...which also serves the status page's snapshot to the edge (a folder of the data node the
# edge's replicas on other nodes do not have), on this port of the stack's networks.
SCHEDULER_STATUS_PORT = 8080


def script(name: str) -> str:
    """The path of an ops script: script("ops") -> scripts/ops.sh."""
    return f"{SCRIPTS}/{name}.sh"


def secret_env_file(service: str) -> str:
    return f"{SECRETS}/{service}.env"


def release_dir(release_id: str) -> str:
    return f"{RELEASES}/{release_id}"


@dataclass(frozen=True)
class ManagedFile:
    """One file the deploy keeps on the target: its path under deploy_root, content, mode."""

    path: str
    content: bytes
    mode: int = 0o644

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


# `docker inspect -f` of the stack's containers (scripts' stack_state, the state command):
# SERVICE STATE HEALTH IMAGE-TAG IMAGE-ID CONFIG-HASH, space-separated, "-" for no hash.
def project_label(engine: str) -> str:
    """The container label that names the stack's project on this engine."""
    return SWARM_PROJECT_LABEL if engine == "swarm" else PROJECT_LABEL


def service_label(engine: str) -> str:
    """The container label that names the catalog's service on this engine."""
    return SWARM_SERVICE_LABEL if engine == "swarm" else SERVICE_LABEL


def state_format(engine: str) -> str:
    return (f'{{{{index .Config.Labels "{service_label(engine)}"}}}} {{{{.State.Status}}}} '
            "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} "
            "{{.Config.Image}} {{.Image}} "
            f'{{{{with index .Config.Labels "{CONFIG_HASH_LABEL}"}}}}{{{{.}}}}{{{{else}}}}-{{{{end}}}}')


STATE_FORMAT = state_format("compose")
