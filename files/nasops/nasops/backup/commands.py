"""`nasops backup run|dump|verify|restore|prune|list|age|show|offsite-restore|offsite-key`:
what scripts/backup.sh runs (DSM's nightly task, `make backup`, `make restore`, a release's
pre-release dump), from the stack description's `backup` section.

Progress goes to stdout as `backup: ...` lines, refusals and failures to stderr; `dump` prints
the new backup's id last, `run` the manifest."""

from __future__ import annotations

import secrets
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from nasops import channels, clock, dockerexec, gate, service_env
from nasops.backup import config_part, counts, engines, retention
from nasops.backup.engines import Box
from nasops.backup.offsite import Offsite
from nasops.backup.store import Refused, Store, disk_usage_kib, replace
from nasops.backup.swarm_scale import SwarmServices
from nasops.backup.throwaway import Throwaways, put_file
from nasops.engine import ONEOFF_LABEL, Engine
from nasops.probe import Prober

THROWAWAY_SERVERS = ("postgres", "mysql", "mongodb")
READY_S = {"postgres": 120, "mysql": 180, "mongodb": 120, "redis": 60}


def seconds_since(t0: float) -> str:
    """"4.2": tenths of a second, as the records and `make bench` read them."""
    return f"{time.monotonic() - t0:.1f}"


