"""The secrets-and-configuration part: the secrets, .env, the compose file and the current
release's record and files, with their SHA-256 list, as one tar (config.tar), encrypted with
`openssl enc -aes-256-cbc -pbkdf2 -iter 200000` when a passphrase is set (config.tar.enc: what
`openssl enc -d` with the same options reads back, on any machine)."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import tarfile
from pathlib import Path

SUMS = "SHA256SUMS"
OPENSSL = ["openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-iter", "200000"]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def files_to_keep(root: Path, paths: dict, current: str | None) -> list[str]:
    """The files of the part, relative to the deploy root, sorted bytewise."""
    found = []
    for folder, _, names in os.walk(root / paths["secrets"]):
        found += [os.path.relpath(os.path.join(folder, n), root) for n in names
                  if not n.endswith(paths["temp_suffix"]) and os.path.isfile(os.path.join(folder, n))]
    found += [name for name in (paths["env_file"], paths["compose_file"]) if (root / name).is_file()]
    release = root / paths["releases"] / current if current else None
    if release and release.is_dir():
        for folder, _, names in os.walk(release):
            for n in names:
                rel = os.path.relpath(os.path.join(folder, n), root)
                if "/snapshots/" not in "/" + rel and os.path.isfile(root / rel):
                    found.append(rel)
    return sorted(set(found), key=lambda s: s.encode())


def _passphrase_arg(passphrase_file: Path) -> str:
    return f"file:{passphrase_file}"


def make(root: Path, out_dir: Path, files: list[str], passphrase_file: Path | None, release: str) -> dict:
    """Write the part into out_dir; its manifest record."""
    sums = "".join(f"{sha256_file(root / f)}  {f}\n" for f in files).encode()
    name = "config.tar.enc" if passphrase_file else "config.tar"
    target = out_dir / name
    with open(target, "wb") as out:
        if passphrase_file:
            proc = subprocess.Popen([*OPENSSL, "-salt", "-pass", _passphrase_arg(passphrase_file)],
                                    stdin=subprocess.PIPE, stdout=out)
            _write_tar(proc.stdin, root, files, sums)
            proc.stdin.close()
            if proc.wait() != 0:
                raise OSError("openssl could not encrypt the configuration part")
        else:
            _write_tar(out, root, files, sums)
    tool = f"Python {platform.python_version()} tarfile"
    if passphrase_file:
        tool += ", " + subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    return {"part": name, "engine": "config", "database": "secrets-and-config", "size": target.stat().st_size,
            "sha256": sha256_file(target), "tool": tool, "files": len(files),
            "content_sha256": hashlib.sha256(sums).hexdigest(), "encrypted": bool(passphrase_file), "release": release}


def _write_tar(stream, root: Path, files: list[str], sums: bytes) -> None:
    import io

    with tarfile.open(fileobj=stream, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(SUMS)
        info.size, info.mode = len(sums), 0o600
        tar.addfile(info, io.BytesIO(sums))
        for f in files:
            tar.add(root / f, arcname=f, recursive=False)


def verify(part: Path, passphrase_file: Path | None, content_sha256: str) -> tuple[bool, list[str]]:
    """Read the part back (decrypted), its list of files the one recorded, every file's checksum
    its list's; nothing is written to disk."""
    proc = None
    try:
        if part.name.endswith(".enc"):
            if not passphrase_file or not passphrase_file.is_file() or not passphrase_file.stat().st_size:
                return False, ["  encrypted, and no passphrase is configured to read it"]
            proc = subprocess.Popen([*OPENSSL, "-d", "-pass", _passphrase_arg(passphrase_file)],
                                    stdin=open(part, "rb"), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            stream = proc.stdout
        else:
            stream = open(part, "rb")
        listed, seen = None, {}
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    if not member.isfile():
                        continue
                    data = tar.extractfile(member)
                    if member.name == SUMS:
                        raw = data.read()
                        listed = raw
                        continue
                    digest = hashlib.sha256()
                    while chunk := data.read(1 << 20):
                        digest.update(chunk)
                    seen[member.name] = digest.hexdigest()
        finally:
            stream.close()
    except (tarfile.TarError, OSError, EOFError):
        return False, [f"  cannot {'decrypt or ' if proc else ''}unpack {part.name}"]
    finally:
        if proc:
            proc.wait()
    if proc and proc.returncode != 0:
        return False, [f"  cannot decrypt or unpack {part.name}"]
    if listed is None or hashlib.sha256(listed).hexdigest() != content_sha256:
        return False, ["  its list of files is not the one the backup recorded"]
    want = {}
    for line in listed.decode(errors="replace").splitlines():
        sha, sep, name = line.partition("  ")
        if not sep or len(sha) != 64:
            return False, ["  a file differs from its checksum"]
        want[name] = sha
    if any(seen.get(name) != sha for name, sha in want.items()):
        return False, ["  a file differs from its checksum"]
    return True, [f"  {len(want)} files, every checksum matches"]
