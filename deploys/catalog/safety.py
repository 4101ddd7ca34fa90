"""What a catalog must never be able to do to the NAS, whoever wrote it: names that become paths,
shell words or SQL identifiers; paths that leave the deploy root; container powers over the host;
values that cannot be written safely; macros that do not parse.

Each pattern and allow-list is documented once here and in docs/SETTINGS.md (allowed_powers).
The rules read the merged raw data (disabled services too) and report through the draft.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from pathlib import Path
from typing import Any

from deploys import layout
from deploys.catalog.draft import REPO, Draft
from deploys.catalog.model import MACRO, Catalog
from deploys.layout import STATUS_PATH

# -- names: one pattern each; they become paths, shell words, SQL identifiers, compose keys ----
NAMES = {
    "service": (re.compile(r"^[a-z][a-z0-9-]{0,62}$"), "lowercase letters, digits and '-', starting with a letter"),
    "database": (re.compile(r"^[a-z][a-z0-9_]{0,62}$"), "lowercase letters, digits and '_', starting with a letter "
                 "(no '-': it becomes an SQL identifier and part of a secret's name)"),
    "user": (re.compile(r"^[a-z][a-z0-9_]{0,62}$"), "lowercase letters, digits and '_', starting with a letter"),
    "secret": (re.compile(r"^[a-z][a-z0-9_]{0,62}$"), "lowercase letters, digits and '_', starting with a letter"),
    "route": (re.compile(r"^[a-z][a-z0-9_-]{0,62}$"), "lowercase letters, digits, '_' and '-'"),
    "hostname key": (re.compile(r"^[a-z][a-z0-9_-]{0,62}$"), "lowercase letters, digits, '_' and '-'"),
    "env": (re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"), "letters, digits and '_', not starting with a digit"),
    "project": (re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$"), "lowercase letters, digits, '_' and '-' (a Compose "
                "project name)"),
    "owner": (re.compile(r"^[a-z_][a-z0-9_-]{0,31}$"), "a user name of the target"),
    "task": (re.compile(r"^[a-z][a-z0-9-]{0,40}$"), "lowercase letters, digits and '-', starting with a letter"),
    "webhook": (re.compile(r"^[a-z][a-z0-9_-]{0,40}$"), "lowercase letters, digits, '_' and '-'"),
}
# A path under the deploy root: relative segments of safe characters, no '.' or '..'.
RELATIVE_PATH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$")
# deploy_root and backup_dir: never one of these, nor inside the first group.
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/run", "/sbin",
                "/sys", "/usr", "/var/run", "/var/lib/docker", "/volume1/@docker")
SYSTEM_DIRS = {"/", "/home", "/mnt", "/opt", "/root", "/srv", "/tmp", "/var", "/var/lib", "/var/tmp"}
DSM_VOLUME = re.compile(r"^/volume(USB)?\d+$")
# The Docker socket, wherever a catalog might try to mount it from or to.
# Folders of the deploy root that belong to the deploy, never mounted into a service.
DEPLOY_OWNED = {layout.SECRETS: "secrets folder (every service's secrets)",
                layout.RELEASES: "release records and lock"}
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")

# -- container powers: refused unless `allowed_powers` names the service and the power ----------
POWERS = {
    "privileged": "a privileged container owns the NAS",
    "cap_add": "extra kernel capabilities",
    "pid": "the host's process namespace (pid: host)",
    "ipc": "the host's IPC namespace (ipc: host)",
    "uts": "the host's UTS namespace (uts: host)",
    "devices": "host devices",
    "userns_mode": "the host's user namespace (userns_mode: host)",
    "security_opt": "an unconfined seccomp/AppArmor/SELinux profile",
    "cgroup": "the host's cgroup namespace (cgroup: host)",
    "volumes_from": "another container's mounts",
}
# A value that would be written into a file or a script: these characters cannot be.
UNWRITABLE = re.compile(r"[\n\r\x00]")
MACRO_LIKE = re.compile(r"\{(?:[a-z_]+:[^{}]*|integrations|sync_jobs)\}|\{(?:secret|db|key|hostname|tenant):[^}]*$")
# -- Redis ACL rules of an app's user: keys, channels and commands only --------------------------
ACL_RULE = re.compile(r"^(?:(?:%R?W?)?~[A-Za-z0-9_:*?.\[\]{}^-]+|&[A-Za-z0-9_:*?.\[\]{}^-]+|allkeys|resetkeys|allchannels|resetchannels"
                      r"|[+-]@?[a-z][a-z_-]*(?:\|[a-z][a-z_-]*)?)$")
# Commands an app's user is never granted, whatever its category rules say (all are @admin or
# reach every app's keys).
ACL_NEVER = {"acl", "config", "debug", "module", "shutdown", "monitor", "replicaof", "slaveof", "sync",
             "psync", "failover", "save", "bgsave", "bgrewriteaof", "cluster", "flushall", "flushdb", "swapdb",
             "migrate"}
TASK_ARG = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
TASK_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
HEALTH_PATH = re.compile(r"^/[A-Za-z0-9._~/?=&,%:+-]*$")
NGINX_SIZE = re.compile(r"^\d{1,6}[km]?$")


def _hint_name(kind: str) -> str:
    return f"a {kind} name is {NAMES[kind][1]}"


def _check_name(b: Draft, kind: str, name: Any, where: tuple[str, ...]) -> None:
    pattern, _ = NAMES[kind]
    if not isinstance(name, str) or not pattern.match(name):
        b.problem(where, f"{name!r} is not a valid {kind} name", _hint_name(kind))


def names(catalog: Catalog, b: Draft) -> None:
    """Service, database, user, secret, route, hostname and environment names match their pattern."""
    raw = b.raw
    for name, svc in raw["services"].items():
        _check_name(b, "service", name, ("services", str(name)))
        for section in ("env", "secret_env"):
            for key in (svc or {}).get(section, {}) or {}:
                _check_name(b, "env", key, ("services", str(name), section, str(key)))
    for name, db in raw["databases"].items():
        _check_name(b, "database", name, ("databases", str(name)))
        if isinstance(db, dict) and "user" in db:
            _check_name(b, "user", db["user"], ("databases", str(name), "user"))
    for name in raw["secrets"]:
        _check_name(b, "secret", name, ("secrets", str(name)))
    for name in raw["routes"]:
        _check_name(b, "route", name, ("routes", str(name)))
    for name in raw["hostnames"]:
        _check_name(b, "hostname key", name, ("hostnames", str(name)))
    _check_name(b, "project", raw["project_name"], ("project_name",))
    _check_name(b, "owner", raw["file_owner"], ("file_owner",))
    docker = raw["docker_bin"]
    if not docker.startswith("/") or posixpath.normpath(docker) != docker or \
            not RELATIVE_PATH.match(docker.lstrip("/")):
        b.problem(("docker_bin",), f"{docker!r} is not an absolute path to a program",
                  "e.g. /usr/local/bin/docker (DSM's)")


def roots(catalog: Catalog, b: Draft) -> None:
    """deploy_root and backup_dir: absolute, normalised, deep enough, never a system directory or a
    whole volume or shared folder of the NAS."""
    for key in ("deploy_root", "backup_dir"):
        value = b.raw[key]
        problem = _root_problem(value)
        if problem:
            b.problem((key,), f"{value!r} {problem}",
                      "a folder of its own, e.g. /volume1/web/marketplace or /var/lib/marketplace/local")


def _root_problem(value: str) -> str | None:
    if not value.startswith("/"):
        return "is not an absolute path"
    if value in SYSTEM_DIRS or any(value == t or value.startswith(t + "/") for t in SYSTEM_TREES):
        return "is a system directory"
    if posixpath.normpath(value) != value:
        return f"is not normalised (write {posixpath.normpath(value)})"
    if not RELATIVE_PATH.match(value.strip("/")):
        return "has characters a folder of the stack may not have"
    parts = value.strip("/").split("/")
    if DSM_VOLUME.match("/" + parts[0]) and len(parts) < 3:
        return "is a whole volume or shared folder of the NAS"
    if len(parts) < 2:
        return "is not at least two levels deep"
    return None


def _inside(base: Path, path: Path) -> bool:
    try:
        return path.resolve().is_relative_to(base.resolve())
    except (OSError, RuntimeError):
        return False


def paths(catalog: Catalog, b: Draft) -> None:
    """Volumes, build contexts, DDL files and the tunnel's files stay where they belong: under the
    deploy root (relative, no '..') or, for what the deploy reads, inside this repository."""
    for name, svc in b.all_raw().items():
        for source, target in (svc.get("volumes") or {}).items():
            where = ("services", name, "volumes", str(source))
            if not isinstance(source, str) or not RELATIVE_PATH.match(source):
                b.problem(where, f"{source!r} is not a folder under deploy_root",
                          "a relative path under deploy_root without '..' (e.g. myapp/data)")
            elif any(source == own or source.startswith(own + "/") for own in DEPLOY_OWNED):
                b.problem(where, f"{source!r} is the deploy's own {DEPLOY_OWNED[source.split('/')[0]]}: "
                          "a service mounting it could read or change it for every service",
                          "give the service only what it needs: secret_env for its own secrets, a folder "
                          "of its own for its data")
            mount = str(target).split(":", 1)[0]
            if not mount.startswith("/") or posixpath.normpath(mount) != mount or \
                    any(mount == s or s.startswith(mount.rstrip("/") + "/") for s in DOCKER_SOCKETS):
                b.problem(where, f"{target!r} is not a path the container may mount at",
                          "an absolute, normalised path in the container, never the Docker socket's")
        build = svc.get("build")
        if build is not None and (not RELATIVE_PATH.match(str(build)) or not _inside(REPO, REPO / build)):
            b.problem(("services", name, "build"), f"{build!r} is not a folder of this repository",
                      "a relative path inside the repository, e.g. files/connector")
        elif build is not None and not (REPO / build / "Dockerfile").is_file():
            missing = "does not exist" if not (REPO / build).is_dir() else "has no Dockerfile"
            b.problem(("services", name, "build"), f"the build context {build} {missing}: the build "
                      "would fail on the target", "a folder of this repository with its Dockerfile "
                      "(and what it copies), e.g. files/connector")
    for db, spec in b.raw["databases"].items():
        for i, ddl in enumerate((spec or {}).get("ddl") or []):
            if not RELATIVE_PATH.match(str(ddl)) or not _inside(REPO, REPO / ddl):
                b.problem(("databases", str(db), "ddl"), f"{ddl!r} (item {i}) is not a file of this "
                          "repository", "a relative path inside the repository, e.g. files/ddl/x.sql")
    tunnel = b.raw["tunnel"]
    for key, value in (("credentials_file", tunnel.get("credentials_file")),
                       ("shared.backup_dir", (tunnel.get("shared") or {}).get("backup_dir"))):
        if value is not None and not RELATIVE_PATH.match(str(value)):
            b.problem(("tunnel", *key.split(".")), f"{value!r} is not a path under deploy_root",
                      "a relative path under deploy_root without '..'")
    config_file = (tunnel.get("shared") or {}).get("config_file")
    if config_file and (posixpath.normpath(config_file) != config_file
                        or _root_problem(posixpath.dirname(config_file))):
        b.problem(("tunnel", "shared", "config_file"), f"{config_file!r} is not a config file of another "
                  "site", "the absolute path of that tunnel's config.yml, in a folder of its own")


def powers(catalog: Catalog, b: Draft) -> None:
    """Container powers over the host only where `allowed_powers` grants them."""
    allowed = b.raw.get("allowed_powers") or {}
    for name, svc in b.all_raw().items():
        for key, value in (svc.get("compose") or {}).items():
            if key not in POWERS or not _is_power(key, value):
                continue
            if key in allowed.get(name, []):
                continue
            b.problem(("services", name, "compose", key), f"{POWERS[key]} ({key}: {value!r}) is refused",
                      f"if {name} really needs it, grant it in allowed_powers = {{{name!r}: [{key!r}]}} "
                      "and say why in a comment")
    services = set(b.raw["services"])
    for name, granted in allowed.items():
        if name not in services:
            close = difflib.get_close_matches(name, services, n=1)
            b.problem(("allowed_powers", name), f"unknown service {name!r}",
                      f"did you mean {close[0]!r}?" if close else f"one of: {', '.join(sorted(services))}")


def _is_power(key: str, value: Any) -> bool:
    if key in ("pid", "ipc", "uts", "userns_mode", "cgroup"):
        return str(value) == "host"
    if key == "security_opt":
        return any(re.search(r"unconfined|label[:=]disable", str(v)) for v in _as_list(value))
    return bool(value)


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def values(catalog: Catalog, b: Draft) -> None:
    """Values that reach files and scripts: no line break or NUL anywhere (they cannot be written
    safely), macros that parse, health paths that are plain paths."""
    for name, svc in b.all_raw().items():
        for section in ("env", "secret_env", "build_args"):
            for key, value in (svc.get(section) or {}).items():
                where = ("services", name, section, str(key))
                text = str(value)
                if UNWRITABLE.search(text):
                    b.problem(where, "a line break or NUL byte cannot be written into an env file",
                              "one line per value; for a file's content, mount the file instead")
                for bad in _bad_macros(text):
                    b.problem(where, f"{bad!r} is not a macro", "{secret:NAME}, {db:NAME.FIELD}, "
                              "{key:NAME.private|public}, {hostname:KEY} or {integrations}")
        for i, part in enumerate(svc.get("command") or []):
            if "\x00" in str(part):
                b.problem(("services", name, "command"), f"item {i} holds a NUL byte")
        argvs = {("services", name, "command"): svc.get("command") or [],
                 **{("services", name, "release_tasks", str(t)): a for t, a in (svc.get("release_tasks") or {}).items()
                    if isinstance(a, list)},
                 **{("services", name, "build_args", str(k)): [v] for k, v in (svc.get("build_args") or {}).items()}}
        for where, argv in argvs.items():
            for why in _shown_secrets([str(a) for a in argv]):
                b.problem(where, why, "a command line shows in ps, docker inspect and the image's history: "
                          "give the value to the service in secret_env ({secret:NAME}) and let the program "
                          "read it from its environment (never expanded into an argument: that is on the "
                          "command line again), or mount a file")
        for task, argv in (svc.get("release_tasks") or {}).items():
            where = ("services", name, "release_tasks", str(task))
            _check_name(b, "task", task, where)
            if argv is None:
                continue
            if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
                b.problem(where, f"{str(argv)[:60]!r} is not a command", 'an argv list: ["bin/console", "migrate"]')
            elif any(UNWRITABLE.search(a) for a in argv) or not argv[0].strip():
                b.problem(where, "a line break or NUL byte, or an empty program name",
                          "one argument per item; a shell only as [\"sh\", \"-c\", \"...\"]")
        http = (svc.get("health") or {}).get("http") or {}
        path = http.get("path")
        if path is not None and (not HEALTH_PATH.match(str(path)) or not_normal(str(path))):
            why = not_normal(str(path)) if HEALTH_PATH.match(str(path)) else None
            b.problem(("services", name, "health", "http", "path"), f"{path!r} is not a plain URL path"
                      + (f": {why}, so the probe would ask for another path" if why else ""),
                      "a path and query of letters, digits and . _ ~ / ? = & , % : + -, as clients send it")
    for name, route in b.raw["routes"].items():
        size = route.get("max_body_size")
        if size is not None and not NGINX_SIZE.match(str(size)):
            b.problem(("routes", str(name), "max_body_size"), f"{size!r} is not a size",
                      "a number, optionally followed by k or m: 512k, 32m")


def database_users(catalog: Catalog, b: Draft) -> None:
    """Each database has a user of its own on its server (one role with two databases' passwords
    would lock the first app out when the second is set), never one of the server's own accounts."""
    from deploys.catalog.model import DB_ENGINES

    taken: dict[tuple[str, str], str] = {}
    for name, db in b.raw["databases"].items():
        if not isinstance(db, dict) or db.get("engine") not in DB_ENGINES:
            continue
        where = ("databases", str(name), "user")
        user, server = db.get("user"), str(db.get("service"))
        reserved = DB_ENGINES[db["engine"]].get("reserved_users", ())
        if user in reserved:
            b.problem(where, f"{user!r} is the {db['engine']} server's own account",
                      f"an app's user name, not one of {', '.join(reserved)}")
        other = taken.setdefault((server, str(user)), str(name))
        if other != name and db["engine"] != "mongodb":
            b.problem(where, f"{user!r} is also the user of databases.{other} on {server}: one role "
                      "with two passwords, and setting the second locks the first app out",
                      f"give databases.{name} a user of its own", because=(("databases", other, "user"),))