class Backups:
    def __init__(self, stack, client, out=sys.stdout, err=sys.stderr, send_event=channels.send_event):
        self.stack = stack
        self.client = client
        self.api = client.api
        self.b = stack.backup
        self.store = Store(self.b["dir"])
        self.out, self.err = out, err
        self.send_event = send_event
        self.databases = {db["name"]: db for db in self.b["databases"]}
        self.throwaways = Throwaways(client, stack)
        self.verify_password = secrets.token_hex(24)
        self._said = threading.Lock()
        self._finding = threading.Lock()  # the dumps run in parallel: each server looked up once
        self._live: dict[str, str] | None = None
        self._boxes: dict[str, Box] = {}
        self.swarm = SwarmServices(client, stack) if stack.engine == "swarm" else None

    # -- output and records --

    def say(self, text: str) -> None:
        with self._said:
            self.out.write(f"backup: {text}\n")
            self.out.flush()

    def audit(self, text: str) -> None:
        self.stack.audit(text)

    def alert(self, title: str, body: str) -> None:
        try:
            self.send_event(self.stack, title, body)
        except Exception as e:  # noqa: BLE001 - an alert never fails the backup
            self.err.write(f"backup: the alert could not be sent ({e})\n")

    # -- the live servers --

    def live(self) -> dict[str, str]:
        """service -> its running container's id (the stack's containers on this engine)."""
        if self._live is None:
            label = self.stack.labels["service"]
            found = {}
            for c in self.client.containers.list(filters={"label": f"{self.stack.labels['project']}={self.stack.project}"}):
                labels = c.attrs.get("Config", {}).get("Labels") or {}
                if labels.get(label) and labels.get(ONEOFF_LABEL) != "True":
                    found.setdefault(labels[label], c.id)
            self._live = found
        return self._live

    def box(self, service: str) -> Box:
        """The live server of `service`, with what its tools need to log in."""
        with self._finding:
            if service not in self._boxes:
                self._boxes[service] = self._find_box(service)
            return self._boxes[service]

    def _find_box(self, service: str) -> Box:
        cid = self.live().get(service)
        if not cid:
            raise Refused(f"no running container of {service}")
        # the server's own secret env, which an exec on a swarm does not inherit (REDISCLI_AUTH, say)
        secret = service_env.exec_env(self.stack, service)
        box = Box(self.api, cid, service, env=dict(secret), redis_cli=("redis-cli", "--no-auth-warning", "--user", "admin"))
        engine_names = {db["engine"] for db in self.databases.values() if db["service"] == service}
        if "mysql" in engine_names:
            box.env["MYSQL_PWD"] = self._mysql_root(box)
        if "mongodb" in engine_names:
            env = dict(e.split("=", 1) for e in self.client.containers.get(cid).attrs["Config"].get("Env") or [] if "=" in e)
            env.update(secret)
            box.mongo_user = env.get("MONGO_INITDB_ROOT_USERNAME", "")
            box.mongo_password = env.get("MONGO_INITDB_ROOT_PASSWORD", "")
        return box

    def _mysql_root(self, box: Box) -> str:
        """Root's password: a rotation's pending value first, as ensure_databases.sh does."""
        secret = (self.b["servers"].get(box.service) or {}).get("admin_password_file")
        for path in ([self.stack.file(secret + ".next"), self.stack.file(secret)] if secret else []):
            try:
                password = path.read_text().strip()
            except OSError:
                continue
            if password and engines.mysql_accepts(box, password):
                return password
        raise Refused(f"no root password of {box.service} is accepted")

    def image_of(self, service: str) -> str:
        cid = self.live().get(service)
        if not cid:
            raise Refused(f"no container of {service} to take the image from")
        return self.client.containers.get(cid).attrs["Image"]

    # -- dump --

    def dump(self, kind: str = "manual", before_release: str = "", names: list[str] | None = None) -> str:
        unknown = [n for n in names or [] if n not in self.databases]
        if unknown:
            raise Refused(f"{' '.join(unknown)} is not a database of the catalog ({' '.join(self.databases)})")
        full = not names
        names = list(self.databases) if full else list(dict.fromkeys(names))
        epoch = clock.now()
        t0 = time.monotonic()
        backup_id = self.store.new()
        folder = self.store.dir(backup_id)
        self.store.set_status(backup_id, "dumping")
        self.say(f"{backup_id}: backing up {' '.join(names)}")
        jobs, redis_done = [], set()
        for name in names:
            db = self.databases[name]
            if db["engine"] == "redis":
                if db["service"] in redis_done:
                    continue  # its users share one keyspace: one RDB
                redis_done.add(db["service"])
            jobs.append(db)
        parts, skipped, failed = [], [], []
        with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
            futures = [(db, pool.submit(self._dump_one, folder, db)) for db in jobs]
            for db, future in futures:
                label = db["service"] if db["engine"] == "redis" else db["name"]
                try:
                    part, why = future.result()
                except (dockerexec.ExecError, Refused, OSError) as e:
                    self.err.write(f"backup: the dump of {label} failed: {e}\n")
                    failed.append(label)
                    continue
                if part:
                    parts.append(part)
                else:
                    skipped.append({"engine": db["engine"], "database": db["name"], "why": why})
                    self.say(f"{db['name']} ({db['engine']}) NOT backed up: {why}")
        if failed:
            what = " ".join(failed)
            self.store.set_status(backup_id, f"failed: dump of {what}")
            self.audit(f"backup {backup_id} FAILED: the dump of {what}")
            self.alert(f"backup {backup_id} FAILED: the dump of {what}", f"the dump of {what} failed; see logs/tasks/backup.log")
            raise Refused(f"{backup_id}: the dump of {what} failed (see above)")
        parts.sort(key=lambda p: p["database"].encode())
        release = self._current_release()
        if full:
            parts.append(self._dump_config(folder, release))
        self.store.write_manifest(backup_id, {
            "id": backup_id, "kind": kind, "time": clock.iso(epoch), "epoch": epoch, "target": self.stack.target,
            "project": self.stack.project, "release": release, "before_release": before_release, "full": full,
            "databases": names, "seconds": clock.now() - epoch, "parts": parts, "skipped": skipped})
        self.store.set_status(backup_id, "unverified")
        self.say(f"{backup_id}: dumped in {seconds_since(t0)} s")
        return backup_id

    def _current_release(self) -> str:
        try:
            return (self.stack.path("releases") / "current").read_text().strip()
        except OSError:
            return ""

    def _dump_one(self, folder: Path, db: dict) -> tuple[dict | None, str]:
        """One database (a Redis server: its RDB) into its part, counted before and after."""
        engine, svc = db["engine"], db["service"]
        name = svc if engine == "redis" else db["name"]
        box = self.box(svc)
        if engine == "mongodb" and not engines.mongo_has_dump(box):
            return None, f"the image of {svc} has no mongodump"
        count = {"postgres": lambda: engines.pg_counts(box, name), "mysql": lambda: engines.mysql_counts(box, name),
                 "mongodb": lambda: engines.mongo_counts(box, name), "redis": lambda: engines.redis_counts(box)}[engine]
        dump = {"postgres": engines.pg_dump, "mysql": engines.mysql_dump, "mongodb": engines.mongo_dump}
        tool = {"postgres": engines.pg_tool, "mysql": engines.mysql_tool, "mongodb": engines.mongo_tool,
                "redis": engines.redis_tool}[engine]
        part = engines.part_name(engine, name)
        (folder / part).parent.mkdir(mode=0o700, exist_ok=True)
        before = count()
        (folder / "counts" / f"{engine}-{name}.before").write_text(before)
        with open(folder / part, "wb") as f:
            if engine == "redis":
                engines.redis_dump(box, f)
            else:
                dump[engine](box, name, f)
        (folder / "counts" / f"{engine}-{name}.after").write_text(count())
        tables, rows = counts.totals(before)
        size = (folder / part).stat().st_size
        self.say(f"{name} ({engine}): {part}, {size} bytes, {tables} tables, {rows} rows")
        return {"part": part, "engine": engine, "database": name, "service": svc, "size": size,
                "sha256": config_part.sha256_file(folder / part), "tool": tool(box), "tables": tables, "rows": rows}, ""

    def _passphrase(self) -> Path | None:
        return self.stack.file(self.b["passphrase_file"]) if self.b["passphrase_file"] else None

    def _dump_config(self, folder: Path, release: str) -> dict:
        passphrase = self._passphrase()
        if passphrase and not (passphrase.is_file() and passphrase.stat().st_size):
            raise Refused(f"the backup passphrase ({self.b['passphrase_file']}) is missing: run a deploy first")
        files = config_part.files_to_keep(self.stack.root, self.stack.paths, release)
        part = config_part.make(self.stack.root, folder, files, passphrase, release)
        self.say(f"secrets and configuration: {part['part']}, {part['size']} bytes{', encrypted' if passphrase else ''}")
        return part

    # -- verify --

    def check_sums(self, backup_id: str) -> list[str]:
        """Every part as written (a changed byte fails here, before any restore): what differs."""
        manifest = self.store.manifest(backup_id) or {}
        bad = []
        for part in manifest.get("parts", []):
            path = self.store.dir(backup_id) / part["part"]
            if not path.is_file():
                bad.append(f"  {part['part']}: missing")
            elif config_part.sha256_file(path) != part["sha256"]:
                bad.append(f"  {part['part']}: its SHA-256 is not the manifest's (changed on disk)")
        return bad

    def start_throwaway(self, service: str, engine: str) -> Box:
        """The running throwaway server of `service` (made once per run)."""
        pw = self.verify_password
        env = {"postgres": {"POSTGRES_PASSWORD": pw}, "mysql": {"MYSQL_ROOT_PASSWORD": pw},
               "mongodb": {"MONGO_INITDB_ROOT_USERNAME": "root", "MONGO_INITDB_ROOT_PASSWORD": pw}}[engine]
        container = self.throwaways.running(service)
        if container is None:
            container = self.throwaways.create(service, self.image_of(service), env)
            container.start()
        box = Box(self.api, container.id, service)
        if engine == "mysql":
            box.env = {"MYSQL_PWD": pw}
        if engine == "mongodb":
            box.mongo_user, box.mongo_password = "root", pw
        return box

    def prestart_throwaways(self) -> None:
        """The throwaway servers of PostgreSQL and MySQL, starting while the dump runs."""
        for svc in sorted({db["service"] for db in self.databases.values() if db["engine"] in ("postgres", "mysql")}):
            engine = next(db["engine"] for db in self.databases.values() if db["service"] == svc)
            try:
                self.start_throwaway(svc, engine)
            except Exception:  # noqa: BLE001 - the verification starts it again, and says why not
                pass

    def _verify_server(self, backup_id: str, engine: str, service: str, parts: list[dict]) -> tuple[list[str], list[str]]:
        folder = self.store.dir(backup_id)
        log, failed = [], []
        ready = {"postgres": engines.pg_ready, "mysql": engines.mysql_ready, "mongodb": engines.mongo_ready}[engine]
        try:
            box = self.start_throwaway(service, engine)
            up = engines.wait_until(lambda: ready(box), READY_S[engine])
        except Exception as e:  # noqa: BLE001
            box, up = None, False
            log.append(f"  {e}")
        if not up:
            log.append(f"{engine} on {service}: the throwaway server did not start")
            log += self._throwaway_log(service)
            return log, [service]
        for part in parts:
            db = part["database"]
            log.append(f"{engine} {db} ({part['part']}):")
            try:
                {"postgres": engines.pg_load, "mysql": engines.mysql_load, "mongodb": engines.mongo_load}[engine](
                    box, db, folder / part["part"])
                restored = {"postgres": engines.pg_counts, "mysql": engines.mysql_counts,
                            "mongodb": engines.mongo_counts}[engine](box, db)
            except dockerexec.ExecError as e:
                log.append(f"  {e}")
                failed.append(db)
                continue
            ok, lines = self._compare(folder, engine, db, restored)
            log += lines
            if not ok:
                failed.append(db)
        return log, failed

    def _throwaway_log(self, service: str) -> list[str]:
        try:
            tail = self.client.containers.get(self.throwaways.name(service)).logs(tail=5)
            return tail.decode(errors="replace").splitlines()
        except Exception:  # noqa: BLE001
            return []

    def _compare(self, folder: Path, engine: str, name: str, restored: str) -> tuple[bool, list[str]]:
        base = folder / "counts" / f"{engine}-{name}"
        (base.parent / f"{base.name}.restored").write_text(restored)
        return counts.compare((base.parent / f"{base.name}.before").read_text(),
                              (base.parent / f"{base.name}.after").read_text(), restored)

    def _verify_redis(self, backup_id: str, part: dict) -> tuple[list[str], list[str]]:
        folder, svc = self.store.dir(backup_id), part["database"]
        log = [f"redis {svc} ({part['part']}):"]
        try:
            container = self.throwaways.create(svc, self.image_of(svc),
                                               command=["redis-server", "--dir", "/data", "--appendonly", "no", "--save", ""])
            put_file(container, folder / part["part"], "/data", "dump.rdb")
            container.start()
            box = Box(self.api, container.id, svc)
            if not engines.wait_until(lambda: engines.redis_ready(box), READY_S["redis"]):
                return log + ["  the throwaway Redis did not load the RDB"] + self._throwaway_log(svc), [svc]
            ok, lines = self._compare(folder, "redis", svc, engines.redis_counts(box))
        except (dockerexec.ExecError, Refused, OSError) as e:
            return log + [f"  {e}"], [svc]
        return log + lines, [] if ok else [svc]

    def verify(self, backup_id: str) -> bool:
        """Restore every part into throwaway containers and compare with the source (the servers
        in parallel, their logs joined in order into verify.log)."""
        manifest = self.store.manifest(backup_id)
        if manifest is None:
            raise Refused(f"no backup {backup_id} in {self.store.root}")
        t0 = time.monotonic()
        self.store.set_status(backup_id, "verifying")
        log = [f"verification of {backup_id}, {clock.iso(clock.now())}", "checksums:"]
        bad = self.check_sums(backup_id)
        failed: list[str] = []
        if bad:
            log += bad
            failed = ["checksums"]
        else:
            log.append("  every part as written")
            parts = manifest.get("parts", [])
            jobs, config_log = [], []
            with ThreadPoolExecutor(max_workers=8) as pool:
                for engine in THROWAWAY_SERVERS:
                    mine = [p for p in parts if p["engine"] == engine]
                    for svc in sorted({self._server_of(p) for p in mine}, key=str.encode):
                        jobs.append(pool.submit(self._verify_server, backup_id, engine, svc,
                                                [p for p in mine if self._server_of(p) == svc]))
                for part in (p for p in parts if p["engine"] == "redis"):
                    jobs.append(pool.submit(self._verify_redis, backup_id, part))
                for part in (p for p in parts if p["engine"] == "config"):
                    ok, lines = config_part.verify(self.store.dir(backup_id) / part["part"], self._passphrase(),
                                                   part["content_sha256"])
                    config_log += [f"secrets and configuration ({part['part']}):", *lines]
                    if not ok:
                        failed.append("config")
                for job in jobs:
                    lines, names = job.result()
                    log += lines
                    failed += names
            log += config_log
            failed = sorted(set(failed), key=str.encode)
        self.throwaways.cleanup()
        text = "".join(f"{line}\n" for line in log)
        (self.store.dir(backup_id) / "verify.log").write_text(text)
        for line in log:
            self.say(line)
        if failed:
            names = " ".join(failed)
            self.store.set_status(backup_id, f"failed: {names}")
            self.audit(f"backup {backup_id} FAILED its verification: {names}")
            self.alert(f"backup {backup_id} FAILED its verification ({names})", text)
            self.err.write(f"backup: {backup_id} FAILED its verification ({names}); "
                           f"the last good backup is still {self.store.last_verified() or 'none'}\n")
            return False
        took = seconds_since(t0)
        self.store.set_status(backup_id, "verified")
        replace(self.store.dir(backup_id) / "verified", f"{backup_id} {took}\n")
        if backup_id > (self.store.last_verified() or "0"):
            self.store.set_last_verified(backup_id, int(manifest.get("epoch") or clock.now()))
        self.audit(f"backup {backup_id} verified")
        self.say(f"{backup_id} verified in {took} s (restored into throwaway containers, every count matches)")
        return True

    def _server_of(self, part: dict) -> str:
        db = self.databases.get(part["database"])
        return db["service"] if db else part.get("service", part["database"])

    # -- retention --

    def prune(self) -> None:
        keep = self.b["keep"]
        held = []
        for backup_id in self.store.ids():
            manifest = self.store.manifest(backup_id)
            held.append(retention.Held(backup_id, self.store.status(backup_id),
                                       bool(manifest and manifest.get("full") is True), manifest is not None))
        kept = retention.keep_set(held, self.store.last_verified(), keep["daily"], keep["weekly"], keep["partial"])
        pruned = 0
        for b in held:
            if b.id in kept or self.store.status(b.id) == "verifying":
                continue
            shutil.rmtree(self.store.dir(b.id))
            pruned += 1
            self.say(f"pruned {b.id}")
            self.audit(f"backup {b.id} pruned (retention: {keep['daily']} daily, {keep['weekly']} weekly, "
                       f"{keep['partial']} partial)")
        self.say(f"retention kept {len(kept)} backup(s), pruned {pruned}")

    # -- off the NAS --

    def offsite(self) -> Offsite:
        if not self.b["offsite"]:
            raise Refused("no off-NAS copy is configured (backup.offsite.repository)", code=2)
        return Offsite(self.client, self.stack, self.b["offsite"])

    def offsite_push(self, backup_id: str) -> bool:
        if not self.b["offsite"]:
            return True
        off = self.offsite()
        try:
            snapshot = off.push(backup_id, self.b["keep"], self.say)
        except OSError as e:
            self.err.write(f"backup: {e}\n")
            return False
        self.audit(f"backup {backup_id} copied off the NAS: restic snapshot {snapshot} in {off.repository}")
        self.say(f"offsite: {backup_id} is restic snapshot {snapshot[:8]} in {off.repository}")
        return True

    def offsite_restore(self, backup_id: str) -> None:
        off = self.offsite()
        if self.store.dir(backup_id).exists():
            raise Refused(f"{backup_id} is here already: nothing to bring back")
        try:
            landed = off.bring_back(backup_id)
        except OSError as e:
            raise Refused(str(e)) from None
        landed.rename(self.store.dir(backup_id))
        shutil.rmtree(self.store.root / ".offsite-restore", ignore_errors=True)
        if self.check_sums(backup_id):
            raise Refused(f"{backup_id} came back damaged from {off.repository}")
        self.audit(f"backup {backup_id} brought back from {off.repository}")
        self.say(f"brought {backup_id} back from {off.repository}; every part matches its checksum "
                 f"(make restore BACKUP={backup_id})")

    # -- restore --

    def restore_plan(self, backup_id: str, only: list[str]) -> tuple[list[str], list[str], list[str]]:
        """(what to restore: database names and `redis:SERVICE`, the services to stop, the Redis
        servers to stop), or a refusal before anything is touched."""
        manifest = self.store.manifest(backup_id)
        if manifest is None:
            raise Refused(f"no backup {backup_id} in {self.store.root} (make backups lists them)")
        status = self.store.status(backup_id)
        if status.startswith("failed"):
            raise Refused(f"backup {backup_id} failed its verification ({status}): not restoring it")
        if status in retention.UNDER_WAY:
            raise Refused(f"backup {backup_id} is not complete")
        parts = manifest.get("parts", [])
        if only:
            wanted = []
            for name in only:
                db = self.databases.get(name)
                if not db:
                    raise Refused(f"{name} is not a database of the catalog ({' '.join(self.databases)})")
                if db["engine"] == "redis":
                    raise Refused(f"{name} is a user of the Redis server {db['service']}, which keeps one keyspace for "
                                  "all of them: restore the whole backup (no ONLY) to restore Redis")
                if not any(p["engine"] == db["engine"] and p["database"] == name for p in parts):
                    have = " ".join(p["database"] for p in parts if p["engine"] == db["engine"])
                    raise Refused(f"backup {backup_id} has no part for {name} ({have})")
                wanted.append(name)
        else:
            wanted = [p["database"] for e in THROWAWAY_SERVERS for p in parts if p["engine"] == e]
            wanted += [f"redis:{p['database']}" for p in parts if p["engine"] == "redis"]
        if not wanted:
            raise Refused(f"backup {backup_id} holds no database to restore")
        users, servers = set(), []
        for name in wanted:
            if name.startswith("redis:"):
                servers.append(name.split(":", 1)[1])
                users |= set(self.b["redis_users"])
            else:
                users |= set(self.databases[name]["users"])
        return wanted, sorted(users, key=str.encode), servers

    def restore(self, backup_id: str, only: list[str], gate_run=gate.run) -> None:
        wanted, users, servers = self.restore_plan(backup_id, only)
        self.say(f"checking the parts of {backup_id}")
        bad = self.check_sums(backup_id)
        if bad:
            for line in bad:
                self.err.write(line + "\n")
            raise Refused(f"backup {backup_id} is damaged (see above): not restoring it")
        stopping = " ".join(users) or "nothing"
        self.say(f"restoring {' '.join(wanted)} from {backup_id}; stopping while it runs: {stopping}"
                 f"{' and ' + ' '.join(servers) if servers else ''}")
        plain = [n for n in wanted if not n.startswith("redis:")]
        pre = ""
        if plain:  # the current state of the same databases first: this restore can be undone
            pre = self.dump("pre-restore", "", plain)
            self.audit(f"backup {pre}: the state before restoring {backup_id}")
            self.say(f"the state before this restore is backup {pre} (make restore BACKUP={pre} undoes it)")
        t0 = time.monotonic()
        stopped = self.stop(users)
        t_data = time.monotonic()
        current = ""
        try:
            for name in wanted:
                current = name
                if name.startswith("redis:"):
                    self._restore_redis(backup_id, name.split(":", 1)[1], stopped)
                else:
                    self._restore_database(backup_id, name)
        except (dockerexec.ExecError, Refused, OSError) as e:
            self.err.write(f"backup: {e}\n")
            self.err.write(f"backup: restoring {backup_id} FAILED at {current} (see above); "
                           f"{f'the state before it is backup {pre} (make restore BACKUP={pre}); ' if pre else ''}"
                           "starting the stopped services again\n")
            self.audit(f"backup {backup_id} restore FAILED at {current}{f' (state before: {pre})' if pre else ''}")
            self.start(stopped)
            raise Refused("", code=1) from None
        self.say(f"data restored in {seconds_since(t_data)} s")
        self.start(stopped)
        self.wait_healthy(stopped)
        down = seconds_since(t0)
        failed = gate_run(self.stack, Engine(self.client, self.stack), Prober(self.stack.edge_url), self.out, self.err)
        if failed:
            raise Refused(f"restored {backup_id}, but the stack is not healthy (see above)")
        self.audit(f"backup {backup_id} restored ({' '.join(wanted)}); services down {down} s")
        self.say(f"restored {' '.join(wanted)} from {backup_id}; {' '.join(users) or 'no service'} down for {down} s; "
                 "every service healthy")

    def _containers_of(self, services: list[str]) -> list:
        label = self.stack.labels["service"]
        return [c for c in self.client.containers.list(filters={"label": f"{self.stack.labels['project']}={self.stack.project}"})
                if (c.attrs.get("Config", {}).get("Labels") or {}).get(label) in services
                and (c.attrs.get("Config", {}).get("Labels") or {}).get(ONEOFF_LABEL) != "True"]

    def stop(self, services: list[str]) -> list:
        """Stop the services' running containers (each within its own stop timeout, in
        parallel), on a swarm scale them to 0; what was stopped (start() takes it)."""
        if self.swarm:
            return self.swarm.stop(services, self.b["wait_timeout_s"])
        found = self._containers_of(services)
        with ThreadPoolExecutor(max_workers=max(1, len(found))) as pool:
            list(pool.map(lambda c: c.stop(), found))
        return found

    def start(self, containers: list) -> None:
        if self.swarm:
            for line in self.swarm.start(containers):
                self.err.write(f"backup: {line}\n")
            return
        for c in containers:
            try:
                c.start()
            except Exception as e:  # noqa: BLE001 - the others start anyway; the gate says what is wrong
                self.err.write(f"backup: could not start {c.name}: {e}\n")

    def wait_healthy(self, containers: list) -> None:
        """What `compose up --wait` waits for: each running, and healthy where it has a check
        (on a swarm: every replica's task running, which Swarm says once it is healthy)."""
        if self.swarm:
            self.swarm.wait_running(containers, self.b["wait_timeout_s"])
            return
        end = time.monotonic() + self.b["wait_timeout_s"]
        pending = list(containers)
        while pending and time.monotonic() < end:
            still = []
            for c in pending:
                c.reload()
                state = c.attrs.get("State") or {}
                health = (state.get("Health") or {}).get("Status")
                if state.get("Status") in ("exited", "dead") or health == "unhealthy":
                    continue  # the gate reports it
                if state.get("Status") != "running" or health not in (None, "healthy"):
                    still.append(c)
            pending = still
            if pending:
                time.sleep(0.5)

    def _restore_database(self, backup_id: str, name: str) -> None:
        db = self.databases[name]
        engine, folder = db["engine"], self.store.dir(backup_id)
        part = folder / engines.part_name(engine, name)
        box = self.box(db["service"])
        live = folder / "counts" / f"{engine}-{name}.live"
        if engine == "postgres":
            make, swap, tmp = engines.pg_swap_sql(name, db["user"])
            engines.pg_sql(box, make)
            with open(part, "rb") as f:
                box.run(["pg_restore", "-U", "postgres", "-d", tmp, "--exit-on-error"], stdin=f)
            live.write_text(engines.pg_counts(box, tmp))
            verified = folder / "counts" / f"postgres-{name}.restored"
            if verified.is_file() and verified.read_text() != live.read_text():
                raise Refused(f"{name}: the restored rows differ from the verified restore's")
            engines.pg_sql(box, swap)
            self.say(f"{name} (postgres): restored, {counts.totals(live.read_text())[1]} rows")
        elif engine == "mysql":
            engines.mysql_load(box, name, part, fresh=True)
            live.write_text(engines.mysql_counts(box, name))
            self.say(f"{name} (mysql): restored, {counts.totals(live.read_text())[1]} rows")
        elif engine == "mongodb":
            engines.mongo_load(box, name, part, live=True)
            self.say(f"{name} (mongodb): restored")

    def _restore_redis(self, backup_id: str, service: str, stopped: list) -> None:
        """The server stopped (added to `stopped`: started again whatever happens), its RDB the
        base of a new append-only file."""
        data = (self.b["servers"].get(service) or {}).get("data")
        if not data:
            raise Refused(f"no data folder of {service} under the deploy root")
        stopped += self.stop([service])
        kept = engines.redis_restore_files(self.stack.file(data), self.store.dir(backup_id) / f"redis/{service}.rdb", backup_id)
        self.say(f"{service} (redis): restored its RDB; the previous data is in {kept}")

    # -- reading --

    def rows(self) -> list[str]:
        """ID STATUS KIND AGE-S SIZE-KIB RELEASE DATABASES, newest first (tab-separated)."""
        now = clock.now()
        lines = []
        for backup_id in self.store.ids():
            m = self.store.manifest(backup_id) or {}
            epoch = int(m.get("epoch") or now)
            lines.append("\t".join([backup_id, self.store.status(backup_id), str(m.get("kind", "")), str(now - epoch),
                                    str(disk_usage_kib(self.store.dir(backup_id))), str(m.get("release", "")),
                                    ", ".join(m.get("databases", []))]))
        return lines

    def age(self) -> tuple[str, int, bool]:
        """The last verified backup and its age in seconds (or "none" and the stack's age), and
        whether it is within backup.max_age_hours."""
        now = clock.now()
        line = self.store.last_verified_line()
        if line and self.store.dir(line[0]).is_dir():
            backup_id, epoch = line
        else:
            backup_id, epoch = "none", now
            releases = self.stack.path("releases")
            first = sorted(p.name for p in releases.glob("[0-9]*") if p.is_dir()) if releases.is_dir() else []
            if first:
                try:
                    epoch = int((releases / first[0] / "deploy.json").stat().st_mtime)
                except OSError:
                    pass
        return backup_id, now - epoch, now - epoch <= self.b["max_age_hours"] * 3600


