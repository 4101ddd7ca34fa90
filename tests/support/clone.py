"""A git clone of this repository for the end-to-end tests: commit changes to it, deploy from
it with the usual command (releases come from its commits, as they would from ops' checkout)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.staging import ENV, REPO

VENV_BIN = Path(sys.executable).parent


class Clone:
    """A git clone of this repository: commit changes to it, deploy from it."""

    def __init__(self, path: Path):
        self.path = path
        subprocess.run(["git", "clone", "-q", str(REPO), str(path)], check=True)
        self.git("config", "user.email", "e2e@example.invalid")
        self.git("config", "user.name", "e2e")
        self.env = dict(ENV)

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-C", str(self.path), *args], capture_output=True, text=True,
                              check=True).stdout.strip()

    def commit(self, message: str, edits: dict[str, tuple[str, str]] | None = None,
               append: dict[str, str] | None = None) -> str:
        for rel, (old, new) in (edits or {}).items():
            text = (self.path / rel).read_text()
            assert old in text, (rel, old)
            (self.path / rel).write_text(text.replace(old, new))
        for rel, extra in (append or {}).items():
            with open(self.path / rel, "a") as fh:
                fh.write(extra)
        self.git("commit", "-qam", message)
        return self.git("rev-parse", "HEAD")

    def argv(self) -> list[str]:
        return [str(VENV_BIN / "pyinfra"), "-y", "inventory.py", "deploys/marketplace.py"]

    def deploy(self) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(), cwd=self.path, env=self.env, capture_output=True, text=True)

    def start(self) -> subprocess.Popen:
        return subprocess.Popen(self.argv(), cwd=self.path, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def rendered(self) -> dict[str, str]:
        """path -> sha256 of every file the clone's HEAD renders for staging."""
        code = ("import json; from deploys import catalog; from deploys.render import render; "
                "print(json.dumps({p: m.sha256 for p, m in render(catalog.load('staging')).items()}))")
        return json.loads(subprocess.run([sys.executable, "-c", code], cwd=self.path, capture_output=True,
                                         text=True, check=True).stdout)