def redis_users(catalog: Catalog, b: Draft) -> None:
    """A redis database's user is an app's: never the server's `admin` or `default`, and its ACL
    rules grant keys, channels and commands only, never the admin commands."""
    for name, db in b.raw["databases"].items():
        if not isinstance(db, dict):
            continue
        where = ("databases", str(name))
        acl = db.get("redis_acl")
        if db.get("engine") != "redis":
            if acl is not None:
                b.problem(where + ("redis_acl",), f"{name} is a {db.get('engine')} database: "
                          "redis_acl is for redis databases", "remove redis_acl")
            continue
        if acl is None:
            acl = b.raw["database_defaults"].get("redis_acl", "")
            where = ("database_defaults",)
        for problem in _acl_problems(str(acl)):
            b.problem(where + ("redis_acl",), problem, "rules like ~app:* &* +@all -@admin "
                      "(keys ~, channels &, commands + and -; no passwords, on/off or admin commands)")


def _acl_problems(acl: str) -> list[str]:
    rules = acl.split(" ")
    problems = [f"{rule!r} is not a key, channel or command rule" for rule in rules
                if not ACL_RULE.match(rule)]
    for rule in rules:
        if rule.startswith("+") and rule[1:].split("|")[0] in ACL_NEVER | {"@admin", "@dangerous"}:
            problems.append(f"{rule!r} grants what only the server's admin may do")
    granted = [i for i, rule in enumerate(rules) if rule == "+@all"]
    if granted and "-@admin" not in rules[granted[-1]:]:
        problems.append("+@all is not followed by -@admin: the app's user could run CONFIG, ACL, "
                        "DEBUG and MODULE")
    return problems


