"""The records of the releases under releases/, in the formats scripts/state.sh, `make releases`
and the status page read. Every pointer and record is replaced atomically (a temporary file,
then a rename)."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ImageRecord:
    """One line of releases/ID/images: what a service ran."""

    service: str
    tag: str
    image_id: str
    digests: str  # comma-separated repository digests, "-" when none

    def line(self) -> str:
        return f"{self.service} {self.tag} {self.image_id} {self.digests}\n"

    @classmethod
    def parse(cls, line: str) -> "ImageRecord":
        service, tag, image_id, *rest = line.split()
        return cls(service, tag, image_id, rest[0] if rest else "-")


def _replace(path: Path, text: str) -> None:
    part = path.with_name(path.name + ".tmp")
    part.write_text(text)
    os.replace(part, path)


def _copy(src: Path, dest: Path) -> None:
    """cp -p: content, mode, times and owner."""
    shutil.copy2(src, dest)
    st = src.stat()
    os.chown(dest, st.st_uid, st.st_gid)


class Releases:
    """releases/ of the deploy root `root` (ids sort by time: YYYYMMDDTHHMMSSZ-commit)."""

    def __init__(self, root: Path, folder: Path, temp_suffix: str):
        self.root, self.folder, self.temp_suffix = Path(root), Path(folder), temp_suffix

    @classmethod
    def of(cls, stack) -> "Releases":
        return cls(stack.root, stack.path("releases"), stack.raw["paths"]["temp_suffix"])

    def dir(self, release_id: str) -> Path:
        return self.folder / release_id

    def ids(self) -> list[str]:
        """Every recorded release, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.iterdir() if p.is_dir() and not p.name.startswith("."))

    # -- pointers and status --

    def pointer(self, name: str) -> str:
        """current or last-good ("" when none)."""
        try:
            return (self.folder / name).read_text().strip()
        except OSError:
            return ""

    def set_pointers(self, release_id: str) -> None:
        """The release now runs, and is good."""
        for name in ("current", "last-good"):
            _replace(self.folder / name, f"{release_id}\n")

    def status(self, release_id: str) -> str:
        try:
            return (self.dir(release_id) / "status").read_text().strip()
        except OSError:
            return ""

    def set_status(self, release_id: str, status: str) -> None:
        (self.dir(release_id) / "status").write_text(f"{status}\n")

    def read(self, release_id: str, name: str) -> str:
        """A record of the release ("" when it has none)."""
        try:
            return (self.dir(release_id) / name).read_text()
        except OSError:
            return ""

    # -- files --

    def record_files(self, release_id: str, managed: list[str]) -> None:
        """Hash and copy every managed file as it is now (sha256sum's format)."""
        folder = self.dir(release_id)
        lines = []
        for rel in managed:
            src = self.root / rel
            if not src.is_file():
                continue
            lines.append(f"{hashlib.sha256(src.read_bytes()).hexdigest()}  {rel}\n")
            dest = folder / "files" / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            _copy(src, dest)
        _replace(folder / "files.sha256", "".join(lines))

    def recorded_files(self, release_id: str) -> list[str]:
        return [line.split("  ", 1)[1] for line in self.read(release_id, "files.sha256").splitlines() if "  " in line]

    def restore_files(self, release_id: str) -> None:
        """That release's files back in place, each replaced atomically."""
        folder = self.dir(release_id) / "files"
        for rel in self.recorded_files(release_id):
            dest = self.root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            part = dest.with_name(dest.name + self.temp_suffix)
            _copy(folder / rel, part)
            os.replace(part, dest)

    # -- images --

    def write_images(self, release_id: str, records: list[ImageRecord]) -> None:
        _replace(self.dir(release_id) / "images", "".join(r.line() for r in sorted(records, key=lambda r: r.line())))

    def images(self, release_id: str) -> list[ImageRecord]:
        return [ImageRecord.parse(line) for line in self.read(release_id, "images").splitlines() if line.strip()]
