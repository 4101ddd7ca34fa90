"""The catalog: what every target shares. Production values are the defaults.

This file is also the catalog's annotated schema: every key has its type (the annotation; the
shapes of nested settings are the classes at the end), its documentation (the comment above it)
and its default (the value). deploys/catalog/schema.py checks every group_data file against it before
anything connects: unknown keys and wrong types are errors that name the key path and the file.

A target's own file (production.py, staging.py, local.py) is deep-merged over this one by
deploys/catalog.py (dicts merge key by key; anything else replaces; a route set to None is
removed). `extends` in a target file names other files merged first.

Value macros, expanded by the catalog (never write a password or a URL with one by hand):
  {secret:NAME}      a secret generated on the target (only in `secret_env`)
  {db:NAME.FIELD}    a database of `databases`: FIELD is host, port, name, user (clear), or
                     url, jdbc_url, password (secret: only in `secret_env`)
  {key:NAME.FILE}    an RSA key pair of `secrets` (kind rsa_keypair): FILE is `public` (the
                     public key, mounted read-only) or `private` (the private key, mounted
                     read-only from the secrets folder); expands to the path in the container
  {hostname:KEY}     a public hostname of `hostnames`
  {sync_jobs}        the integration sync jobs DSM runs (the first argument of each enabled
                     dsm_tasks entry running scripts/sync.sh), comma-separated
  {integrations}     JSON {service: internal health URL} of every other enabled service with
                     an HTTP health route (what the connector reports on)
"""

from __future__ import annotations

from typing import Any, Literal, Required, TypedDict

# Compose project name; also prefixes the container names.
project_name: str = "marketplace"
# Where everything lives on the target (compose file, env files, data volumes, scripts).
deploy_root: str = "/volume1/web/marketplace"
# DSM shared folders (their names) deploy_root and backup_dir may lie in although DSM exports
# them over SMB (/etc/samba/smb.share.conf) or NFS (/etc/exports): a shared folder's ACLs, not
# the files' modes, decide what its users read there, secrets and dumps included. Empty: a
# deploy into an exported shared folder is refused before anything is touched.
allow_in_exported_share: list[str] = []
# Absolute path: DSM's non-interactive SSH PATH lacks /usr/local/bin.
docker_bin: str = "/usr/local/bin/docker"
# Every published port binds here only (a loopback address: the tunnel is the way in). A
# service marked `public` binds on every address instead.
bind_address: str = "127.0.0.1"
# Added to every host port (lets staging run beside the local target).
port_offset: int = 0
# Host ports already taken on the target by something else: a service must not publish them.
reserved_ports: dict[int, str] = {
    22: "SSH (DSM)",
    80: "DSM's nginx (Web Station)",
    443: "DSM's nginx (Web Station)",
    3000: "the WattSun site (its tunnel's origin, localhost:3000)",
    5000: "DSM's web UI (HTTP)",
    5001: "DSM's web UI (HTTPS)",
}
# Container powers over the host (privileged, cap_add, pid/ipc/uts/userns_mode/cgroup: host,
# devices, an unconfined security_opt, volumes_from) are refused in a service's `compose`
# unless granted here: service -> the powers it may use. Grant one only with a reason.
allowed_powers: dict[str, list[Literal["privileged", "cap_add", "pid", "ipc", "uts", "devices",
                                       "userns_mode", "security_opt", "cgroup", "volumes_from"]]] = {}
