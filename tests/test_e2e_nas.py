"""The production connection path, on the DSM stand-in that plays the NAS (files/nas-standin):
SSH as the administrator `deploy` (no root login, no SFTP), sudo with a password or a NOPASSWD
rule, docker only at /usr/local/bin, /tmp noexec. The staging target IS reached this way; these
tests prove the parts a successful deploy does not show by itself."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from tests.support.staging import ENV, NAS, REPO, STATE, VENV_BIN, Deploy, container_name, containers, sh

pytestmark = pytest.mark.e2e
SUDOERS = "/etc/sudoers.d/administrators"


def ssh(user: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ssh", "-q", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={STATE}/ssh/known_hosts_nas",
                           "-i", f"{STATE}/ssh/id_ed25519", "-p", "2223", f"{user}@127.0.0.1", *argv],
                          capture_output=True, text=True)


def deploy(password: str | None) -> subprocess.CompletedProcess:
    env = {**ENV, "MARKETPLACE_SUDO_PASSWORD": password or ""}
    return subprocess.run([str(VENV_BIN / "pyinfra"), "-y", "inventory.py", "deploys/marketplace.py"],
                          env=env, capture_output=True, text=True, cwd=REPO)


def test_the_nas_is_reached_like_the_nas(staging_stack):
    assert ssh("root", "true").returncode != 0  # no root login
    sftp = subprocess.run(["sftp", "-q", "-b", "-", "-o", "BatchMode=yes", "-o",
                           f"UserKnownHostsFile={STATE}/ssh/known_hosts_nas", "-i", f"{STATE}/ssh/id_ed25519",
                           "-P", "2223", "deploy@127.0.0.1"], input="ls\n", capture_output=True, text=True)
    assert sftp.returncode != 0  # no SFTP subsystem: uploads go by SCP
    shell = ssh("deploy", "command -v docker || echo none; stat -c '%U:%G %a' /var/run/docker.sock; "
                          "mount | grep ' /tmp '; cat /etc.defaults/VERSION; sudo -n true 2>&1 || true")
    out = shell.stdout
    assert "none" in out.splitlines()[0]  # docker is not on a non-interactive PATH
    assert "root:root 660" in out and "noexec" in out and 'os_name="DSM"' in out
    assert "a password is required" in out  # the usual DSM administrator: sudo with a password


def test_the_sudo_password_never_shows_in_ps_or_output(staging_stack):
    password = ENV["MARKETPLACE_SUDO_PASSWORD"]
    assert password
    sh("docker", "rm", "-f", container_name(staging_stack, "edge"))  # a release to watch
    seen, done = [], threading.Event()

    def watch():
        while not done.is_set():
            seen.append(subprocess.run(["docker", "exec", NAS, "ps", "-eo", "args"], capture_output=True,
                                       text=True).stdout)
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        run = Deploy()
    finally:
        done.set()
        watcher.join()
    assert run.rc == 0 and run.changed > 0, run
    assert len(seen) > 5 and any("sudo" in table for table in seen)  # we did look while it ran
    assert not any(password in table for table in seen)
    assert password not in run.output
    assert password not in subprocess.run(["docker", "logs", NAS], capture_output=True, text=True).stderr


def test_without_the_password_the_deploy_says_so_and_touches_nothing(staging_stack):
    before = containers(staging_stack)
    refused = deploy(None)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "sudo on the target wants deploy's password: set MARKETPLACE_SUDO_PASSWORD" in output
    assert "Traceback" not in output and "getpass" not in output
    assert containers(staging_stack) == before


def test_a_nopasswd_rule_needs_no_password(staging_stack):
    rule = sh("docker", "exec", NAS, "cat", SUDOERS).stdout
    subprocess.run(["docker", "exec", "-i", NAS, "sh", "-c", f"cat > {SUDOERS}"], check=True, text=True,
                   input=rule.replace("ALL=(ALL) ALL", "ALL=(ALL) NOPASSWD: ALL"))
    try:
        run = deploy(None)
        assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
        assert "Grand total" in run.stdout + run.stderr
    finally:
        subprocess.run(["docker", "exec", "-i", NAS, "sh", "-c", f"cat > {SUDOERS}"], check=True, text=True,
                       input=rule)


@pytest.fixture(scope="module")
def clone(staging_stack, tmp_path_factory):
    from tests.support.clone import Clone

    return Clone(tmp_path_factory.mktemp("preflight") / "repo")


def test_preflight_passes_and_make_preflight_prints_it(staging_stack):
    report = subprocess.run(["make", "-s", "preflight", "TARGET=staging"], cwd=REPO, capture_output=True,
                            text=True, env=ENV)
    assert report.returncode == 0, report.stdout + report.stderr
    for row in ("DSM 7.2.2", "DSM Task Scheduler", "CPU architecture", "Docker Engine", "Compose", "free space deploy_root",
                "memory", "host ports", "deploy through sudo"):
        assert row in report.stdout
    assert "FAIL" not in report.stdout


def test_preflight_refuses_a_full_disk_and_a_taken_port_touching_nothing(clone, staging_stack):
    import socket

    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    taken = holder.getsockname()[1]
    try:
        clone.commit("a disk too small and a port someone holds", append={"group_data/staging.py": (
            '\npreflight = {"min_free_mib": {"backup_dir": 16000000}}\n'
            f'services = {{"connector": {{"host_port": {taken - staging_stack.port_offset}}}}}\n')})
        before = containers(staging_stack)
        refused = clone.deploy()
        output = refused.stdout + refused.stderr
        assert refused.returncode != 0
        assert "preflight: the target does not meet every requirement; nothing was touched" in output
        assert "FAIL free space backup_dir" in output and "preflight.min_free_mib.backup_dir" in output
        assert f"FAIL host ports               {taken} (connector) is held by another program" in output
        assert containers(staging_stack) == before
    finally:
        holder.close()


def test_an_unpushed_tree_is_refused_unless_allowed_and_then_recorded(staging_stack, tmp_path):
    from tests.support.clone import Clone

    clone = Clone(tmp_path / "repo")
    clone.commit("as production: only pushed commits (and a change, so that a release records it)",
                 append={"group_data/staging.py": '\nrequire_clean_tree = True\n'
                                                   'services = {"kaui": {"env": {"E2E_UNPUSHED": "1"}}}\n'})
    before = containers(staging_stack)
    refused = clone.deploy()
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    # (1 commit not pushed; in a clone of a git worktree, its branch may differ: refused either way)
    assert "refusing to deploy: " in output and "ALLOW_DIRTY=1" in output
    assert containers(staging_stack) == before
    allowed = subprocess.run([*clone.argv(), "--data", "allow_dirty=1"], cwd=clone.path, env=clone.env,
                             capture_output=True, text=True)
    assert allowed.returncode == 0, (allowed.stdout + allowed.stderr)[-3000:]
    import json
    from pathlib import Path

    releases = Path(staging_stack.deploy_root, "releases")
    newest = sorted(p for p in releases.iterdir() if p.is_dir() and not p.name.startswith("."))[-1]
    record = json.loads((newest / "deploy.json").read_text())
    assert record["allow_dirty"] in output
    assert Deploy().rc == 0  # staging back to this checkout's catalog
