"""Backups, without a target: what the stack description tells the NAS-side program to back up,
and the ops command's refusals (the end-to-end proof is tests/test_e2e_backups.py)."""

from __future__ import annotations

import json

import pytest

from deploys import layout
from deploys.ops import remote
from deploys.catalog import GROUP_DATA, load
from deploys.render import render


def described(catalog) -> dict:
    """The backup section of the stack description the NAS-side program reads."""
    return json.loads(render(catalog)[layout.STACK_DESCRIPTION].content)["backup"]


def catalog_with(tmp_path, extra: str, target: str = "local"):
    for f in GROUP_DATA.glob("*.py"):
        (tmp_path / f.name).write_text(f.read_text())
    (tmp_path / f"{target}.py").write_text((tmp_path / f"{target}.py").read_text() + "\n" + extra)
    return load(target, tmp_path)


def test_every_database_of_an_enabled_server_is_backed_up_with_its_own_tool(staging_catalog):
    b = described(staging_catalog)
    assert [d["name"] for d in b["databases"]] == list(staging_catalog.databases)
    for d in b["databases"]:
        db = staging_catalog.databases[d["name"]]
        assert (d["engine"], d["service"], d["user"]) == (db["engine"], db["service"], db["user"])
    assert set(b["servers"]) == {db["service"] for db in staging_catalog.databases.values()}
    assert b["servers"]["redis"]["data"] == next(src for src, dest in staging_catalog.services["redis"].volumes.items()
                                                 if dest.startswith("/data"))
    assert b["servers"]["cocorico-mysql"]["admin_password_file"].startswith(layout.SECRET_VALUES + "/")
    assert (b["keep"], b["max_age_hours"]) == (staging_catalog.backup["keep"], staging_catalog.backup["max_age_hours"])
    assert render(staging_catalog)[layout.script("backup")].content.decode().rstrip().endswith(
        'exec bash scripts/ops.sh backup "$@"')


def test_a_restore_stops_the_users_of_a_database_never_its_server(staging_catalog):
    users = {d["name"]: d["users"] for d in described(staging_catalog)["databases"]}
    assert users["cocorico"] == ["cocorico"]  # not cocorico-mysql: it must run to restore
    assert users["marketplace"] == ["connector"]
    assert users["killbill"] == staging_catalog.database_users("killbill") == ["killbill"]
    assert described(staging_catalog)["redis_users"] == ["condo", "connector"]


def test_a_disabled_server_takes_its_databases_out_of_the_backup(tmp_path):
    catalog = catalog_with(tmp_path, 'services = {"cocorico": {"enabled": False}, "cocorico-mongo": {"enabled": False},'
                                     ' "cocorico-mysql": {"enabled": False}}\n'
                                     'routes = {"marketplace": None}\n')
    assert "cocorico" not in catalog.backup_databases and "cocorico_docs" not in catalog.backup_databases
    names = [d["name"] for d in described(catalog)["databases"]]
    assert "cocorico" not in names and "cocorico_docs" not in names


def test_the_passphrase_and_the_offsite_secrets_are_made_only_when_used(tmp_path, local_catalog, staging_catalog):
    assert "backup_passphrase" in staging_catalog.used_secrets
    assert described(staging_catalog)["passphrase_file"] == f"{layout.SECRET_VALUES}/backup_passphrase"
    assert not {"offsite_restic_password", "offsite_ssh_key"} & set(staging_catalog.used_secrets)
    assert described(local_catalog)["passphrase_file"] is None and described(local_catalog)["offsite"] is None
    offsite = catalog_with(tmp_path, 'backup = {"offsite": {"repository": "sftp:r@h.example:/srv/r", '
                                     '"known_hosts": ["h.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKw5Vb0"]}}\n')
    assert {"offsite_restic_password", "offsite_ssh_key"} <= set(offsite.used_secrets)
    files = render(offsite)
    assert files[layout.OFFSITE_KNOWN_HOSTS].content == b"h.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKw5Vb0\n"
    off = described(offsite)["offsite"]
    assert off["sftp_command"] == ("ssh -i /run/offsite/key -p 22 -o UserKnownHostsFile=/run/offsite/known_hosts "
                                   "-o StrictHostKeyChecking=yes -o BatchMode=yes r@h.example -s sftp")
    assert off["image"] == "restic/restic:0.16.4" and off["build_context"] is None
    assert off["password_file"] == f"{layout.SECRET_VALUES}/offsite_restic_password"
    assert off["key_file"] == f"{layout.SECRET_KEYS}/offsite_ssh_key.pem"


def test_the_nightly_task_runs_a_daily_backup(staging_catalog):
    task = staging_catalog.dsm_tasks["backup"]
    assert (task["script"], task["args"], task["at"]) == ("backup", ["run", "--kind", "daily"], "03:00")


def test_a_restore_where_it_must_be_confirmed_is_refused_before_connecting(tmp_path, monkeypatch, capsys):
    catalog = catalog_with(tmp_path, 'backup = {"confirm_restore": True}\n')
    monkeypatch.setattr(remote, "load", lambda target: catalog)
    monkeypatch.setattr(remote, "Target", lambda target: pytest.fail("connected without CONFIRM=yes"))
    assert remote.restore_backup("local", "20261129T030000Z", ["cocorico"], False, False) == 2
    assert "CONFIRM=yes" in capsys.readouterr().err