# Owner of every managed file and directory.
file_owner: str = "root"
# Deploy only a commit that is pushed, from a clean tree (the release records exactly what ran);
# `make deploy ALLOW_DIRTY=1` overrides it, and the release records that it did.
require_clean_tree: bool = True
# Every container's log (Docker's json-file driver): rotated at max_size, max_files kept, so a
# chatty service cannot fill the volume.
container_logs: ContainerLogs = {"max_size": "10m", "max_files": 3}
# Upper bound for `docker compose up --wait`, in seconds.
wait_timeout_s: int = 600
# How long a zero-gap release waits for the edge's requests to the old container to finish
# before it stops that container (services.*.release_switch), in seconds.
drain_timeout_s: int = 30
# What the target must offer before a deploy touches it (checked in the deploy's one state read;
# `make preflight` prints the report alone). A requirement not met stops the deploy, named.
preflight: Preflight = {
    # Free space (MiB) the file systems of deploy_root and backup_dir must have.
    "min_free_mib": {"deploy_root": 4096, "backup_dir": 2048},
    # CPU architectures (`uname -m`) the pinned images run on (the NAS: x86_64; check each
    # image's manifest before adding one).
    "architectures": ["x86_64"],
    # Lowest Docker Engine and Compose versions the stack is tested with (DSM 7.2 ships 24.0.2
    # and 2.20.1; the staging engine is Debian's 20.10).
    "min_docker": "20.10",
    "min_compose": "2.20.1",
    # Share of the target's memory the services' memory limits may add up to.
    "max_memory_share": 0.8,
}
# Where the backups live on the target: one folder per backup (BACKUP_DIR/ID, 0700), see
# `backup` and docs/OPERATIONS.md, "Backups and restores".
backup_dir: str = "/volume1/backups/marketplace"
# Backups (scripts/backup.sh; the DSM task `backup` runs one daily, `make backup` one now).
# Every database of the stack is dumped inside its own server's container (pg_dump -Fc,
# mysqldump --single-transaction, mongodump --archive --gzip where the image has it, Redis's
# RDB), with the secrets and the configuration of the release that runs; then restored into
# throwaway containers of the same images (no network, never the live ones) and compared with
# the source (rows per table, documents per collection, keys, the files' checksums). Only a
# verified backup counts; a failed one is marked failed and the task exits non-zero.
backup: Backup = {
    # Retention (after each verified backup): the newest verified full backup of each of the
    # last `daily` days and of each of the last `weekly` ISO weeks, and the newest `partial`
    # backups of some databases (taken before a release or a restore). The last verified
    # backup is never pruned, nor a failed one newer than it (the evidence).
    "keep": {"daily": 7, "weekly": 4, "partial": 5},
    # A secret of `secrets` whose value encrypts the secrets-and-configuration part (openssl
    # AES-256-CBC, PBKDF2 200000 iterations), or None: that part is kept unencrypted (0600 in a
    # 0700 folder, like the dumps). Keep a copy of the value off the NAS: without it the part
    # cannot be read. A `provided` secret is one you choose (secrets/values/NAME).
    "passphrase_secret": None,
    # healthcheck.sh and `make status` fail when the last verified backup is older than this
    # (hours); a stack whose first release is younger has until then to make its first.
    "max_age_hours": 26,
    # `make restore` refuses without CONFIRM=yes.
    "confirm_restore": True,
    # A copy of each verified backup off the NAS, in a restic repository over SFTP (restic
    # runs in a container of `image`, or of one built from `build`, a folder of this repo).
    "offsite": {
        # "sftp:USER@HOST:/PATH", or None: no off-NAS copy.
        "repository": None,
        # The remote's SSH port.
        "port": 22,
        # The remote's host keys, as known_hosts lines ("[HOST]:PORT ssh-ed25519 AAAA..." or
        # "HOST ssh-ed25519 AAAA...": ssh-keyscan -p PORT HOST); required with a repository.
        "known_hosts": [],
        "image": "restic/restic:0.16.4",
        "build": None,
        # The repository's password (generated on the target; keep a copy off the NAS).
        "password_secret": "offsite_restic_password",
        # The SSH key pair restic logs in with: its public key goes into the remote account's
        # authorized_keys (`make backup-key` prints it).
        "ssh_key_secret": "offsite_ssh_key",
    },
}
# DSM Task Scheduler: the tasks the deploy converges on a NAS through synowebapi (as root), each
# named "<project_name>: <key>", so another site's tasks are never touched; a task under our
# prefix that the catalog no longer has is removed. A target without DSM's Task Scheduler (no
# /usr/syno/bin/synowebapi) gets none. A task runs `bash scripts/<script>.sh <args>` as root,
# its output appended to logs/tasks/<key>.log under deploy_root. When: `on: "bootup"` (at every
# boot, DSM's EventScheduler), or daily at `at` ("HH:MM", NAS local time), then again every
# `every_min` minutes (1, 5, 10, 15, 20 or 30) or `every_hours` hours until the day ends.
# A target drops one with `dsm_tasks = {"KEY": None}` (DSM's copy is then deleted).
dsm_tasks: dict[str, DsmTask | None] = {
    "start-on-boot": {"on": "bootup", "script": "start_all"},
    # The checks of scripts/healthcheck.sh, and the alerts on a change of state (`alerts`);
    # also rotates the ops scripts' logs (`housekeeping`).
    "healthcheck": {"at": "00:00", "every_min": 5, "script": "monitor"},
    # The status page's snapshot (`monitoring`), refreshed every minute.
    "status": {"at": "00:00", "every_min": 1, "script": "status"},
    "backup": {"at": "03:00", "script": "backup", "args": ["run", "--kind", "daily"]},
    # The integration sync jobs (their logic is the Connector's: scripts/sync.sh runs it and
    # records the outcome the Connector reports in /api/health).
    "sync-killbill": {"at": "02:00", "script": "sync", "args": ["killbill"]},
    "sync-condo-units": {"at": "01:30", "script": "sync", "args": ["condo"]},
    "sync-cocorico-listings": {"at": "00:45", "every_hours": 6, "script": "sync", "args": ["cocorico"]},
}
# Alerts (scripts/monitor.sh, run by the DSM task `healthcheck`): the checks of `make status`
# (every service's health and route, the last verified backup's age, free space of deploy_root
# and backup_dir against preflight.min_free_mib). On a change of state (ok -> failing, failing
# -> ok) one notification goes to every channel below; a failure that goes on is sent again at
# most every `repeat_min` minutes; a recovery once. A channel that fails is logged in
# logs/monitor/alerts.log and never stops the task. A failed backup verification is sent too.
alerts: Alerts = {
    "repeat_min": 60,
    # NAME -> {"shape": "slack" | "ntfy" | "generic", "url_secret": SECRET}: a JSON POST to the
    # URL held by the secret (a `provided` one: secrets/values/SECRET; such a URL is a
    # credential). slack: {"text"}; ntfy: the topic URL (https://ntfy.sh/TOPIC), JSON
    # publishing to its server; generic: {project, target, status, title, message, at}.
    "webhooks": {},
    # Mail through an SMTP relay (DSM's own, usually: Control Panel > Notification > Email).
    "email": {
        # Host name or address of the relay, or None: no mail.
        "relay": None,
        "port": 25,
        "from": "marketplace@localhost",
        "to": [],
        # True: STARTTLS required.
        "starttls": False,
        # Login, if the relay wants one: the user, and the secret holding its password.
        "user": None,
        "password_secret": None,
    },
    # DSM's own desktop notification to the administrators (synodsmnotify), where DSM has it.
    "dsm_notify": True,
}
# The status page, through the edge at https://<hostnames[host]>/monitoring/ behind HTTP basic
# auth (user `user`, password the secret `password_secret`; `make status` says where to read
# it), never cached or indexed: every service's state, health and since when, each route's HTTP
# status through the edge, the release that runs and the last good one, the last verified
# backup, disk and memory, the sync jobs' last runs and the recent alerts. The same data as JSON
# at /monitoring/status.json and in Prometheus's text format at /monitoring/metrics. The page is
# a snapshot written by scripts/status.sh (DSM task `status`, every minute, and after every
# release): a request reads a file and fans out to nothing. No route may use /monitoring there.
monitoring: Monitoring = {
    # False: no status page (the edge has no /monitoring location; the task writes nothing).
    "enabled": True,
    # A key of `hostnames`.
    "host": "main",
    "user": "ops",
    "password_secret": "monitoring_password",
    # How many of the last alerts (logs/monitor/alerts.log) the page lists.
    "recent_alerts": 10,
}
# Kill Bill's tenant: every Kill Bill API call names one (X-Killbill-ApiKey and -ApiSecret, with
# a Kill Bill user's basic auth). A release makes it once Kill Bill is healthy, through Kill Bill's
# REST API as its admin (POST /1.0/kb/tenants, only when GET /1.0/kb/tenants?apiKey= answers 404:
# a second deploy creates nothing), saying which in the release's log, then tells Kaui of it. The
# Connector gets the key with {tenant:api_key} and the secret through secret_env.
killbill_tenant: KillbillTenant = {
    # False: no tenant is made (a target that disables `service` says so here too).
    "enabled": True,
    # The Kill Bill service (reached through the edge, by its first route).
    "service": "killbill",
    "external_key": "marketplace",
    # The tenant's API key: a name, not a secret (it travels in URLs: GET ?apiKey=, and logs);
    # services get it with {tenant:api_key}. Its API secret is the secret `api_secret_secret`.
    "api_key": "marketplace",
    "api_secret_secret": "killbill_api_secret",
    # The Kill Bill user that creates it (Kill Bill's admin: KB_ADMIN_PASSWORD) and its password.
    "admin_user": "admin",
    "admin_password_secret": "killbill_admin_password",
    # The Kaui service told of the tenant, or None. The release signs in to Kaui as `admin_user`
    # and, only when Kaui's tenant list lacks the API key, adds it on Kaui's own screen (Tenants,
    # Add): Kaui writes its rows itself, the admin allowed on it and the API secret encrypted
    # with Kaui's key. Kaui is reached through the edge, by its route at `/` on its hostname.
    "kaui_service": "kaui",
}
# Disk hygiene. After every good release the releases beyond the newest `keep_releases` are
# removed (never the current or the last good one), and so are the images only they used
# (`docker image rm`: never an image a container uses, so another site's are safe). The health
# task rotates the ops scripts' logs (logs/tasks, logs/integration, logs/monitor) past
# `log_max_kib`, keeping `log_keep` older ones, gzipped.
housekeeping: Housekeeping = {
    "keep_releases": 10,
    "log_max_kib": 1024,
    "log_keep": 4,
}
# The NAS-side program (files/nasops: the checks, the alerts, the status page, the logs'
# rotation), which DSM's tasks and the deploy run in a throwaway container of an image built on
# the target from files/nasops. `build_args`: its build arguments (BASE_IMAGE: the Python image
# it is built on, the Connector's, so the two share their layers).
ops_program: OpsProgram = {
    "build_args": {"BASE_IMAGE": "python:3.11.10-slim-bookworm"},
}
# What runs the stack: "compose" (Docker Compose on the target, converged over SSH), "swarm" (a
# stack file converged with `docker stack deploy` on a swarm manager, over the same SSH path and
# release machinery) or "kubernetes" (manifests only: `make render TARGET=k8s` writes them, the
# operator applies them with kubectl; a deploy refuses such a target). See docs/OUTGROW.md.
engine: Literal["compose", "swarm", "kubernetes"] = "compose"
# The stack file of engine "swarm" (deploys/render/swarm.py; docs/OUTGROW.md).
swarm: Swarm = {
    # The node label that marks the node holding the stack's data: every service with a bind
    # mount (its data, its secrets folder, a log it shares) runs there only. Put it on one node
    # before the first deploy: docker node update --label-add marketplace.data=true NODE
    "data_label": "marketplace.data=true",
    # Replicas of a service with no bind mount (the rest run once, on the data node).
    "replicas": {},
    # How long Swarm watches a started task for failure before it calls an update done; a task
    # that fails within it (exits, or turns unhealthy) makes Swarm roll the service back.
    "update_monitor_s": 30,
}
# The manifests of engine "kubernetes" (deploys/render/kubernetes.py).
kubernetes: Kubernetes = {
    # The Kubernetes version the manifests are validated against (kubernetes-validate's schemas).
    "version": "1.34.0",
    # None: the project name.
    "namespace": None,
    # The Ingress class: ingress-nginx (its rewrite-target strips /billing's prefix).
    "ingress_class": "nginx",
    # The namespace of the ingress controller's pods: the NetworkPolicies let them in.
    "ingress_namespace": "ingress-nginx",
    # Where cloudflared sends every hostname: the ingress controller's Service.
    "ingress_origin": "http://ingress-nginx-controller.ingress-nginx.svc.cluster.local",
    # The PVCs of the databases' StatefulSets: None is the cluster's default class.
    "storage_class": None,
    "volume_size": "10Gi",
    # Where the images the NAS builds itself (`build`: the Connector) are pushed for the
    # cluster to pull (None: their local tag, for a cluster that shares this Docker's images).
    "registry": None,
    # Replicas of a stateless service (a database, with its volume, always runs one).
    "replicas": {},
}
# What a DSM task is unless it says otherwise.
dsm_task_defaults: DsmTask = {"enabled": True, "args": [], "on": None, "at": None, "every_min": None,
                              "every_hours": None}