def main(stack, args: list[str], client_factory) -> int:
    """The `backup` command's dispatch; every refusal is one `backup: ...` line on stderr."""
    if not args:
        sys.stderr.write("usage: backup run|dump|verify|restore|prune|list|age|show|offsite-restore|offsite-key\n")
        return 2
    cmd, rest = args[0], args[1:]
    backups = Backups(stack, client_factory())
    try:
        return _dispatch(backups, cmd, rest)
    except Refused as e:
        if str(e):
            sys.stderr.write(f"backup: {e}\n")
        return e.code


def _need(rest: list[str], usage: str) -> str:
    if not rest:
        raise Refused(f"usage: backup.sh {usage}", code=2)
    return rest[0]


def _options(rest: list[str]) -> tuple[dict, list[str]]:
    opts, names, i = {"kind": "manual", "release": ""}, [], 0
    while i < len(rest):
        if rest[i] in ("--kind", "--release") and i + 1 < len(rest):
            opts[rest[i][2:]] = rest[i + 1]
            i += 2
        else:
            names.append(rest[i])
            i += 1
    return opts, names


def _dispatch(b: Backups, cmd: str, rest: list[str]) -> int:
    if cmd == "list":
        for line in b.rows():
            print(line)
        return 0
    if cmd == "age":
        backup_id, seconds, fresh = b.age()
        print(f"{backup_id} {seconds}")
        return 0 if fresh else 1
    if cmd == "show":
        backup_id = _need(rest, "show ID")
        path = b.store.dir(backup_id) / "manifest.json"
        if not path.is_file():
            raise Refused(f"no backup {backup_id} in {b.store.root}")
        sys.stdout.write(path.read_text())
        print(f"status: {b.store.status(backup_id)}")
        return 0
    if cmd == "offsite-key":
        ran = b.offsite().public_key()
        sys.stdout.write(ran.out)
        sys.stderr.write(ran.err)
        return ran.rc
    if cmd not in ("run", "dump", "verify", "restore", "prune", "offsite-restore"):
        raise Refused("usage: backup.sh run|dump|verify|restore|prune|list|age|show|offsite-restore|offsite-key", code=2)
    with b.store.lock(b.say):
        b.throwaways.cleanup()  # a killed run's (their password was that run's)
        try:
            if cmd == "run":
                opts, _ = _options(rest)
                b.prestart_throwaways()  # their start-up overlaps the dump
                backup_id = b.dump(opts["kind"])
                rc = 0 if b.verify(backup_id) else 1
                b.prune()
                if rc == 0 and not b.offsite_push(backup_id):
                    rc = 1
                sys.stdout.write((b.store.dir(backup_id) / "manifest.json").read_text())
                return rc
            if cmd == "dump":
                opts, names = _options(rest)
                print(b.dump(opts["kind"], opts["release"], names))
                return 0
            if cmd == "verify":
                return 0 if b.verify(_need(rest, "verify ID")) else 1
            if cmd == "restore":
                b.restore(_need(rest, "restore ID [DB ...]"), rest[1:])
                return 0
            if cmd == "offsite-restore":
                b.offsite_restore(_need(rest, "offsite-restore ID"))
                return 0
            b.prune()
            return 0
        finally:
            b.throwaways.cleanup()
