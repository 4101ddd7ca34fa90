"""The catalog: what every target shares. Production values are the defaults.

A target's own file (production.py, staging.py, local.py) is deep-merged over this one by
deploys/catalog.py (dicts merge key by key; anything else replaces). `extends` in a target file
names other files merged first. Every setting is documented once, here; README lists them.

Value macros, expanded by the catalog (never write a password or a URL with one by hand):
  {secret:NAME}      a secret generated on the target (only in `secret_env`)
  {db:NAME.FIELD}    a database of `databases`: FIELD is host, port, name, user (clear), or
                     url, jdbc_url, password (secret: only in `secret_env`)
  {hostname:KEY}     a public hostname of `hostnames`
  {integrations}     JSON {service: internal health URL} of every other enabled service with
                     an HTTP health route (what the connector reports on)
"""

# Compose project name; also prefixes the container names.
project_name = "marketplace"
# Where everything lives on the target (compose file, env files, data volumes, scripts).
deploy_root = "/volume1/web/marketplace"
# Absolute path: DSM's non-interactive SSH PATH lacks /usr/local/bin.
docker_bin = "/usr/local/bin/docker"
# Every published port binds here only.
bind_address = "127.0.0.1"
# Added to every host port (lets staging run beside the local target).
port_offset = 0
# Owner of every managed file and directory.
file_owner = "root"
# Upper bound for `docker compose up --wait`, in seconds.
wait_timeout_s = 600
# Where scripts/backup_postgres.sh writes its dumps, and how many days it keeps them.
backup_dir = "/volume1/backups/marketplace"
backup_keep_days = 14
# DSM Task Scheduler: when the nightly backup runs (NAS local time).
backup_schedule = {"hour": 3, "minute": 0}

# Public hostnames the tunnel and the edge serve. One level under the zone, so Cloudflare's
# Universal SSL certificate (*.wattsun.co.ke) covers them.
hostnames = {
    "main": "boma.wattsun.co.ke",
    "kaui": "boma-kaui.wattsun.co.ke",
    "condo": "boma-condo.wattsun.co.ke",
}

# Cloudflare Tunnel, locally managed (config.yml + credentials file).
tunnel = {
    # The tunnel's UUID from `cloudflared tunnel create`; required where cloudflared is enabled.
    "id": None,
    # Credentials JSON of that tunnel, placed on the target by the operator (mode 0600).
    "credentials_file": "cloudflared/credentials.json",
}

# Secrets generated on the target at the first deploy (secrets/values/NAME, mode 0600) and
# reused on every later run. Database passwords are declared by `databases` below.
secrets = {
    "postgres_superuser_password": {"length": 40},
    "killbill_admin_password": {"length": 40},
    "killbill_api_secret": {"length": 40},
    "kaui_secret_key_base": {"length": 64},
    "condo_cookie_secret": {"length": 48},
    "cocorico_mysql_root_password": {"length": 40},
}

# Databases. `service` is the container serving it; `password` names its generated secret.
databases = {
    "marketplace": {"engine": "postgres", "service": "postgres", "user": "connector"},
    "killbill": {"engine": "postgres", "service": "postgres", "user": "killbill"},
    "kaui": {"engine": "postgres", "service": "postgres", "user": "kaui"},
    "condo": {"engine": "postgres", "service": "postgres", "user": "condo"},
    "cache": {"engine": "redis", "service": "redis", "user": "default"},
    "cocorico": {"engine": "mysql", "service": "cocorico-mysql", "user": "cocorico"},
    "cocorico_docs": {"engine": "mongodb", "service": "cocorico-mongo", "user": "cocorico"},
}