# Public hostnames the tunnel and the edge serve. One level under the zone, so Cloudflare's
# Universal SSL certificate (*.wattsun.co.ke) covers them.
hostnames: dict[str, str] = {
    "main": "boma.wattsun.co.ke",
    "kaui": "boma-kaui.wattsun.co.ke",
    "condo": "boma-condo.wattsun.co.ke",
}

# What the edge serves: hostname key + path prefix -> service. A prefix is plain ("/api", or
# "/" for the rest of the hostname): the edge picks the longest, the tunnel gets anchored
# regexes (^/api(/|$)) most specific first. Kaui, Condo and Cocorico cannot live under a prefix.
# Each route: host, path, service; strip_prefix (default False: the app sees the full path) and
# max_body_size (default "32m": the largest request body the edge accepts for it).
routes: dict[str, Route | None] = {
    "api": {"host": "main", "path": "/api", "service": "connector"},
    # Kill Bill is served as ROOT: the edge strips /billing before proxying.
    "billing": {"host": "main", "path": "/billing", "service": "killbill", "strip_prefix": True},
    "marketplace": {"host": "main", "path": "/", "service": "cocorico"},
    "kaui": {"host": "kaui", "path": "/", "service": "kaui"},
    "condo": {"host": "condo", "path": "/", "service": "condo"},
}