def dsm_tasks(catalog: Catalog, b: Draft) -> None:
    """DSM tasks: a name that is part of DSM's task name and a log file's, a script of ours,
    plain arguments, and a time DSM's scheduler can say."""
    defaults = b.raw["dsm_task_defaults"]
    for key, task in b.raw["dsm_tasks"].items():
        if task is None:
            continue
        where = ("dsm_tasks", str(key))
        _check_name(b, "task", key, where)
        spec = {**defaults, **task}
        if spec.get("script") not in layout.OPS_SCRIPTS:
            b.problem(where + ("script",), f"{spec.get('script')!r} is not a script of the stack",
                      f"one of: {', '.join(sorted(layout.OPS_SCRIPTS))}")
        for i, arg in enumerate(spec.get("args") or []):
            if not TASK_ARG.match(str(arg)):
                b.problem(where + ("args",), f"item {i} {arg!r} is not a plain argument",
                          "letters, digits, '.', '_', '-' (it becomes part of DSM's command line)")
        if (spec.get("on") == "bootup") == (spec.get("at") is not None):
            b.problem(where, "a task runs either `on: \"bootup\"` or daily `at` a time",
                      "set exactly one of on and at")
        if spec.get("at") is not None and not TASK_TIME.match(str(spec["at"])):
            b.problem(where + ("at",), f"{spec['at']!r} is not a time of day", "\"HH:MM\", e.g. \"03:00\"")
        if spec.get("every_min") is not None and spec["every_min"] not in (1, 5, 10, 15, 20, 30):
            b.problem(where + ("every_min",), f"{spec['every_min']} minutes is not an interval DSM offers",
                      "1, 5, 10, 15, 20 or 30")
        if spec.get("every_hours") is not None and not 1 <= int(spec["every_hours"]) <= 23:
            b.problem(where + ("every_hours",), f"{spec['every_hours']} is not an interval in hours",
                      "1 to 23")
        if spec.get("every_min") and spec.get("every_hours"):
            b.problem(where, "every_min and every_hours both set", "repeat by one of them")
        if spec.get("on") == "bootup" and (spec.get("every_min") or spec.get("every_hours")):
            b.problem(where, "a boot-up task does not repeat", "drop every_min/every_hours")