# Defaults every service starts from (a service's own keys win).
service_defaults = {
    # False: left out of the compose file, routes and checks.
    "enabled": True,
    # Pinned image tag (never `latest`), or None with `build` set.
    "image": None,
    # Build context, a folder of this repository; pushed to the target and built there.
    "build": None,
    # Build arguments for `build`.
    "build_args": {},
    # Port the app listens on inside its container.
    "port": None,
    # Port published on bind_address (plus port_offset), or None: not published.
    "host_port": None,
    # Container command (list), or None for the image's own.
    "command": None,
    # Clear environment; secrets go in secret_env.
    "env": {},
    # Environment with secrets; written on the target to secrets/<secret_file>.env (0600).
    "secret_env": {},
    # Name of that secret env file (one per concern); defaults to the service name.
    "secret_file": None,
    # Volumes: path under deploy_root -> path in the container (":ro" allowed).
    "volumes": {},
    # Services that must be healthy before this one starts.
    "depends_on": [],
    # Routes through the edge: hostname key, path prefix, strip the prefix before proxying.
    "routes": [],
    # Health: container healthcheck (`test`, or derived from `http`) and the HTTP route
    # checked through the edge after every deploy (`path` as the app sees it, `status`).
    "health": {"test": None, "http": None, "interval_s": 10, "timeout_s": 5, "retries": 5,
               "start_period_s": 30},
    # Needs to reach the internet (joins the non-internal network even without a host port).
    "egress": False,
    # Memory limit, e.g. "512m", or None.
    "mem_limit": None,
}