# Cloudflare Tunnel. Three modes:
#   local   the stack's own cloudflared with config.yml + credentials file (ingress rendered here)
#   remote  the stack's own cloudflared with a token; the ingress is pushed to Cloudflare's API
#   shared  no cloudflared of our own: a managed block in another site's (WattSun's) config.yml
tunnel: Tunnel = {
    # local, remote or shared (above).
    "mode": "local",
    # The edge's port for cloudflared, the one port where the edge passes on X-Forwarded-For/
    # -Proto: on the container networks for the stack's own cloudflared (local, remote), published
    # at shared.edge_host_port for the other site's (shared). On the edge's host_port they are
    # set from the connection itself.
    "edge_port": 8080,
    # The tunnel's UUID (`cloudflared tunnel create marketplace`); required in local and remote.
    "id": None,
    # local: credentials JSON of that tunnel, under deploy_root, placed by the operator (0600,
    # readable by UID 65532, cloudflared's user).
    "credentials_file": "cloudflared/credentials.json",
    # remote: the Cloudflare account (the connector token is the secret `tunnel_token`).
    "account_id": None,
    # remote: Cloudflare's API (the tests point it at a local fake).
    "api_url": "https://api.cloudflare.com/client/v4",
    # remote: the environment variable holding an API token (Account > Cloudflare Tunnel >
    # Edit) on the machine that runs the deploy.
    "api_token_env": "CLOUDFLARE_API_TOKEN",
    # shared: the other site's cloudflared. Our rules point at the edge's host port.
    "shared": {
        # Its config.yml on the target (an absolute path); our block goes in there.
        "config_file": "/volume1/web/cloudflared/config.yml",
        # The host port (on bind_address, plus port_offset) where its cloudflared reaches the
        # edge's tunnel port: our rules point here. Like every published port it is loopback
        # only, so anything running on the NAS could send forwarded headers through it.
        "edge_host_port": 3180,
        # Its container, restarted when our block changes.
        "container": "cloudflared",
        # Its metrics server (`--metrics`): GET /ready must answer 200 after a restart.
        "metrics_url": "http://127.0.0.1:2000",
        # Seconds it has to be ready again before the previous file is put back.
        "ready_timeout_s": 60,
        # Where its previous config.yml files are kept (one per change), under deploy_root.
        "backup_dir": "backups/cloudflared",
    },
}

# Secrets, created on the target at the first deploy (under deploy_root/secrets, mode 0600)
# and reused on every later run; `make rotate SECRET=NAME` replaces one. Kinds:
#   password     `length` random characters [A-Za-z0-9] (at least 16)
#   rsa_keypair  an RSA key of `bits`; services get its files through {key:NAME.private|public};
#                the private key's mounted copy is 0600 and owned by `reader_uid` (the UID the
#                signing services run as: the connector's image uses 10001)
#   provided     placed by the operator in secrets/values/NAME (e.g. the tunnel token)
# Database passwords (db_<name>_password) are declared by `databases` below.
secrets: dict[str, Secret] = {
    "postgres_superuser_password": {},
    "redis_admin_password": {},
    "killbill_admin_password": {},
    "killbill_api_secret": {},
    "kaui_secret_key_base": {"length": 64},
    "condo_cookie_secret": {"length": 48},
    "cocorico_mysql_root_password": {},
    "jwt_signing": {"kind": "rsa_keypair"},
    "webhook_killbill_hmac": {"length": 64},
    "webhook_condo_hmac": {"length": 64},
    "webhook_cocorico_hmac": {"length": 64},
    "tunnel_token": {"kind": "provided"},
    # backup.offsite: the restic repository's password and the SSH key restic logs in with
    # (read by restic's container as root).
    "offsite_restic_password": {},
    "offsite_ssh_key": {"kind": "rsa_keypair", "reader_uid": 0},
    # The status page's password (`monitoring`; the edge holds only its SHA-512 crypt hash).
    "monitoring_password": {"length": 32},
}
# What a secret is unless it says otherwise (kinds above).
secret_defaults: Secret = {"kind": "password", "length": 40, "bits": 3072, "reader_uid": 10001}