SHOWN_SECRET = re.compile(r"\{(secret:[^}]*|key:[^}]*\.private|db:[^}]*\.(password|url|jdbc_url|dsn))\}")
PASSWORD_FLAG = re.compile(r"(?i)--?(password|passwd|pass|secret|token|api-?key)")
URL_PASSWORD = re.compile(r"://[^/:@\s]*:([^@/\s]+)@")


def _shown_secrets(argv: list[str]) -> list[str]:
    """Why an argv (a command, a release task, a build argument) would show a secret: a secret
    macro (never expanded there, or expanded onto the command line), or a password written in it."""
    found = []
    for i, arg in enumerate(argv):
        if SHOWN_SECRET.search(arg):
            found.append(f"item {i}: {SHOWN_SECRET.search(arg).group(0)} is never put on a command line")
            continue
        url = URL_PASSWORD.search(arg)
        flag, value = arg.partition("=")[::2]
        written = PASSWORD_FLAG.fullmatch(flag) and value and not value.startswith("$")
        follows = i > 0 and PASSWORD_FLAG.fullmatch(argv[i - 1]) and not arg.startswith("$")
        if (url and not url.group(1).startswith("$")) or written or follows:
            found.append(f"item {i}: a password written in the command")
    return found


def not_normal(path: str) -> str | None:
    """Why clients would never send this URL path as written (they normalise it before it reaches
    the tunnel or the edge: RFC 3986 removes dot segments, browsers and curl decode
    percent-encoded unreserved characters, proxies merge slashes), None when they would."""
    part = path.split("?", 1)[0]
    if "//" in part:
        return "'//' is merged by clients and proxies"
    if any(segment in (".", "..") for segment in part.split("/")):
        return "a '.' or '..' segment is removed by clients (RFC 3986 dot segments)"
    if "%" in part:
        return "a percent-encoded character is decoded by clients"
    return None


