"""Stand-ins for a machine with no registry and no Cloudflare (the local and staging targets).

Every image is built on the target from a folder of files/images on top of the local base image
(files/local-target/build-images.sh makes it with debootstrap). PostgreSQL, Redis, MariaDB (for
MySQL) and nginx are the real servers from Debian's packages; Kill Bill, Kaui, Condo, Cocorico,
MongoDB and cloudflared are small stand-ins that answer their documented health routes and say
in every response that they are stand-ins.
"""

_BASE = {"BASE_IMAGE": "marketplace-local/base:bookworm"}


def _standin(app, **extra):
    return {"image": None, "build": "files/images/standin", "build_args": _BASE,
            "command": ["standin", app], **extra}


services = {
    "postgres": {"image": None, "build": "files/images/postgres", "build_args": _BASE},
    "redis": {"image": None, "build": "files/images/redis", "build_args": _BASE},
    "connector": {"build_args": _BASE},
    # The release tasks: the stand-ins' own (a migration recorded in the app's database, Kill
    # Bill's DDL checked), run the way the real ones are.
    "killbill": _standin("killbill", mem_limit="256m", health={"start_period_s": 30},
                         release_tasks={"ddl-check": ["standin", "task", "killbill-ddl-check"]}),
    "kaui": _standin("kaui", health={"start_period_s": 30}),
    "condo": _standin("condo", health={"start_period_s": 30},
                      release_tasks={"migrate": ["standin", "task", "condo-migrate"]}),
    "cocorico": _standin("cocorico", health={"start_period_s": 30},
                         release_tasks={"schema-update": ["standin", "task", "cocorico-schema-update"],
                                        "mongodb-schema": None, "assets": None}),
    "cocorico-mysql": {"image": None, "build": "files/images/mysql", "build_args": _BASE},
    "cocorico-mongo": _standin("mongodb", health={
        "test": ["CMD", "standin-probe", "mongodb", "127.0.0.1:27017"]}),
    "edge": {"image": None, "build": "files/images/edge", "build_args": _BASE},
    "cloudflared": {"image": None, "build": "files/images/standin", "build_args": _BASE,
                    "command": ["cloudflared", "tunnel", "--no-autoupdate", "--config",
                                "/etc/cloudflared/config.yml", "--metrics", "0.0.0.0:2000", "run"],
                    "by_tunnel_mode": {"remote": {"command": [
                        "cloudflared", "tunnel", "--no-autoupdate", "--metrics", "0.0.0.0:2000", "run"]}}},
}

# The NAS-side program on the local base image (its Debian packages carry the Docker SDK,
# Jinja2 and prometheus_client).
ops_program = {"build_args": _BASE}

# Kill Bill's and Kaui's real DDL is not in git (see README): the stand-ins get tables of their
# own, loaded the same way, which they check for.
databases = {
    "killbill": {"ddl": ["files/ddl/standin/killbill.sql"]},
    "kaui": {"ddl": ["files/ddl/standin/kaui.sql", "files/ddl/kaui-admin.sql"]},
}

# The stand-in tunnel never connects to Cloudflare; it only loads and serves the ingress rules.
tunnel = {"id": "00000000-0000-4000-8000-000000000000"}