# Databases. `service` is the container serving it; its password is the secret
# db_<name>_password. `ddl`: SQL files of this repository loaded, in order and as the
# database's user, into the database while it is still empty, before its app first starts
# (Kill Bill and Kaui never create their own tables). The production DDL files are not in git:
# see README, "Kill Bill's and Kaui's DDL". A redis database is an ACL user of its server
# (scripts/ensure_databases.sh creates it); the server has no default user, and its `admin`
# user (password: the secret redis_admin_password) is only for the deploy and health checks.
databases: dict[str, Database] = {
    "marketplace": {"engine": "postgres", "service": "postgres", "user": "connector"},
    "killbill": {"engine": "postgres", "service": "postgres", "user": "killbill",
                 "ddl": ["files/ddl/killbill.sql"]},
    "kaui": {"engine": "postgres", "service": "postgres", "user": "kaui",
             "ddl": ["files/ddl/kaui.sql", "files/ddl/kaui-admin.sql"]},
    "condo": {"engine": "postgres", "service": "postgres", "user": "condo"},
    "connector_cache": {"engine": "redis", "service": "redis", "user": "connector"},
    "condo_cache": {"engine": "redis", "service": "redis", "user": "condo"},
    "cocorico": {"engine": "mysql", "service": "cocorico-mysql", "user": "cocorico"},
    "cocorico_docs": {"engine": "mongodb", "service": "cocorico-mongo", "user": "cocorico"},
}
# What every database is unless it says otherwise.
database_defaults: DatabaseDefaults = {
    # SQL files loaded into the empty database (postgres only; see above).
    "ddl": [],
    # redis only: the user's ACL rules (keys ~, channels &, commands +/-). Never the
    # password rules, never admin commands: the rules must end the grant of @all with -@admin
    # (CONFIG, ACL, DEBUG, MODULE, SHUTDOWN, ...), and FLUSHALL/FLUSHDB/SWAPDB/MIGRATE stay off
    # so one app cannot wipe or move another's keys.
    "redis_acl": "~* &* +@all -@admin -flushall -flushdb -swapdb -migrate",
}

# Defaults every service starts from (a service's own keys win).
service_defaults: Service = {
    # False: left out of the compose file, routes and checks.
    "enabled": True,
    # Pinned image tag (never `latest`), or None with `build` set.
    "image": None,
    # Where the target gets `image` from: "registry" (Compose pulls it when missing) or "ship"
    # (no registry has it: built elsewhere and moved with `make ship IMAGE=...`; a deploy to a
    # target without it stops before anything changes and says which command ships it).
    "image_from": "registry",
    # Build context, a folder of this repository; pushed to the target and built there.
    "build": None,
    # Build arguments for `build`.
    "build_args": {},
    # Port the app listens on inside its container.
    "port": None,
    # The database engine this service is the server of (postgres, redis, mysql, mongodb), or
    # None; a database of `databases` must name a service that serves its engine.
    "serves": None,
    # Port published on bind_address (plus port_offset), or None: not published.
    "host_port": None,
    # True: published on every address, not only bind_address (never a database).
    "public": False,
    # Container command (list), or None for the image's own.
    "command": None,
    # Clear environment; secrets go in secret_env.
    "env": {},
    # Environment with secrets; written on the target to secrets/<service>.env (0600), so a
    # rotated secret reaches exactly the services that use it.
    "secret_env": {},
    # Volumes: path under deploy_root -> path in the container (":ro" allowed).
    "volumes": {},
    # Services that must be healthy before this one starts.
    "depends_on": [],
    # Health: the container's healthcheck and the route checked through the edge.
    "health": {
        # The container healthcheck (Compose `test` list), or None: derived from `http` (curl).
        "test": None,
        # {path, status}: the HTTP route (as the app sees it) checked through the edge after
        # every deploy, or None.
        "http": None,
        # Healthcheck timing, in seconds and tries (Synology's engine has no start_interval).
        "interval_s": 10,
        "timeout_s": 5,
        "retries": 5,
        "start_period_s": 30,
        # How long a release waits for this service to be healthy and its route to answer
        # before it rolls back (None: start_period_s + interval_s * (retries + 1) + 30).
        "gate_timeout_s": None,
    },
    # Needs to reach the internet (joins the non-internal network even without a host port).
    "egress": False,
    # Memory limit ("512m", "3g"): every enabled service has one (preflight adds them up
    # against the target's memory).
    "mem_limit": None,
    # Commands run once per release before the service receives traffic (a release phase:
    # migrations, schema updates, asset installs): name -> argv (exec form, no shell), in order,
    # each in a one-off container of the release's image with the service's environment and
    # secrets (`docker compose run --rm --no-deps`), after the database servers are up and
    # before any app is switched. Their output goes to releases/ID/tasks/SERVICE-NAME.log; one
    # that fails stops the release, which leaves the previous release serving. A target drops
    # one with {"NAME": None}.
    "release_tasks": {},
    # How a release replaces this service's container (Compose): "zero-gap" (Kamal's way: the
    # new container starts beside the old one and must pass its health check, the edge then
    # sends new requests to it by name, the old one drains its requests and stops; a new one
    # that never becomes healthy is removed and the old one keeps serving), "replace"
    # (Compose's way: stopped, then started, a gap), or None: zero-gap where that is safe (no
    # data folder, no published port, not a database server, a health check), else replace.
    # The release says which services had a gap and why.
    "release_switch": None,
    # Further Compose keys for this service that the catalog has no key for (cap_add,
    # ulimits, ...), merged into its definition. Checked against Synology's Compose 2.20.1.
    "compose": {},
    # Per tunnel.mode, keys of this service that mode replaces whole (e.g. cloudflared in
    # `remote` mode: a token instead of its config file).
    "by_tunnel_mode": {},
}