def _bad_macros(text: str) -> list[str]:
    """Macro-like text that is not a macro (unknown kind, empty or unclosed reference)."""
    bad = []
    for match in MACRO_LIKE.finditer(text):
        found = match.group(0)
        if not MACRO.fullmatch(found) or found.endswith(":}"):
            bad.append(found)
    return bad


# backup.offsite: restic splits its sftp.command on spaces, so the user, host and path are plain
# words (never an ssh option), and known_hosts lines are host patterns, a key type and a key.
OFFSITE_REPOSITORY = re.compile(r"^sftp:([a-z_][a-z0-9_.-]{0,31})@([A-Za-z0-9][A-Za-z0-9.-]{0,252}):"
                                r"(/(?!.*(?:^|/)\.\.(?:/|$))[A-Za-z0-9._/-]{1,200})$")
KNOWN_HOST = re.compile(r"^[A-Za-z0-9\[][A-Za-z0-9.:,\[\]*-]{0,300} (ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|"
                        r"ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]{16,2000}={0,2}$")


def backup(catalog: Catalog, b: Draft) -> None:
    """Backups: retention that keeps something, secrets of the right kind, and an off-NAS
    repository and host keys that can only mean what they say."""
    spec = b.raw["backup"]
    keep = spec.get("keep") or {}
    for key, least in (("daily", 1), ("weekly", 0), ("partial", 0)):
        if not isinstance(keep.get(key), int) or not least <= keep[key] <= 1000:
            b.problem(("backup", "keep", key), f"{keep.get(key)!r} is not a number of backups to keep",
                      f"{least} to 1000")
    if not isinstance(spec.get("max_age_hours"), int) or spec["max_age_hours"] < 1:
        b.problem(("backup", "max_age_hours"), f"{spec.get('max_age_hours')!r} is not a number of hours",
                  "at least 1 (26 lets a daily backup be a little late)")
    kinds = {"passphrase_secret": ("password", "provided")}
    offsite = spec.get("offsite") or {}
    if offsite.get("repository") is not None:
        kinds.update(password_secret=("password", "provided"), ssh_key_secret=("rsa_keypair",))
        if not OFFSITE_REPOSITORY.match(str(offsite["repository"])):
            b.problem(("backup", "offsite", "repository"), f"{offsite['repository']!r} is not an SFTP "
                      "repository restic can be given", '"sftp:USER@HOST:/PATH" (plain names, no spaces '
                      "or options, no '..')")
        hosts = offsite.get("known_hosts") or []
        if not hosts:
            b.problem(("backup", "offsite", "known_hosts"), "no host key of the remote: the first "
                      "connection could be anybody's", "the lines of `ssh-keyscan -p PORT HOST`")
        for i, line in enumerate(hosts):
            if not KNOWN_HOST.match(str(line)):
                b.problem(("backup", "offsite", "known_hosts"), f"item {i} {str(line)[:60]!r} is not a "
                          "known_hosts line", '"[HOST]:PORT ssh-ed25519 AAAA..." (no markers, no options)')
        if not isinstance(offsite.get("port"), int) or not 1 <= offsite["port"] <= 65535:
            b.problem(("backup", "offsite", "port"), f"{offsite.get('port')!r} is not a TCP port", "22")
        build = offsite.get("build")
        if build is not None and (not RELATIVE_PATH.match(str(build)) or not _inside(REPO, REPO / build)):
            b.problem(("backup", "offsite", "build"), f"{build!r} is not a folder of this repository",
                      "a relative path inside the repository, e.g. files/images/restic")
    for key, allowed in kinds.items():
        name = spec.get(key) if key == "passphrase_secret" else offsite.get(key)
        if name is None:
            continue
        secret = catalog.secrets.get(name)
        where = ("backup", "offsite", key) if key != "passphrase_secret" else ("backup", key)
        if secret is None:
            b.problem(where, f"secret {name!r} is not declared", "declare it under `secrets`")
        elif secret["kind"] not in allowed:
            b.problem(where, f"secret {name!r} is a {secret['kind']}", f"a secret of kind {' or '.join(allowed)}")


MAIL_ADDRESS = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}$")
RELAY_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$")


def alerts(catalog: Catalog, b: Draft) -> None:
    """Alert channels: secrets of the right kind for URLs and passwords, plain mail addresses
    and a relay host (they reach a curl config and mail headers), a sane repeat interval."""
    spec = b.raw["alerts"]
    if not isinstance(spec.get("repeat_min"), int) or not 5 <= spec["repeat_min"] <= 10080:
        b.problem(("alerts", "repeat_min"), f"{spec.get('repeat_min')!r} is not a number of minutes",
                  "5 to 10080 (a week); 60 sends a failure that goes on once an hour")
    for name, hook in (spec.get("webhooks") or {}).items():
        _check_name(b, "webhook", name, ("alerts", "webhooks", str(name)))
        secret = catalog.secrets.get((hook or {}).get("url_secret"))
        if secret is None:
            b.problem(("alerts", "webhooks", str(name), "url_secret"), f"secret {hook.get('url_secret')!r} is "
                      "not declared", 'declare it under `secrets` as {"kind": "provided"} and write the URL to '
                      "secrets/values/NAME on the target")
        elif secret["kind"] != "provided":
            b.problem(("alerts", "webhooks", str(name), "url_secret"), f"secret {hook['url_secret']!r} is a "
                      f"{secret['kind']}: a webhook's URL is one you are given", 'a secret of kind "provided"')
    email = spec.get("email") or {}
    if email.get("relay") is not None:
        if not RELAY_HOST.match(str(email["relay"])):
            b.problem(("alerts", "email", "relay"), f"{email['relay']!r} is not a host name or address",
                      "e.g. 127.0.0.1 (DSM's own relay) or smtp.example.com")
        for key, values in (("from", [email.get("from")]), ("to", email.get("to") or [])):
            for value in values:
                if not MAIL_ADDRESS.match(str(value)):
                    b.problem(("alerts", "email", key), f"{str(value)[:60]!r} is not a plain mail address",
                              "name@example.com (no display name, no line break)")
        if not email.get("to"):
            b.problem(("alerts", "email", "to"), "a relay and nobody to write to", "at least one address")
        if not isinstance(email.get("port"), int) or not 1 <= email["port"] <= 65535:
            b.problem(("alerts", "email", "port"), f"{email.get('port')!r} is not a TCP port", "25, 465 or 587")
        if email.get("user") is not None:
            if not re.fullmatch(r"[A-Za-z0-9._@+-]{1,128}", str(email["user"])):
                b.problem(("alerts", "email", "user"), f"{email['user']!r} is not a plain login name",
                          "letters, digits and . _ @ + -")
            secret = catalog.secrets.get(email.get("password_secret"))
            if secret is None or secret["kind"] == "rsa_keypair":
                b.problem(("alerts", "email", "password_secret"), f"{email.get('password_secret')!r} is not a "
                          "password secret", 'declare it under `secrets` as {"kind": "provided"}')


