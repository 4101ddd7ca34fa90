"""Value macros ({secret:..}, {db:..}, {key:..}, {hostname:..}, {integrations}, {sync_jobs}), expanded for one
service at a time. A macro that names nothing is a problem of the draft, not an exception."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from deploys.catalog.draft import Draft, merge
from deploys.catalog.model import DB_ENGINES, DB_FIELDS, MACRO, sync_jobs
from deploys.layout import KEY_MOUNTS


@dataclass
class Expansion:
    """One service's macros: what they expanded to used (its databases, its key files)."""

    draft: Draft
    service: str
    databases: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)  # "NAME.private" / "NAME.public"

    def expand(self, value: str, where: tuple[str, ...], secret_ok: bool) -> str:
        def one(match: re.Match) -> str:
            kind, ref = match.group(1), match.group(2)
            if match.group(3) == "integrations":
                return json.dumps(self.integrations(), sort_keys=True)
            if match.group(3) == "sync_jobs":
                return ",".join(self.sync_jobs())
            if kind == "db":
                return self.db_field(ref, where, secret_ok)
            if kind == "key":
                return self.key_path(ref, where)
            if kind == "tenant":  # a clear field of killbill_tenant (its secrets go through {secret:})
                if ref not in ("api_key", "external_key", "admin_user"):
                    self.draft.problem(where, f"{{tenant:{ref}}} is not a field",
                                       "{tenant:api_key}, {tenant:external_key} or {tenant:admin_user}")
                return str(self.draft.raw["killbill_tenant"].get(ref, ""))
            if kind == "hostname":
                if ref not in self.draft.raw["hostnames"]:
                    self.draft.problem(where, f"unknown hostname key {ref!r}")
                return self.draft.raw["hostnames"].get(ref, "")
            if not secret_ok:
                self.draft.problem(where, "a {secret:...} belongs in secret_env, not env")
            return match.group(0)

        return MACRO.sub(one, str(value))

    def db_field(self, ref: str, where: tuple[str, ...], secret_ok: bool) -> str:
        name, _, fld = ref.partition(".")
        db = self.draft.raw["databases"].get(name)
        if db is None:
            self.draft.problem(where, f"unknown database {name!r}",
                               f"one of: {', '.join(self.draft.raw['databases'])}")
            return ""
        self.databases.add(name)
        engine = DB_ENGINES[db["engine"]]
        values = {"host": db["service"], "port": str(engine["port"]), "name": name, "user": db["user"],
                  "password": "{secret:" + f"db_{name}_password" + "}"}
        values.update({k: v.format(**values) for k, v in engine.items() if k in DB_FIELDS and k != "port"})
        if fld not in values:
            self.draft.problem(where, f"database field {fld!r} does not exist for {db['engine']}",
                               f"one of: {', '.join(sorted(values))}")
            return ""
        if fld in ("password", "url") and not secret_ok:
            self.draft.problem(where, f"{{db:{ref}}} holds a password: it belongs in secret_env, not env")
        return values[fld]

    def key_path(self, ref: str, where: tuple[str, ...]) -> str:
        name, _, part = ref.partition(".")
        spec = self.draft.raw["secrets"].get(name)
        if spec is None or merge(self.draft.raw["secret_defaults"], spec)["kind"] != "rsa_keypair":
            self.draft.problem(where, f"{{key:{ref}}}: {name!r} is not a declared rsa_keypair secret",
                               "declare it under `secrets` with kind='rsa_keypair'")
            return ""
        if part not in KEY_MOUNTS:
            self.draft.problem(where, f"{{key:{ref}}}: expected {name}.private or {name}.public")
            return ""
        self.keys.add(f"{name}.{part}")
        _, mount, filename = KEY_MOUNTS[part]
        return f"{mount}/{filename.format(name=name)}"

    def sync_jobs(self) -> list[str]:
        """The integration sync jobs DSM runs (see model.sync_jobs)."""
        defaults = self.draft.raw["dsm_task_defaults"]
        return sync_jobs({k: {**defaults, **t} for k, t in self.draft.raw["dsm_tasks"].items() if t})

    def integrations(self) -> dict[str, str]:
        """Every other enabled service's internal health URL."""
        found = {}
        for name, svc in self.draft.enabled_raw().items():
            http = (svc.get("health") or {}).get("http")
            if name != self.service and http and svc.get("port"):
                found[name] = f"http://{name}:{svc['port']}{http['path']}"
        return found