# The stack's services: each starts from service_defaults; `enabled: False` leaves one out.
services: dict[str, Service] = {
    "postgres": {
        "mem_limit": "1g",
        "image": "postgres:16.4-bookworm",
        "port": 5432,
        "serves": "postgres",
        # Roles, databases and DDL: scripts/ensure_databases.sh, after it is healthy and
        # before the apps start.
        "env": {"POSTGRES_DB": "postgres", "POSTGRES_USER": "postgres"},
        "secret_env": {"POSTGRES_PASSWORD": "{secret:postgres_superuser_password}"},
        "volumes": {"postgres/data": "/var/lib/postgresql/data"},
        "health": {"test": ["CMD-SHELL", "pg_isready -q -U postgres"]},
    },
    "redis": {
        "mem_limit": "256m",
        "image": "redis:7.2.5-bookworm",
        "port": 6379,
        "serves": "redis",
        # As root only to own /data and write the ACL file's `default off` and `admin` lines
        # (the password as its SHA-256, from the environment: never in argv); then redis-server
        # replaces the shell (PID 1, so `docker stop` reaches it) as the image's redis user,
        # with umask 077 (ACL file and AOF 0600). The apps' users live in that ACL file.
        "command": ["sh", "-c", "set -eu; umask 077; cd /data; touch users.acl\n"
                    "hash=$(printf %s \"$REDIS_ADMIN_PASSWORD\" | sha256sum | cut -d' ' -f1)\n"
                    "{ grep -v -e '^user admin ' -e '^user default ' users.acl || true\n"
                    "  echo 'user default off resetpass resetkeys resetchannels -@all'\n"
                    "  echo \"user admin on #$hash ~* &* +@all\"; } > users.acl.new\n"
                    "mv users.acl.new users.acl\n"
                    "find /data ! -user redis -exec chown redis:redis {} +\n"
                    "exec setpriv --reuid=redis --regid=redis --init-groups redis-server"
                    " --aclfile /data/users.acl --dir /data --appendonly yes"],
        "secret_env": {"REDIS_ADMIN_PASSWORD": "{secret:redis_admin_password}",
                       "REDISCLI_AUTH": "{secret:redis_admin_password}"},
        "volumes": {"redis/data": "/data"},
        "health": {"test": ["CMD-SHELL", "redis-cli --no-auth-warning --user admin ping | grep -q PONG"]},
    },
    "connector": {
        "mem_limit": "256m",
        "build": "files/connector",
        "build_args": {"BASE_IMAGE": "python:3.11.10-slim-bookworm"},
        "port": 8080,
        "host_port": 3101,
        # SYNC_JOBS / SYNC_STATUS_DIR: the sync jobs' outcomes (logs/integration/NAME.status,
        # written by scripts/sync.sh), reported in /api/health as NAME_sync_ok.
        "env": {"PORT": "8080", "INTEGRATIONS": "{integrations}", "SYNC_JOBS": "{sync_jobs}",
                "SYNC_STATUS_DIR": "/run/marketplace/sync",
                "KILLBILL_URL": "http://killbill:8080", "KILLBILL_USER": "{tenant:admin_user}",
                "KILLBILL_API_KEY": "{tenant:api_key}",
                "JWT_PRIVATE_KEY_FILE": "{key:jwt_signing.private}",
                "JWT_PUBLIC_KEY_FILE": "{key:jwt_signing.public}"},
        "secret_env": {"DATABASE_URL": "{db:marketplace.url}", "REDIS_URL": "{db:connector_cache.url}",
                       "KILLBILL_API_SECRET": "{secret:killbill_api_secret}",
                       "KILLBILL_PASSWORD": "{secret:killbill_admin_password}",
                       "WEBHOOK_SECRET_KILLBILL": "{secret:webhook_killbill_hmac}",
                       "WEBHOOK_SECRET_CONDO": "{secret:webhook_condo_hmac}",
                       "WEBHOOK_SECRET_COCORICO": "{secret:webhook_cocorico_hmac}"},
        "volumes": {"logs/integration": "/run/marketplace/sync:ro"},
        "depends_on": ["postgres", "redis"],
        "health": {"test": ["CMD-SHELL", "curl -fsS -o /dev/null http://127.0.0.1:8080/api/health/live"],
                   "http": {"path": "/api/health", "status": 200}},
    },
    "killbill": {
        # Pinned: `latest` is an empty shell that downloads Kill Bill at start. JMX (8000) and
        # the remote debugger (12345) are never published.
        "image": "killbill/killbill:0.24.11",
        "port": 8080,
        "host_port": 3103,
        "env": {"KILLBILL_DAO_URL": "{db:killbill.jdbc_url}", "KILLBILL_DAO_USER": "{db:killbill.user}"},
        "secret_env": {"KILLBILL_DAO_PASSWORD": "{db:killbill.password}",
                       "KB_ADMIN_PASSWORD": "{secret:killbill_admin_password}",
                       "MARKETPLACE_WEBHOOK_SECRET": "{secret:webhook_killbill_hmac}"},
        "depends_on": ["postgres"],
        "health": {"http": {"path": "/1.0/healthcheck", "status": 200}, "start_period_s": 180},
        "mem_limit": "3g",
    },
    "kaui": {
        "mem_limit": "1g",
        "image": "killbill/kaui:3.0.11",
        "port": 8080,
        "host_port": 3105,
        "env": {"KAUI_CONFIG_DAO_ADAPTER": "postgresql",
                "KAUI_CONFIG_DAO_URL": "{db:kaui.jdbc_url}", "KAUI_CONFIG_DAO_USER": "{db:kaui.user}",
                "KAUI_KILLBILL_URL": "http://killbill:8080", "KAUI_KILLBILL_API_KEY": "{tenant:api_key}"},
        "secret_env": {"KAUI_CONFIG_DAO_PASSWORD": "{db:kaui.password}",
                       "KAUI_KILLBILL_API_SECRET": "{secret:killbill_api_secret}",
                       "SECRET_KEY_BASE": "{secret:kaui_secret_key_base}"},
        "depends_on": ["postgres", "killbill"],
        "health": {"http": {"path": "/health", "status": 200}, "start_period_s": 120},
    },
    "condo": {
        "mem_limit": "1g",
        # No public image exists: build one from open-condo-software/condo, set it per target
        # and `make ship` it (README, "Condo's and Cocorico's images").
        "image_from": "ship",
        "port": 3000,
        "host_port": 3102,
        "env": {"PORT": "3000", "SERVER_URL": "https://{hostname:condo}",
                "JWT_PUBLIC_KEY_FILE": "{key:jwt_signing.public}"},
        "secret_env": {"DATABASE_URL": "{db:condo.url}", "REDIS_URL": "{db:condo_cache.url}",
                       "COOKIE_SECRET": "{secret:condo_cookie_secret}",
                       "MARKETPLACE_WEBHOOK_SECRET": "{secret:webhook_condo_hmac}"},
        "depends_on": ["postgres", "redis"],
        # Condo's own migration command (its README); adjust to the image you build.
        "release_tasks": {"migrate": ["yarn", "workspace", "@app/condo", "migrate"]},
        "health": {"http": {"path": "/server-health?checks=postgres,redis", "status": 200},
                   "start_period_s": 120},
    },
    "cocorico-mysql": {
        "mem_limit": "1g",
        "image": "mysql:5.7.44",
        "port": 3306,
        "serves": "mysql",
        # MYSQL_ROOT_HOST: the image's root account only for connections from inside the
        # container (ensure_databases.sh); other containers never reach it.
        "env": {"MYSQL_DATABASE": "{db:cocorico.name}", "MYSQL_USER": "{db:cocorico.user}",
                "MYSQL_ROOT_HOST": "localhost"},
        "secret_env": {"MYSQL_PASSWORD": "{db:cocorico.password}",
                       "MYSQL_ROOT_PASSWORD": "{secret:cocorico_mysql_root_password}"},
        "volumes": {"cocorico/mysql": "/var/lib/mysql"},
        "health": {"test": ["CMD-SHELL", "mysqladmin ping -h 127.0.0.1 --silent"]},
    },
    "cocorico-mongo": {
        "mem_limit": "512m",
        "image": "mongo:4.4.29",
        "port": 27017,
        "serves": "mongodb",
        "env": {"MONGO_INITDB_ROOT_USERNAME": "{db:cocorico_docs.user}"},
        "secret_env": {"MONGO_INITDB_ROOT_PASSWORD": "{db:cocorico_docs.password}"},
        "volumes": {"cocorico/mongo": "/data/db"},
        "health": {"test": ["CMD-SHELL", "echo 'db.runCommand({ping: 1}).ok' | mongo --quiet | grep -q 1"]},
    },
    "cocorico": {
        "mem_limit": "512m",
        # No production image exists (cocolabs/cocorico is a 2019 debug container): build one
        # and `make ship` it.
        "image_from": "ship",
        "port": 80,
        "host_port": 3104,
        "env": {"DATABASE_HOST": "{db:cocorico.host}", "DATABASE_PORT": "{db:cocorico.port}",
                "DATABASE_NAME": "{db:cocorico.name}", "DATABASE_USER": "{db:cocorico.user}",
                "JWT_PUBLIC_KEY_FILE": "{key:jwt_signing.public}"},
        "secret_env": {"DATABASE_PASSWORD": "{db:cocorico.password}",
                       "MONGODB_SERVER": "{db:cocorico_docs.url}",
                       "MARKETPLACE_WEBHOOK_SECRET": "{secret:webhook_cocorico_hmac}"},
        "depends_on": ["cocorico-mysql", "cocorico-mongo"],
        # Symfony 3.4's console (Cocorico's install guide); adjust to the image you build.
        "release_tasks": {"schema-update": ["php", "bin/console", "doctrine:schema:update", "--force"],
                          "mongodb-schema": ["php", "bin/console", "doctrine:mongodb:schema:update"],
                          "assets": ["php", "bin/console", "assets:install", "--env=prod"]},
        "health": {"http": {"path": "/en/", "status": 200}, "start_period_s": 60},
    },
    "edge": {
        "mem_limit": "128m",
        "image": "nginx:1.26.2-bookworm",
        "port": 80,
        "host_port": 3100,
        "volumes": {"edge/conf.d": "/etc/nginx/conf.d:ro"},
        "health": {"test": ["CMD-SHELL", "curl -fsS -o /dev/null http://127.0.0.1/edge-health"]},
    },
    "cloudflared": {
        "mem_limit": "128m",
        "image": "cloudflare/cloudflared:2024.12.2",
        "command": ["tunnel", "--no-autoupdate", "--config", "/etc/cloudflared/config.yml",
                    "--metrics", "0.0.0.0:2000", "run"],
        "volumes": {"cloudflared": "/etc/cloudflared:ro"},
        # Remotely managed: no config file (the ingress lives at Cloudflare), the connector
        # token as TUNNEL_TOKEN (never an argument).
        "by_tunnel_mode": {"remote": {
            "command": ["tunnel", "--no-autoupdate", "--metrics", "0.0.0.0:2000", "run"],
            "volumes": {},
            "secret_env": {"TUNNEL_TOKEN": "{secret:tunnel_token}"},
        }},
        "depends_on": ["edge"],
        "egress": True,
        # Distroless: no shell; the ready subcommand asks the metrics server.
        "health": {"test": ["CMD", "cloudflared", "tunnel", "--metrics", "127.0.0.1:2000", "ready"]},
    },
}