def monitoring(catalog: Catalog, b: Draft) -> None:
    """The status page: on a hostname the edge serves, a path no route takes, a plain user name
    (it reaches the basic auth file) and a password secret."""
    spec = b.raw["monitoring"]
    if not spec.get("enabled"):
        return
    host = spec.get("host")
    path = STATUS_PATH
    if host not in b.raw["hostnames"]:
        b.problem(("monitoring", "host"), f"{host!r} is not a key of `hostnames`",
                  f"one of {', '.join(sorted(map(str, b.raw['hostnames'])))}")
    elif not any(r.host_key == host for r in catalog.routes):
        b.problem(("monitoring", "host"), f"no route serves hostname {host!r}: the edge has no server for it",
                  "a hostname with at least one route, e.g. main")
    for name, route in b.raw["routes"].items():
        if not route or route.get("host") != host:
            continue
        prefix = str(route.get("path", "")).rstrip("/")
        if prefix == path or prefix.startswith(path + "/"):
            b.problem(("routes", str(name), "path"), f"{route.get('path')!r} on hostname {host!r} is the status "
                      f"page's path ({path})", "another path, or move the page: monitoring.host, or "
                      "monitoring.enabled False")
    if not isinstance(spec.get("user"), str) or not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", spec["user"]):
        b.problem(("monitoring", "user"), f"{spec.get('user')!r} is not a plain user name",
                  "lowercase letters, digits, '_' and '-' (no ':', it goes into the basic auth file)")
    secret = catalog.secrets.get(spec.get("password_secret"))
    if secret is None or secret["kind"] == "rsa_keypair":
        b.problem(("monitoring", "password_secret"), f"{spec.get('password_secret')!r} is not a password secret",
                  "a secret of kind password (generated) or provided")
    elif secret["kind"] == "password" and secret["length"] < 20:
        b.problem(("secrets", spec["password_secret"], "length"), f"{secret['length']} characters guard a page "
                  "on the internet", "20 or more (default 32)")
    recent = spec.get("recent_alerts")
    if not isinstance(recent, int) or isinstance(recent, bool) or not 0 <= recent <= 200:
        b.problem(("monitoring", "recent_alerts"), f"{recent!r} is not a number of alerts", "0 to 200")


def killbill_tenant(catalog: Catalog, b: Draft) -> None:
    """Kill Bill's tenant: a service with a route (the edge reaches its API), plain words for
    what reaches a JSON body and a curl config, password secrets for what authenticates."""
    spec = b.raw["killbill_tenant"]
    if not spec.get("enabled"):
        return
    if spec.get("service") not in b.enabled_raw():
        known = spec.get("service") in b.all_raw()
        b.problem(("killbill_tenant", "service"), f"{str(spec.get('service'))[:60]!r} is "
                  + ("disabled: no tenant would be made, and nothing would say so" if known else
                     "not a service of the catalog"),
                  "name the enabled Kill Bill service (killbill), or set killbill_tenant.enabled False",
                  because=(("services", str(spec.get("service")), "enabled"), ("killbill_tenant", "enabled")))
        return
    if not catalog.services.get(spec["service"]) or not catalog.services[spec["service"]].routes:
        b.problem(("killbill_tenant", "service"), f"{spec['service']!r} has no route: the deploy reaches its API "
                  "through the edge", "a route to it (e.g. /billing), or killbill_tenant.enabled False")
    for key, pattern, hint in (("external_key", r"[A-Za-z0-9_.-]{1,128}", "letters, digits, '.', '_' and '-'"),
                               ("api_key", r"[A-Za-z0-9_.-]{1,128}", "letters, digits, '.', '_' and '-' (it goes into a URL)"),
                               ("admin_user", r"[A-Za-z0-9_.@-]{1,64}", "a Kill Bill user name (no ':')")):
        if not isinstance(spec.get(key), str) or not re.fullmatch(pattern, spec[key]):
            b.problem(("killbill_tenant", key), f"{str(spec.get(key))[:60]!r} is not a plain word", hint)
    for key in ("api_secret_secret", "admin_password_secret"):
        secret = catalog.secrets.get(spec.get(key))
        if secret is None or secret["kind"] == "rsa_keypair":
            b.problem(("killbill_tenant", key), f"{spec.get(key)!r} is not a password secret",
                      "a secret of kind password (generated) or provided")
    kaui = spec.get("kaui_service")
    if kaui is not None and (not isinstance(kaui, str) or kaui not in b.all_raw()):
        b.problem(("killbill_tenant", "kaui_service"), f"{str(kaui)[:60]!r} is not a service of the catalog",
                  "the Kaui service's name (kaui), or None to leave Kaui alone")
    elif kaui in b.enabled_raw() and catalog.tenant and catalog.tenant_kaui is None:
        b.problem(("killbill_tenant", "kaui_service"), f"{kaui!r} has no route at / on a hostname: the release "
                  "signs in to it through the edge, and Kaui cannot live under a path prefix",
                  f"a route {{'host': 'kaui', 'path': '/', 'service': {kaui!r}}}, or kaui_service None")


