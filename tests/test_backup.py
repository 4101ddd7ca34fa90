"""Backups, without a target: what scripts/backup.sh is rendered to hold for a catalog, and the
ops command's refusals (the end-to-end proof is tests/test_e2e_backups.py)."""

from __future__ import annotations

import pytest

from deploys import layout
from deploys.ops import remote
from deploys.catalog import GROUP_DATA, load
from deploys.render import render


def script(catalog) -> str:
    return render(catalog)[layout.script("backup")].content.decode()


def catalog_with(tmp_path, extra: str, target: str = "local"):
    for f in GROUP_DATA.glob("*.py"):
        (tmp_path / f.name).write_text(f.read_text())
    (tmp_path / f"{target}.py").write_text((tmp_path / f"{target}.py").read_text() + "\n" + extra)
    return load(target, tmp_path)


def test_every_database_of_an_enabled_server_is_backed_up_with_its_own_tool(staging_catalog):
    text = script(staging_catalog)
    names = " ".join(staging_catalog.databases)
    assert f"ALL_DATABASES=({names})" in text
    for name, db in staging_catalog.databases.items():
        assert f"    {name}) echo {db['engine']} ;;" in text
    assert "pg_dump -U postgres -Fc" in text and "mysqldump -uroot --single-transaction" in text
    assert "mongodump --quiet --archive --gzip" in text and "--rdb" in text


def test_a_restore_stops_the_users_of_a_database_never_its_server(staging_catalog):
    text = script(staging_catalog)
    assert "    cocorico) echo cocorico ;;" in text  # not cocorico-mysql: it must run to restore
    assert "    marketplace) echo connector ;;" in text
    assert staging_catalog.database_users("killbill") == ["killbill"]


def test_a_disabled_server_takes_its_databases_out_of_the_backup(tmp_path):
    catalog = catalog_with(tmp_path, 'services = {"cocorico": {"enabled": False}, "cocorico-mongo": {"enabled": False},'
                                     ' "cocorico-mysql": {"enabled": False}}\n'
                                     'routes = {"marketplace": None}\n')
    assert "cocorico" not in catalog.backup_databases and "cocorico_docs" not in catalog.backup_databases
    assert "cocorico" not in script(catalog).split("ALL_DATABASES=(")[1].split(")")[0]


def test_the_passphrase_and_the_offsite_secrets_are_made_only_when_used(tmp_path, local_catalog, staging_catalog):
    assert "backup_passphrase" in staging_catalog.used_secrets
    assert not {"offsite_restic_password", "offsite_ssh_key"} & set(staging_catalog.used_secrets)
    assert "PASSPHRASE=''" in script(local_catalog)
    offsite = catalog_with(tmp_path, 'backup = {"offsite": {"repository": "sftp:r@h.example:/srv/r", '
                                     '"known_hosts": ["h.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKw5Vb0"]}}\n')
    assert {"offsite_restic_password", "offsite_ssh_key"} <= set(offsite.used_secrets)
    files = render(offsite)
    assert files[layout.OFFSITE_KNOWN_HOSTS].content == b"h.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKw5Vb0\n"
    text = script(offsite)
    assert "'ssh -i /run/offsite/key -p 22 -o UserKnownHostsFile=/run/offsite/known_hosts " \
           "-o StrictHostKeyChecking=yes -o BatchMode=yes r@h.example -s sftp'" in text
    assert "restic/restic:0.16.4" in text


def test_the_nightly_task_runs_a_daily_backup(staging_catalog):
    task = staging_catalog.dsm_tasks["backup"]
    assert (task["script"], task["args"], task["at"]) == ("backup", ["run", "--kind", "daily"], "03:00")


def test_a_restore_where_it_must_be_confirmed_is_refused_before_connecting(tmp_path, monkeypatch, capsys):
    catalog = catalog_with(tmp_path, 'backup = {"confirm_restore": True}\n')
    monkeypatch.setattr(remote, "load", lambda target: catalog)
    monkeypatch.setattr(remote, "Target", lambda target: pytest.fail("connected without CONFIRM=yes"))
    assert remote.restore_backup("local", "20261129T030000Z", ["cocorico"], False, False) == 2
    assert "CONFIRM=yes" in capsys.readouterr().err