services = {
    "postgres": {
        "image": "postgres:16.4-bookworm",
        "port": 5432,
        # Also gets DB_<NAME>_PASSWORD for every database of `databases` it serves; its init
        # script (templates/initdb.sh.j2) creates those users and databases at first start.
        "env": {"POSTGRES_DB": "postgres", "POSTGRES_USER": "postgres"},
        "secret_env": {"POSTGRES_PASSWORD": "{secret:postgres_superuser_password}"},
        "secret_file": "database",
        "volumes": {"postgres/data": "/var/lib/postgresql/data",
                    "postgres/initdb": "/docker-entrypoint-initdb.d:ro"},
        "health": {"test": ["CMD-SHELL", "pg_isready -q -U postgres"]},
    },
    "redis": {
        "image": "redis:7.2.5-bookworm",
        "port": 6379,
        # The config (with requirepass) is fed on stdin: no password in any argv, and
        # redis-server replaces the shell (PID 1, so `docker stop` reaches it).
        "command": ["sh", "-c", "exec redis-server - <<EOF\nrequirepass $REDIS_PASSWORD\n"
                                "dir /data\nappendonly yes\nEOF"],
        "secret_env": {"REDIS_PASSWORD": "{db:cache.password}",
                       "REDISCLI_AUTH": "{db:cache.password}"},
        "volumes": {"redis/data": "/data"},
        "health": {"test": ["CMD-SHELL", "redis-cli ping | grep -q PONG"]},
    },
    "connector": {
        "build": "files/connector",
        "build_args": {"BASE_IMAGE": "python:3.11.10-slim-bookworm"},
        "port": 8080,
        "host_port": 3101,
        "env": {"PORT": "8080", "INTEGRATIONS": "{integrations}"},
        "secret_env": {"DATABASE_URL": "{db:marketplace.url}", "REDIS_URL": "{db:cache.url}"},
        "depends_on": ["postgres", "redis"],
        "routes": [{"host": "main", "path": "/api", "strip_prefix": False}],
        "health": {"test": ["CMD-SHELL", "curl -fsS -o /dev/null http://127.0.0.1:8080/api/health/live"],
                   "http": {"path": "/api/health", "status": 200}},
    },
    "killbill": {
        "image": "killbill/killbill:0.24.11",
        "port": 8080,
        "host_port": 3103,
        "env": {"KILLBILL_DAO_URL": "{db:killbill.jdbc_url}", "KILLBILL_DAO_USER": "{db:killbill.user}"},
        "secret_file": "billing",
        "secret_env": {"KILLBILL_DAO_PASSWORD": "{db:killbill.password}",
                       "KB_ADMIN_PASSWORD": "{secret:killbill_admin_password}"},
        "depends_on": ["postgres"],
        "routes": [{"host": "main", "path": "/billing", "strip_prefix": True}],
        "health": {"http": {"path": "/1.0/healthcheck", "status": 200}, "start_period_s": 180},
        "mem_limit": "3g",
    },
    "kaui": {
        "image": "killbill/kaui:3.0.11",
        "port": 8080,
        "host_port": 3105,
        "env": {"KAUI_CONFIG_DAO_ADAPTER": "postgresql",
                "KAUI_CONFIG_DAO_URL": "{db:kaui.jdbc_url}", "KAUI_CONFIG_DAO_USER": "{db:kaui.user}",
                "KAUI_KILLBILL_URL": "http://killbill:8080"},
        "secret_file": "billing",
        "secret_env": {"KAUI_CONFIG_DAO_PASSWORD": "{db:kaui.password}",
                       "KAUI_KILLBILL_API_SECRET": "{secret:killbill_api_secret}",
                       "SECRET_KEY_BASE": "{secret:kaui_secret_key_base}"},
        "depends_on": ["postgres", "killbill"],
        "routes": [{"host": "kaui", "path": "/", "strip_prefix": False}],
        "health": {"http": {"path": "/health", "status": 200}, "start_period_s": 120},
    },
    "condo": {
        # No public image exists: build one from open-condo-software/condo and set it per target.
        "port": 3000,
        "host_port": 3102,
        "env": {"PORT": "3000", "SERVER_URL": "https://{hostname:condo}"},
        "secret_env": {"DATABASE_URL": "{db:condo.url}", "REDIS_URL": "{db:cache.url}",
                       "COOKIE_SECRET": "{secret:condo_cookie_secret}"},
        "depends_on": ["postgres", "redis"],
        "routes": [{"host": "condo", "path": "/", "strip_prefix": False}],
        "health": {"http": {"path": "/server-health?checks=postgres,redis", "status": 200},
                   "start_period_s": 120},
    },
    "cocorico-mysql": {
        "image": "mysql:5.7.44",
        "port": 3306,
        "env": {"MYSQL_DATABASE": "{db:cocorico.name}", "MYSQL_USER": "{db:cocorico.user}"},
        "secret_file": "cocorico",
        "secret_env": {"MYSQL_PASSWORD": "{db:cocorico.password}",
                       "MYSQL_ROOT_PASSWORD": "{secret:cocorico_mysql_root_password}"},
        "volumes": {"cocorico/mysql": "/var/lib/mysql"},
        "health": {"test": ["CMD-SHELL", "mysqladmin ping -h 127.0.0.1 --silent"]},
    },
    "cocorico-mongo": {
        "image": "mongo:4.4.29",
        "port": 27017,
        "env": {"MONGO_INITDB_ROOT_USERNAME": "{db:cocorico_docs.user}"},
        "secret_file": "cocorico",
        "secret_env": {"MONGO_INITDB_ROOT_PASSWORD": "{db:cocorico_docs.password}"},
        "volumes": {"cocorico/mongo": "/data/db"},
        "health": {"test": ["CMD-SHELL", "echo 'db.runCommand({ping: 1}).ok' | mongo --quiet | grep -q 1"]},
    },
    "cocorico": {
        # No production image exists (cocolabs/cocorico is a 2019 debug container): build one.
        "port": 80,
        "host_port": 3104,
        "env": {"DATABASE_HOST": "{db:cocorico.host}", "DATABASE_PORT": "{db:cocorico.port}",
                "DATABASE_NAME": "{db:cocorico.name}", "DATABASE_USER": "{db:cocorico.user}"},
        "secret_file": "cocorico",
        "secret_env": {"DATABASE_PASSWORD": "{db:cocorico.password}",
                       "MONGODB_SERVER": "{db:cocorico_docs.url}"},
        "depends_on": ["cocorico-mysql", "cocorico-mongo"],
        "routes": [{"host": "main", "path": "/", "strip_prefix": False}],
        "health": {"http": {"path": "/en/", "status": 200}, "start_period_s": 60},
    },
    "edge": {
        "image": "nginx:1.26.2-bookworm",
        "port": 80,
        "host_port": 3100,
        "volumes": {"edge/conf.d": "/etc/nginx/conf.d:ro"},
        "health": {"test": ["CMD-SHELL", "curl -fsS -o /dev/null http://127.0.0.1/edge-health"]},
    },
    "cloudflared": {
        "image": "cloudflare/cloudflared:2024.12.2",
        "command": ["tunnel", "--no-autoupdate", "--config", "/etc/cloudflared/config.yml",
                    "--metrics", "0.0.0.0:2000", "run"],
        "volumes": {"cloudflared": "/etc/cloudflared:ro"},
        "depends_on": ["edge"],
        "egress": True,
        # Distroless: no shell; the ready subcommand asks the metrics server.
        "health": {"test": ["CMD", "cloudflared", "tunnel", "--metrics", "127.0.0.1:2000", "ready"]},
    },
}