def housekeeping(catalog: Catalog, b: Draft) -> None:
    """Disk hygiene bounds: releases enough to roll back to, logs rotated but not to nothing."""
    spec = b.raw["housekeeping"]
    bounds = {"keep_releases": (2, 1000, "at least 2: the current release and one to roll back to"),
              "log_max_kib": (16, 1048576, "16 KiB to 1 GiB; 1024 keeps a month of health task output"),
              "log_keep": (1, 100, "1 to 100")}
    for key, (low, high, hint) in bounds.items():
        value = spec.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            b.problem(("housekeeping", key), f"{value!r} is out of bounds", hint)


DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"


def kubernetes(catalog: Catalog, b: Draft) -> None:
    """Engine kubernetes: names the API accepts, sizes it reads, replicas only where no volume
    pins a pod, and a tunnel of the stack's own (the shared one is the NAS's other site's)."""
    if catalog.engine != "kubernetes":
        return
    spec = b.raw["kubernetes"]
    namespace = spec.get("namespace") or catalog.project_name
    if not isinstance(namespace, str) or not re.fullmatch(DNS_LABEL, namespace):
        b.problem(("kubernetes", "namespace"), f"{str(namespace)[:70]!r} is not a Kubernetes namespace",
                  "lowercase letters, digits and '-', at most 63 (None takes project_name)")
    checks = (("version", r"1\.\d{1,2}\.\d{1,2}", "a Kubernetes version such as 1.34.0"),
              ("volume_size", r"[1-9]\d{0,5}(Mi|Gi|Ti)", "a size such as 10Gi"),
              ("ingress_class", DNS_LABEL, "the IngressClass's name (nginx)"),
              ("ingress_namespace", DNS_LABEL, "the ingress controller's namespace (ingress-nginx)"),
              ("ingress_origin", r"https?://[A-Za-z0-9.-]+(:\d{1,5})?/?", "the controller's Service URL"))
    for key, pattern, hint in checks:
        if not isinstance(spec.get(key), str) or not re.fullmatch(pattern, spec[key]):
            b.problem(("kubernetes", key), f"{str(spec.get(key))[:70]!r} is not valid here", hint)
    for key in ("storage_class", "registry"):
        value = spec.get(key)
        if value is not None and (not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,200}", value)):
            b.problem(("kubernetes", key), f"{str(value)[:70]!r} is not valid here", "a plain name, or None")
    for name, count in (spec.get("replicas") or {}).items():
        service = catalog.services.get(name)
        if service is None:
            b.problem(("kubernetes", "replicas", name), "is not an enabled service", "a service's name")
        elif any(not dst.endswith(":ro") for dst in service.volumes.values()):
            b.problem(("kubernetes", "replicas", name), f"{name} keeps data in a volume: it runs once (a StatefulSet)",
                      "drop it from replicas")
        elif not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 50:
            b.problem(("kubernetes", "replicas", name), f"{count!r} is not a number of replicas", "1 to 50")
    for name in catalog.services:
        if not re.fullmatch(DNS_LABEL, name):
            b.problem(("services", name), "is not a Kubernetes object name", "lowercase letters, digits and '-'")
    if catalog.tunnel["mode"] == "shared" and "cloudflared" in b.enabled_raw():
        b.problem(("tunnel", "mode"), "shared is the NAS's other site's cloudflared: a cluster runs its own",
                  "local (a credentials file) or remote (a token)")


# What `docker stack deploy` (Debian's 20.10) does not carry to a service: refused, not dropped.
SWARM_UNSUPPORTED = {"privileged", "cap_add", "cap_drop", "devices", "pid", "ipc", "uts", "userns_mode", "cgroup",
                     "cgroup_parent", "security_opt", "network_mode", "container_name", "links", "volumes_from",
                     "depends_on", "restart", "mem_limit", "mem_reservation", "cpus", "cpu_shares", "shm_size",
                     "sysctls", "ulimits", "tmpfs_size", "runtime", "scale", "extra_hosts_gateway"}