# -- Shapes of the nested settings: the types deploys/catalog/schema.py checks against --------
# (Documentation and defaults are above, where each setting is set.)

class ContainerLogs(TypedDict, total=False):
    max_size: str
    max_files: int


class Preflight(TypedDict, total=False):
    min_free_mib: dict[Literal["deploy_root", "backup_dir"], int]
    architectures: list[str]
    min_docker: str
    min_compose: str
    max_memory_share: float


class Webhook(TypedDict, total=False):
    shape: Required[Literal["slack", "ntfy", "generic"]]
    url_secret: Required[str]


class AlertEmail(TypedDict, total=False):
    relay: str | None
    port: int
    # "from" is a keyword: the key is spelt in the dict, the annotation below is its type
    to: list[str]
    starttls: bool
    user: str | None
    password_secret: str | None


AlertEmail.__annotations__["from"] = str


class Alerts(TypedDict, total=False):
    repeat_min: int
    webhooks: dict[str, Webhook]
    email: AlertEmail
    dsm_notify: bool


class Monitoring(TypedDict, total=False):
    enabled: bool
    host: str
    user: str
    password_secret: str
    recent_alerts: int


class KillbillTenant(TypedDict, total=False):
    enabled: bool
    service: str
    external_key: str
    api_key: str
    api_secret_secret: str
    admin_user: str
    admin_password_secret: str
    kaui_service: str | None


