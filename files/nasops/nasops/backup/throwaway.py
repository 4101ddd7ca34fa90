"""The verification's throwaway containers: of the very image a live server runs, with no
network, the server's memory limit, labelled so that they are never taken for the stack's (and
every one of them found and removed, a killed run's too)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path


class Throwaways:
    def __init__(self, client, stack):
        self.client = client
        self.stack = stack
        b = stack.backup
        self.label = {b["verify_label"]: stack.project, stack.labels["project"]: f"{stack.project}-verify"}
        self.filter = {"label": f"{b['verify_label']}={stack.project}"}

    def name(self, service: str) -> str:
        return f"{self.stack.project}-verify-{service}"

    def create(self, service: str, image: str, env: dict[str, str] | None = None, command=None):
        """A created (not started) container of `image` for `service`, replacing one of the
        same name."""
        self.remove(self.name(service))
        limit = (self.stack.backup["servers"].get(service) or {}).get("mem_limit") or "512m"
        return self.client.containers.create(image, command=command, name=self.name(service), labels=self.label,
                                             network_mode="none", mem_limit=limit, environment=env or {})

    def running(self, service: str):
        found = self.client.containers.list(filters={**self.filter, "name": f"^{self.name(service)}$",
                                                     "status": "running"})
        return found[0] if found else None

    def remove(self, name: str) -> None:
        import docker

        try:
            self.client.containers.get(name).remove(force=True, v=True)
        except docker.errors.NotFound:
            pass

    def cleanup(self) -> None:
        """Every throwaway of this stack's verifications, and its volumes."""
        for c in self.client.containers.list(all=True, filters=self.filter):
            try:
                c.remove(force=True, v=True)
            except Exception:  # noqa: BLE001 - gone meanwhile
                pass


def put_file(container, source: Path, folder: str, name: str) -> None:
    """One file into a (created) container, as `docker cp` puts it (its mode and owner kept)."""
    st = os.stat(source)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.uid, info.gid, info.mtime = st.st_size, st.st_mode & 0o7777, st.st_uid, st.st_gid, int(st.st_mtime)
        with open(source, "rb") as f:
            tar.addfile(info, f)
    container.put_archive(folder, buf.getvalue())