def swarm(catalog: Catalog, b: Draft) -> None:
    """Engine swarm: a stack `docker stack deploy` runs as the catalog says, or a refusal that
    names the key (deploys/render/swarm.py says why each holds)."""
    if catalog.engine != "swarm":
        return
    spec = b.raw["swarm"]
    if not isinstance(spec.get("data_label"), str) or not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,62}=[A-Za-z0-9._-]{1,63}",
                                                                       spec["data_label"]):
        b.problem(("swarm", "data_label"), f"{str(spec.get('data_label'))[:70]!r} is not a node label",
                  "KEY=VALUE, e.g. marketplace.data=true")
    monitor = spec.get("update_monitor_s")
    if not isinstance(monitor, int) or isinstance(monitor, bool) or not 5 <= monitor <= 600:
        b.problem(("swarm", "update_monitor_s"), f"{monitor!r} is not a number of seconds", "5 to 600")
    for name, count in (spec.get("replicas") or {}).items():
        service = catalog.services.get(name)
        if service is None:
            b.problem(("swarm", "replicas", name), "is not an enabled service", "a service's name")
        elif service.pinned:
            b.problem(("swarm", "replicas", name),
                      f"{name} mounts a folder of the data node ({', '.join(sorted(service.volumes))}): it runs once, there",
                      "drop it from replicas")
        elif not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 20:
            b.problem(("swarm", "replicas", name), f"{count!r} is not a number of replicas", "1 to 20")
    for name, service in catalog.services.items():
        for key in sorted(SWARM_UNSUPPORTED & set(service.compose)):
            b.problem(("services", name, "compose", key), f"`docker stack deploy` does not carry {key} to a service",
                      "drop it for this target, or run the service on engine compose")
        if service.published and not service.public:
            b.problem(("services", name, "host_port"),
                      f"Swarm publishes on every address of the node (no host_ip), not only {catalog.bind_address}",
                      "None (reach it through the edge), or public=True if every address is meant "
                      "(and firewall the nodes)")
        for src, dst in service.volumes.items():
            if src in layout.RENDERED_FOLDERS and not dst.endswith(":ro"):
                b.problem(("services", name, "volumes", src), "a rendered folder becomes Swarm configs, which are read-only",
                          f"mount it read-only: {dst}:ro")
    if catalog.tunnel["mode"] == "shared" and "cloudflared" in b.enabled_raw():
        b.problem(("tunnel", "mode"), "shared is the NAS's other site's cloudflared, a Compose container: a swarm runs its own",
                  "local (a credentials file) or remote (a token)")
    if layout.SCHEDULER in b.all_raw():
        b.problem(("services", layout.SCHEDULER), "is the name of the swarm's own scheduler service (its jobs)",
                  "another name")
    _swarm_jobs(b)


def _swarm_jobs(b: Draft) -> None:
    """No DSM on a swarm: its scheduler service runs the program's commands at DSM's times."""
    defaults = b.raw["dsm_task_defaults"]
    for key, task in b.raw["dsm_tasks"].items():
        spec = {**defaults, **(task or {})}
        if task is None or not spec.get("enabled", True):
            continue
        if spec.get("on") == "bootup":
            b.problem(("dsm_tasks", str(key)), "a swarm starts its services itself when a node boots (their restart "
                      "policy): no boot-up task runs there", f"drop it for this target: dsm_tasks = {{{str(key)!r}: None}}")
        elif spec.get("script") in layout.OPS_SCRIPTS and spec["script"] not in layout.PROGRAM_COMMANDS:
            b.problem(("dsm_tasks", str(key), "script"),
                      f"{spec['script']!r} is a shell script of the NAS; a swarm's scheduler runs the NAS-side program's commands",
                      f"one of: {', '.join(sorted(layout.PROGRAM_COMMANDS))}")
    if b.raw["alerts"].get("dsm_notify"):
        b.problem(("alerts", "dsm_notify"), "a swarm has no DSM to show a desktop notification (synodsmnotify)",
                  "False (and a webhook or mail in alerts)")


# The numbers of the catalog that had no range of their own elsewhere, each with the range that
# makes sense for it and why ("*": any key at that level, e.g. every service). A value outside
# is refused with its range; a None is left to the rules that give it a meaning.
BOUNDS: dict[tuple[str, ...], tuple[float, float, str]] = {
    ("preflight", "min_free_mib", "*"): (0, 16 * 1024 * 1024, "MiB of free space, 0 to 16 TiB"),
    ("preflight", "max_memory_share"): (0.1, 1.0, "the share of the NAS's memory the limits may add up to, "
                                        "0.1 to 1.0 (the other site and DSM need the rest)"),
    ("wait_timeout_s",): (10, 3600, "seconds a release waits for health, 10 to 3600"),
    ("drain_timeout_s",): (1, 600, "seconds a zero-gap release lets the old container's requests finish, 1 to 600"),
    ("port_offset",): (0, 60000, "0 to 60000 (added to every host port)"),
    ("services", "*", "health", "interval_s"): (1, 3600, "seconds between health checks, 1 to 3600"),
    ("services", "*", "health", "timeout_s"): (1, 600, "seconds one health check may take, 1 to 600"),
    ("services", "*", "health", "retries"): (1, 100, "failed checks before unhealthy, 1 to 100"),
    ("services", "*", "health", "start_period_s"): (0, 3600, "seconds of start-up grace, 0 to 3600"),
    ("services", "*", "health", "gate_timeout_s"): (10, 3600, "seconds the release gate waits, 10 to 3600"),
    ("backup", "max_age_hours"): (1, 24 * 31, "hours before a backup counts as too old, 1 to 744"),
    ("tunnel", "shared", "ready_timeout_s"): (5, 600, "seconds the shared tunnel has to be ready, 5 to 600"),
}


def _at(node: Any, path: tuple[str, ...], where: tuple[str, ...] = ()):
    """(key path, value) of every value at a BOUNDS path ("*" matching every key)."""
    if not path:
        yield where, node
        return
    if not isinstance(node, dict):
        return
    keys = node.keys() if path[0] == "*" else [path[0]] if path[0] in node else []
    for key in keys:
        yield from _at(node[key], path[1:], (*where, str(key)))


def bounds(catalog: Catalog, b: Draft) -> None:
    """Every number of BOUNDS lies in its range."""
    data = {**b.raw, "services": b.all_raw()}
    for pattern, (low, high, what) in BOUNDS.items():
        for where, value in _at(data, pattern):
            if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if not low <= value <= high:
                b.problem(where, f"{value!r} is out of range", what)


RULES = [names, roots, paths, powers, values, database_users, redis_users, dsm_tasks, backup, alerts, monitoring, killbill_tenant,
         housekeeping, kubernetes, swarm, bounds]