class Kubernetes(TypedDict, total=False):
    version: str
    namespace: str | None
    ingress_class: str
    ingress_namespace: str
    ingress_origin: str
    storage_class: str | None
    volume_size: str
    registry: str | None
    replicas: dict[str, int]


class Swarm(TypedDict, total=False):
    data_label: str
    replicas: dict[str, int]
    update_monitor_s: int


class OpsProgram(TypedDict, total=False):
    build_args: dict[str, str]


class Housekeeping(TypedDict, total=False):
    keep_releases: int
    log_max_kib: int
    log_keep: int


class BackupKeep(TypedDict, total=False):
    daily: int
    weekly: int
    partial: int


class Offsite(TypedDict, total=False):
    repository: str | None
    port: int
    known_hosts: list[str]
    image: str
    build: str | None
    password_secret: str
    ssh_key_secret: str


class Backup(TypedDict, total=False):
    keep: BackupKeep
    passphrase_secret: str | None
    max_age_hours: int
    confirm_restore: bool
    offsite: Offsite


class DsmTask(TypedDict, total=False):
    script: str
    args: list[str]
    on: Literal["bootup"] | None
    at: str | None
    every_min: int | None
    every_hours: int | None
    enabled: bool


class Route(TypedDict, total=False):
    host: Required[str]          # a key of `hostnames`
    path: Required[str]          # a plain prefix: "/" or "/api" (no glob, no regex)
    service: Required[str]       # an enabled service with a `port`
    strip_prefix: bool           # default False: the app sees the full path
    max_body_size: str           # default "32m": the largest request body the edge accepts (nginx size)


class SharedTunnel(TypedDict, total=False):
    config_file: str
    edge_host_port: int
    container: str
    metrics_url: str
    ready_timeout_s: int
    backup_dir: str


class Tunnel(TypedDict, total=False):
    mode: Literal["local", "remote", "shared"]
    edge_port: int
    id: str | None
    credentials_file: str
    account_id: str | None
    api_url: str
    api_token_env: str
    shared: SharedTunnel


class Secret(TypedDict, total=False):
    kind: Literal["password", "rsa_keypair", "provided"]
    length: int                  # password: characters
    bits: int                    # rsa_keypair: key size
    reader_uid: int              # rsa_keypair: owner of the private key's mounted copy


class DatabaseDefaults(TypedDict, total=False):
    ddl: list[str]
    redis_acl: str


class Database(DatabaseDefaults, total=False):
    engine: Required[Literal["postgres", "redis", "mysql", "mongodb"]]
    service: Required[str]
    user: Required[str]


class HttpCheck(TypedDict, total=False):
    path: Required[str]
    status: int


class Health(TypedDict, total=False):
    test: list[str] | None
    http: HttpCheck | None
    interval_s: int
    timeout_s: int
    retries: int
    start_period_s: int
    gate_timeout_s: int | None


class Service(TypedDict, total=False):
    enabled: bool
    image: str | None
    image_from: Literal["registry", "ship"]
    build: str | None
    build_args: dict[str, str]
    port: int | None
    serves: Literal["postgres", "redis", "mysql", "mongodb"] | None
    host_port: int | None
    public: bool
    command: list[str] | None
    env: dict[str, str]
    secret_env: dict[str, str]
    volumes: dict[str, str]
    depends_on: list[str]
    health: Health
    egress: bool
    mem_limit: str | None
    release_tasks: dict[str, list[str] | None]
    release_switch: Literal["zero-gap", "replace"] | None
    compose: dict[str, Any]
    by_tunnel_mode: dict[Literal["local", "remote", "shared"], Service]
