"""Off the NAS: each verified backup pushed to a restic repository over SFTP, restic running in
a throwaway container of the offsite image (host network: it reaches the remote; the backups
read-only but for a restore; the key, the known hosts and the password mounted read-only)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Ran:
    rc: int
    out: str
    err: str


class Offsite:
    def __init__(self, client, stack, spec: dict):
        self.client = client
        self.stack = stack
        self.spec = spec
        self.repository = spec["repository"]
        self.backups = Path(stack.backup["dir"])

    def image(self) -> str:
        """The image restic runs in, built or pulled once."""
        import docker

        image = self.spec["image"]
        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound:
            if self.spec["build_context"]:
                self.client.images.build(path=str(self.stack.file(self.spec["build_context"])), tag=image, rm=True)
            else:
                repo, _, tag = image.rpartition(":")
                self.client.images.pull(repo, tag=tag)
        return image

    def _run(self, entrypoint: str, args: list[str], volumes: dict, env: dict | None = None, network: str = "host") -> Ran:
        container = self.client.containers.create(self.image(), command=args, entrypoint=entrypoint,
                                                  network_mode=network, mem_limit="512m", volumes=volumes,
                                                  environment=env or {})
        try:
            container.start()
            rc = container.wait()["StatusCode"]
            return Ran(rc, container.logs(stdout=True, stderr=False).decode(errors="replace"),
                       container.logs(stdout=False, stderr=True).decode(errors="replace"))
        finally:
            container.remove(force=True)

    def restic(self, *args: str, write: bool = False) -> Ran:
        s = self.spec
        volumes = {str(self.backups): {"bind": "/backups", "mode": "rw" if write else "ro"},
                   str(self.stack.file(s["password_file"])): {"bind": "/run/offsite/password", "mode": "ro"},
                   str(self.stack.file(s["key_file"])): {"bind": "/run/offsite/key", "mode": "ro"},
                   str(self.stack.file(s["known_hosts"])): {"bind": "/run/offsite/known_hosts", "mode": "ro"}}
        env = {"RESTIC_PASSWORD_FILE": "/run/offsite/password", "RESTIC_REPOSITORY": self.repository,
               "RESTIC_CACHE_DIR": "/tmp/restic-cache"}
        return self._run("restic", ["-o", f"sftp.command={s['sftp_command']}", *args], volumes, env)

    def push(self, backup_id: str, keep: dict, say) -> str:
        """Into the repository (made on first use), then the repository's retention; the snapshot."""
        project = self.stack.project
        if self.restic("cat", "config").rc != 0:
            made = self.restic("init")
            if made.rc != 0:
                raise OSError(f"offsite: cannot reach or make the restic repository {self.repository}: "
                              f"{made.err.strip()[-300:]}")
            say(f"offsite: made the restic repository {self.repository}")
        ran = self.restic("backup", "--quiet", "--json", "--host", project, "--tag", project, "--tag", backup_id,
                          f"/backups/{backup_id}")
        snapshot = None
        for line in ran.out.splitlines():
            try:
                snapshot = json.loads(line).get("snapshot_id") or snapshot
            except (ValueError, AttributeError):
                continue
        if ran.rc != 0 or not snapshot:
            raise OSError(f"offsite: restic made no snapshot of {backup_id}: {ran.err.strip()[-300:]}")
        (self.backups / backup_id / "offsite").write_text(f"{snapshot} {self.repository}\n")
        forget = self.restic("forget", "--quiet", "--host", project, "--tag", project, "--group-by", "host",
                             "--keep-daily", str(keep["daily"]), "--keep-weekly", str(keep["weekly"]), "--prune")
        if forget.rc != 0:
            say(f"offsite: the repository's retention failed: {forget.err.strip()[-300:]}")
        return snapshot

    def bring_back(self, backup_id: str) -> Path:
        """The backup from the repository into BACKUP_DIR/.offsite-restore; where it landed."""
        import shutil

        work = self.backups / ".offsite-restore"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(mode=0o700)
        ran = self.restic("restore", "latest", "--host", self.stack.project, "--tag", backup_id,
                          "--target", "/backups/.offsite-restore", write=True)
        landed = work / "backups" / backup_id
        if ran.rc != 0 and not (landed / "manifest.json").is_file():
            raise OSError(f"the repository has no backup {backup_id} ({ran.err.strip()[-300:]})")
        return landed

    def public_key(self) -> Ran:
        volumes = {str(self.stack.file(self.spec["key_file"])): {"bind": "/run/offsite/key", "mode": "ro"}}
        return self._run("ssh-keygen", ["-y", "-f", "/run/offsite/key"], volumes, network="none")
