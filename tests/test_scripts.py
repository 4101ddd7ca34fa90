"""Every shell script and command the deploy renders: strict mode, shellcheck-clean, and no value
reaches a shell template unquoted."""

from __future__ import annotations

import shutil
import subprocess

import jinja2
import pytest

from deploys import catalog as catalog_mod
from deploys.target import commands, lock
from deploys import layout, render
from deploys.render import templates
from deploys.plan import Desired

SHELLCHECK = shutil.which("shellcheck")


def rendered_shell(catalog) -> dict[str, str]:
    """name -> text of every script (scripts/*.sh) and command (templates/commands) of a catalog."""
    files = render.render(catalog)
    found = {p: f.content.decode() for p, f in files.items()
             if p.endswith(".sh") and not p.startswith(f"{layout.BUILD}/")}
    me = lock.owner("20261129T000000Z-abcdef0", "abcdef0")
    found["commands/state.sh"] = commands.state_command(catalog, Desired.of(catalog, files))
    for action in ("take", "release", "unlock"):
        found[f"commands/lock-{action}.sh"] = commands.command(catalog, "lock", action=action, me=me,
                                                             stale_id="old")
    found["commands/locked.sh"] = commands.command(catalog, "locked", me=me,
                                                 steps=[["bash", "scripts/release.sh", "rollback"]])
    found["commands/script.sh"] = commands.command(catalog, "script", script="release", args=["list"])
    found["commands/install.sh"] = commands.install_command(
        catalog, [(files[layout.ENV_FILE], "upload"), (files[layout.script("ops")], "fix")])
    return found


@pytest.fixture(scope="module")
def shared_catalog(tmp_path_factory):
    """The local catalog in shared tunnel mode (it renders scripts/shared_tunnel.sh too)."""
    root = tmp_path_factory.mktemp("group_data")
    for f in catalog_mod.GROUP_DATA.glob("*.py"):
        (root / f.name).write_text(f.read_text())
    (root / "local.py").write_text((root / "local.py").read_text() + '\ntunnel = {"mode": "shared"}\n'
                                   'services = {"cloudflared": {"enabled": False}}\n'
                                   # and backups with every option: encrypted, copied off the NAS
                                   'secrets = {"backup_passphrase": {"kind": "provided"}, "hook": {"kind": "provided"},'
                                   ' "smtp_password": {"kind": "provided"}}\n'
                                   # and alerts to every kind of channel
                                   'alerts = {"webhooks": {"a": {"shape": "ntfy", "url_secret": "hook"}, "b": {"shape": '
                                   '"slack", "url_secret": "hook"}}, "email": {"relay": "smtp.example.com", "port": 587, '
                                   '"to": ["ops@example.com", "b@example.com"], "starttls": True, "user": "nas@example.com",'
                                   ' "password_secret": "smtp_password"}}\n'
                                   'backup = {"passphrase_secret": "backup_passphrase", "offsite": {'
                                   '"repository": "sftp:restic@backup.example.lan:/srv/restic", "build": '
                                   '"files/images/restic", "known_hosts": ["backup.example.lan ssh-ed25519 '
                                   'AAAAC3NzaC1lZDI1NTE5AAAAIKw5Vb0"]}}\n')
    return catalog_mod.load("local", root)


@pytest.fixture(scope="module")
def every_script(local_catalog, staging_catalog, shared_catalog, tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("scripts")
    written = {}
    for catalog in (local_catalog, staging_catalog, shared_catalog, catalog_mod.load("swarm")):
        label = f"{catalog.target}-{catalog.tunnel['mode']}"
        for name, text in rendered_shell(catalog).items():
            path = out / label / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written[str(path)] = text
    return written


def test_every_script_runs_in_strict_mode(every_script):
    scripts = {p: t for p, t in every_script.items() if "/scripts/" in p}
    assert any(p.endswith("shared_tunnel.sh") for p in scripts)
    assert any(p.endswith("swarm-local/scripts/start_all.sh") for p in scripts)
    for path, text in scripts.items():
        assert text.startswith("#!/bin/bash\n"), path
        assert "\nset -euo pipefail\n" in text and "\nshopt -s inherit_errexit" in text, path


def test_shellcheck_finds_nothing(every_script):
    assert SHELLCHECK, "shellcheck is not installed: `make tools` (or apt-get install shellcheck)"
    result = subprocess.run([SHELLCHECK, "--external-sources", *every_script], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-6000:]


def test_a_value_that_skips_the_quoting_filter_does_not_render():
    template = templates._env(True).from_string("echo {{ value }}\n")
    with pytest.raises(jinja2.TemplateError, match="unquoted value"):
        template.render(value="$(touch /tmp/x)")
    quoted = templates._env(True).from_string("echo {{ value | sq }}\n").render(value="$(touch /tmp/x)")
    assert quoted == "echo '$(touch /tmp/x)'\n"


def test_a_line_break_cannot_enter_a_heredoc():
    template = templates._env(True).from_string("cat <<'EOF'\n{{ value | line }}\nEOF\n")
    with pytest.raises(ValueError, match="line break"):
        template.render(value="A=1\nEOF\nrm -rf /")


def test_hostile_values_reach_the_lock_owner_literally(local_catalog, tmp_path):
    import dataclasses
    import json

    catalog = dataclasses.replace(local_catalog, deploy_root=str(tmp_path / "it's $(here)"))
    me = {"id": "x", "who": "a'b\"c $(touch pwned) `id`", "pid": 1}
    script = commands.command(catalog, "lock", action="take", me=me, stale_id=None)
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "it's $(here)" / "releases/.lock/owner").read_text()) == me
    assert not (tmp_path / "pwned").exists()
