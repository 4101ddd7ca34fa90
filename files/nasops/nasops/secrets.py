"""`nasops secrets [rotate NAME]`: every missing secret made on the target (secrets/values/NAME,
0600, kept across deploys) and each service's secret env file (secrets/SERVICE.env) written from
its template in the description's `secrets` section. A value is never printed, logged or put
in an argv: values travel in files and pipes (openssl reads keys and passwords from files and
stdin).

A secret a database must accept first (its password, its server's admin password) gets its new
value on rotation in NAME.next: the services keep the current one until the program's
`databases` has set it in the database and promoted it; an interrupted rotation resumes with
the same NAME.next. secrets/.state records the hash of the section and of every file written
and read (the deploy's one state read compares it: an env file edited by hand, a value promoted
since, a changed template, and this runs again)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets as random
import string
import subprocess
import sys
from pathlib import Path

ALPHABET = string.ascii_letters + string.digits
TOKEN = re.compile(r"\{secret:([A-Za-z0-9_]+)\}")


class SecretsError(Exception):
    """What stops the secrets from being written (the message says what to do); exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def spec_sha(section: dict) -> str:
    """The hash of the section as the deploy computes it (deploys/render/stack_description.py)."""
    return hashlib.sha256(json.dumps(section, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def random_value(length: int) -> str:
    """A random [A-Za-z0-9] string."""
    return "".join(random.choice(ALPHABET) for _ in range(length))


def substitute(template: str, value_of, compose: bool) -> str:
    """A template line with every {secret:NAME} replaced by that secret's first line; for Compose
    every `$` written as `$$` (Compose interpolates env files: `$HOME` would become its own HOME),
    for a Swarm secret as it is (files/swarm/with-env.sh reads it literally)."""
    def literal(text: str) -> str:
        return text.replace("$", "$$") if compose else text

    out, last = [], 0
    for m in TOKEN.finditer(template):
        out += [literal(template[last:m.start()]), literal(value_of(m.group(1)))]
        last = m.end()
    return "".join([*out, literal(template[last:])])


def _write(path: Path, data: bytes | str, mode: int = 0o600) -> None:
    """Replaced atomically, with its mode before it is in place."""
    part = path.with_name(path.name + ".tmp")
    part.write_bytes(data.encode() if isinstance(data, str) else data)
    os.chmod(part, mode)
    os.replace(part, path)


def _openssl(*args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=True).stdout


class Secrets:
    """The secrets of one deploy root, as the description's `secrets` section says."""

    def __init__(self, root: Path, section: dict, out=None):
        self.root, self.spec = Path(root), section
        self.values, self.keys, self.public = self.root / "secrets/values", self.root / "secrets/keys", self.root / "public/keys"
        self.out = out or sys.stdout
        self.rotate = ""

    def say(self, text: str) -> None:
        self.out.write(f"secrets: {text}\n")

    def value_file(self, name: str) -> Path:
        return self.values / name

    def _fresh(self, name: str) -> bool:
        """True when the secret must be (re)created."""
        f = self.value_file(name)
        return self.rotate == name or not (f.is_file() and f.stat().st_size)

    def run(self, rotate: str = "") -> None:
        names = [s["name"] for s in self.spec["secrets"]]
        if rotate and rotate not in names:
            raise SecretsError(f"secrets: {rotate} is not a secret of target {self.spec['target']}", 2)
        self.rotate = rotate
        self._folders()
        for s in self.spec["secrets"]:
            getattr(self, s["kind"])(s)
        auth = self.spec["auth"]
        if auth:
            self.auth_file(self.root / auth["file"], auth["user"], auth["secret"])
        written = self.env_files()
        self.record(written)

    def _folders(self) -> None:
        for folder, mode in (("secrets", 0o700), ("secrets/values", 0o700), ("secrets/keys", 0o711),
                             ("public", 0o755), ("public/keys", 0o755)):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
            # the services that sign may enter secrets/keys (not list it); each key is 0600, its reader's
            os.chmod(self.root / folder, mode)

    # -- the kinds --

    def password(self, s: dict) -> None:
        """A random value; on rotation, one a database takes first is left in NAME.next."""
        name, f = s["name"], self.value_file(s["name"])
        if not self._fresh(name):
            return
        if self.rotate == name and f.is_file() and f.stat().st_size:
            pending = f.with_name(name + ".next")
            if pending.is_file() and pending.stat().st_size:
                self.say(f"{name} has a pending new value (an interrupted rotation): resuming with it")
            else:
                _write(pending, random_value(s["length"]))
            if s["database"]:
                self.say(f"new {name} prepared; the database takes it before the services do")
                return
            os.replace(pending, f)
            self.say(f"rotated {name}")
            return
        _write(f, random_value(s["length"]))
        self.say(f"created {name}")

    def rsa_keypair(self, s: dict) -> None:
        """An RSA private key (secret; its mounted copy 0600 owned by the services' user that
        signs) and its public key (mounted read-only)."""
        name, f = s["name"], self.value_file(s["name"])
        mounted, public = self.keys / f"{name}.pem", self.public / f"{name}.pub.pem"
        if not (self._fresh(name) or not mounted.is_file() or not mounted.stat().st_size
                or not public.is_file() or not public.stat().st_size):
            return
        if self._fresh(name):
            part = f.with_name(name + ".tmp")
            _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{s['bits']}", "-out", str(part))
            os.chmod(part, 0o600)
            os.replace(part, f)
            self.say(f"created RSA key pair {name} ({s['bits']} bits)")
        part = mounted.with_name(mounted.name + ".tmp")
        part.write_bytes(f.read_bytes())
        os.chmod(part, 0o600)
        os.chown(part, s["reader_uid"], -1)
        os.replace(part, mounted)
        _write(public, _openssl("pkey", "-in", str(f), "-pubout"), 0o644)

    def provided(self, s: dict) -> None:
        """Placed by the operator; never created here."""
        f = self.value_file(s["name"])
        if not (f.is_file() and f.stat().st_size):
            raise SecretsError(f"secrets: {s['name']} is provided by the operator: write it to {f} (mode 0600), "
                               "then deploy again")
        os.chmod(f, 0o600)

    # -- what is written from them --

    def first_line(self, name: str) -> str:
        try:
            return self.value_file(name).read_text().split("\n", 1)[0]
        except OSError:
            raise SecretsError(f"secrets: missing {name}") from None

    def auth_file(self, path: Path, user: str, secret: str) -> None:
        """The status page's basic auth file: a SHA-512 crypt hash of the password (1000 rounds,
        crypt's least: the edge hashes on every request, and the generated password's 190 bits
        are what resists an offline guess). Rewritten only when the hash no longer matches the
        value (its salt kept)."""
        password = self.value_file(secret).read_bytes().split(b"\n", 1)[0]
        try:
            held_user, held = path.read_text().split("\n", 1)[0].split(":", 1)
        except (OSError, ValueError):
            held_user, held = "", ""
        m = re.fullmatch(r"\$6\$(rounds=1000\$[^$]+)\$.+", held)
        if held_user == user and m and _openssl("passwd", "-6", "-salt", m.group(1), "-stdin",
                                                stdin=password).decode().strip() == held:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o755)
        hashed = _openssl("passwd", "-6", "-salt", f"rounds=1000${random_value(16)}", "-stdin", stdin=password)
        _write(path, f"{user}:{hashed.decode().strip()}\n", 0o644)
        self.say("wrote the status page's password hash")

    def env_files(self) -> list[str]:
        """Every service's secret env file; those of services no longer in the catalog removed."""
        compose = self.spec["engine"] != "swarm"
        written = []
        for rel, lines in sorted(self.spec["env_files"].items()):
            text = "".join(substitute(f"{key}={template}", self.first_line, compose) + "\n" for key, template in lines)
            path = self.root / rel
            if not (path.is_file() and path.read_text() == text):
                _write(path, text)
            written.append(rel)
        for f in sorted((self.root / "secrets").glob("*.env")):
            rel = str(f.relative_to(self.root))
            if rel not in written:
                f.unlink()
                self.say(f"removed {rel} (no such service)")
        return written

    def record(self, written: list[str]) -> None:
        """secrets/.state: the section's hash, then every file written and read (sha256sum's
        format, what the deploy's state read hashes again)."""
        files = [*written]
        if self.spec["auth"]:
            files.append(self.spec["auth"]["file"])
        for s in self.spec["secrets"]:
            files.append(f"secrets/values/{s['name']}")
            if s["kind"] == "rsa_keypair":
                files += [f"secrets/keys/{s['name']}.pem", f"public/keys/{s['name']}.pub.pem"]
        lines = [f"{self.spec['spec_line']}{spec_sha(self.spec)}\n"]
        lines += [f"{hashlib.sha256((self.root / f).read_bytes()).hexdigest()}  {f}\n" for f in files]
        _write(self.root / self.spec["state_file"], "".join(lines))


def main(stack, args: list[str], out=sys.stdout, err=sys.stderr) -> int:
    if args and (args[0] != "rotate" or len(args) != 2):
        err.write("usage: secrets.sh [rotate NAME]\n")
        return 2
    old = os.umask(0o077)  # what it writes is its owner's alone
    try:
        Secrets(stack.root, stack.secrets, out).run(args[1] if args else "")
        return 0
    except SecretsError as e:
        err.write(f"{e}\n")
        return e.code
    finally:
        os.umask(old)
