"""The move of docs/OUTGROW.md ("Moving a NAS onto a swarm"), end to end and as it says: the
NAS-shaped staging target (Compose, over DSM's connection path) holds data; `make backup` takes
a verified backup; a two-node swarm is made from nothing; the NAS is stopped (`make down`), the
backup and the NAS's secrets are copied to the swarm's manager, `make deploy TARGET=swarm` brings
up the empty stack and `make restore TARGET=swarm BACKUP=ID` loads it. Then the swarm holds the
same rows and keys, every route answers through either node, and Kill Bill's tenant answers the
NAS's API key and secret. The downtime an operator sees (from `make down` on the NAS to the
restore's health gate on the swarm) is measured and printed. Afterwards the swarm is taken down
and the NAS's containers start again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from deploys import catalog as catalog_mod
from tests.support.staging import ENV, REPO, psql, secret_values, sh
from tests.support.swarm import MANAGER, NODE2, TwoNodeSwarm

pytestmark = pytest.mark.e2e

def make(target: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(ENV) if target == "staging" else {k: v for k, v in ENV.items() if k not in ("MARKETPLACE_SUDO_PASSWORD",)}
    return subprocess.run(["make", "-s", *args, f"TARGET={target}"], cwd=REPO, env=env, capture_output=True, text=True)


def swarm_container(swarm, service: str) -> str:
    [cid] = sh("docker", "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={swarm.project_name}_{service}").stdout.split()
    return cid


def swarm_table_counts(swarm, database: str) -> str:
    """Every table's rows, counted as the backup counts them (its verification's record)."""
    from nasops.backup import counts

    done = subprocess.run(["docker", "exec", "-i", swarm_container(swarm, "postgres"), "psql", "-v", "ON_ERROR_STOP=1",
                           "-qAtX", "-F", "\t", "-U", "postgres", "-d", database],
                          input=f"{counts.PG_COUNTS}\n\\gexec\n", capture_output=True, text=True, check=True)
    return counts.normalized(done.stdout)


def swarm_psql(swarm, sql: str, database: str) -> str:
    return sh("docker", "exec", swarm_container(swarm, "postgres"), "psql", "-U", "postgres", "-d", database,
              "-tAc", sql).stdout.strip()


def with_secret(name: str, value: str, *argv: str) -> str:
    """argv with the secret in its environment only (`docker exec -e NAME` passes it on)."""
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, name: value}, check=True)
    return done.stdout.strip()


def mysql(container: str, root_password: str, sql: str) -> str:
    return with_secret("MYSQL_PWD", root_password, "docker", "exec", "-e", "MYSQL_PWD", container,
                       "mysql", "-uroot", "-N", "-B", "cocorico", "-e", sql)


def redis_get(container: str, admin_password: str, key: str) -> str:
    return with_secret("REDISCLI_AUTH", admin_password, "docker", "exec", "-e", "REDISCLI_AUTH", container,
                       "redis-cli", "--no-auth-warning", "--user", "admin", "GET", key)


def postgres_databases(catalog) -> list[str]:
    return sorted(name for name, db in catalog.backup_databases.items() if db["engine"] == "postgres")


@pytest.fixture(scope="module")
def staging(staging_stack):
    return staging_stack


@pytest.fixture(scope="module")
def swarm():
    return catalog_mod.load("swarm")


@pytest.fixture(scope="module")
def moved(staging, swarm):
    values = secret_values(staging)
    nas = {"mysql": f"{staging.project_name}-cocorico-mysql-1", "redis": f"{staging.project_name}-redis-1"}
    psql(staging, "DROP TABLE IF EXISTS e2e_move; CREATE TABLE e2e_move (id int PRIMARY KEY, v text);"
                  "INSERT INTO e2e_move SELECT g, 'moved-' || g FROM generate_series(1, 300) g;"
                  "ALTER TABLE e2e_move OWNER TO connector;")
    mysql(nas["mysql"], values["cocorico_mysql_root_password"],
          "DROP TABLE IF EXISTS e2e_move; CREATE TABLE e2e_move (id int PRIMARY KEY, v text);"
          "INSERT INTO e2e_move VALUES (1, 'one'), (2, 'two');")
    with_secret("REDISCLI_AUTH", values["redis_admin_password"], "docker", "exec", "-e", "REDISCLI_AUTH", nas["redis"],
                "redis-cli", "--no-auth-warning", "--user", "admin", "SET", "e2e:move", "from-the-nas")

    # 1. a verified backup on the NAS
    backup = make("staging", "backup")
    assert backup.returncode == 0, (backup.stdout + backup.stderr)[-4000:]
    backup_id = Path(staging.backup_dir, "last-verified").read_text().split()[0]
    # the swarm, from nothing: its deploy root and backups gone, two engines, the data label
    for folder in (swarm.deploy_root, swarm.backup_dir):
        shutil.rmtree(folder, ignore_errors=True)
    two = TwoNodeSwarm(swarm)
    two.up()
    try:
        for service in ("edge", "killbill"):  # no registry: node 2's replicas need their images there
            two.load_image(service)
        # 2. the NAS stopped: from here on the operator's users see the site down
        t0 = time.monotonic()
        down = make("staging", "down")
        assert down.returncode == 0, down.stdout + down.stderr
        # 3. the backup and the secrets onto the manager (rsync over SSH on two machines)
        Path(swarm.backup_dir).mkdir(parents=True, mode=0o700)
        shutil.copytree(Path(staging.backup_dir, backup_id), Path(swarm.backup_dir, backup_id), symlinks=True)
        Path(swarm.deploy_root, "secrets").mkdir(parents=True, mode=0o700)
        shutil.copytree(Path(staging.deploy_root, "secrets/values"), Path(swarm.deploy_root, "secrets/values"))
        # 4. the empty stack, with the NAS's secrets; 5. the backup restored into it
        deploy = make("swarm", "deploy")
        assert deploy.returncode == 0, (deploy.stdout + deploy.stderr)[-4000:]
        t_deployed = time.monotonic() - t0
        restore = make("swarm", "restore", f"BACKUP={backup_id}")
        assert restore.returncode == 0, (restore.stdout + restore.stderr)[-4000:]
        downtime = time.monotonic() - t0
        print(json.dumps({"move_downtime_s": round(downtime, 1), "of_which_deploy_s": round(t_deployed, 1),
                          "restore_s": round(downtime - t_deployed, 1), "backup": backup_id}))
        yield {"id": backup_id, "values": values, "restore": restore.stdout + restore.stderr}
    finally:
        two.down()  # the NAS's stopped containers start again with the other bystanders


def test_the_swarm_holds_the_nas_rows_and_keys(staging, swarm, moved):
    folder = Path(swarm.backup_dir, moved["id"])
    for db in postgres_databases(staging):  # each table as the NAS's backup counted it when verified
        assert swarm_table_counts(swarm, db) == (folder / "counts" / f"postgres-{db}.restored").read_text(), db
    assert swarm_psql(swarm, "SELECT count(*), max(v) FROM e2e_move", "marketplace") == "300|moved-99"
    values = moved["values"]
    assert mysql(swarm_container(swarm, "cocorico-mysql"), values["cocorico_mysql_root_password"],
                 "SELECT group_concat(v ORDER BY id) FROM e2e_move") == "one,two"
    assert redis_get(swarm_container(swarm, "redis"), values["redis_admin_password"], "e2e:move") == "from-the-nas"
    manifest = json.loads(Path(swarm.backup_dir, moved["id"], "manifest.json").read_text())
    assert manifest["target"] == "staging" and "every service healthy" in moved["restore"]
    # MongoDB's documents: the stand-in image has no mongodump, so the backup says it skipped them
    assert [s["database"] for s in manifest["skipped"]] == ["cocorico_docs"]


def test_every_route_answers_through_either_node(swarm, moved):
    from tests.test_e2e_swarm import routes_answer

    for address in (MANAGER, NODE2):
        assert routes_answer(swarm, address), address


def test_kill_bill_knows_the_nas_tenant_by_its_key_and_secret(swarm, moved):
    port = next(iter(swarm.services["edge"].published))
    route = swarm.services["killbill"].routes[0]
    values = moved["values"]
    admin = ("admin", values["killbill_admin_password"])
    key = swarm.killbill_tenant["api_key"]

    def kb(path, **kw):
        return requests.get(f"http://{MANAGER}:{port}{route.prefix}{path}", timeout=10,
                            headers={"Host": route.hostname, **kw.pop("headers", {})}, auth=admin, **kw)

    found = kb("/1.0/kb/tenants", params={"apiKey": key})
    assert found.status_code == 200 and found.json()["externalKey"] == "marketplace"
    as_tenant = {"X-Killbill-ApiKey": key, "X-Killbill-ApiSecret": values["killbill_api_secret"]}
    assert kb("/1.0/kb/accounts/pagination", headers=as_tenant).status_code == 200
    assert swarm_psql(swarm, "SELECT count(*) FROM tenants", "killbill") == "1"
