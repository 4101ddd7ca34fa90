"""A DSM Task Scheduler for unit tests: the DSM stand-in's own program (files/nas-standin,
answering from DSM's API table) with its store in a temporary folder, and the deploy's own
rendered shell (the read of templates/lib/dsm_read.sh.j2, the converge command) pointed at it.
Nothing here re-implements a call: what the deploy would send is what runs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

from deploys.render import dsm
from deploys.render.templates import template

STANDIN = Path(__file__).resolve().parent.parent.parent / "files" / "nas-standin" / "dsm-standin"  # the launcher
TABLE = STANDIN.parent / "dsm-api" / "SYNO.Core.json"


class FakeNas:
    """synowebapi at `bin/synowebapi` under `root`; the deploy's commands run with that path."""

    def __init__(self, root: Path, project: str = "stack"):
        self.root, self.project = root, project
        (root / "bin").mkdir(parents=True, exist_ok=True)
        self.tool = root / "bin" / "synowebapi"
        if not self.tool.exists():
            self.tool.symlink_to(STANDIN)
        self.env = {**os.environ, "DSM_STANDIN_HOME": str(root / "store")}

    def older_dsm(self, override: dict) -> None:
        """Play another DSM: entries of the API table replaced (None: the API removed)."""
        (self.root / "store").mkdir(parents=True, exist_ok=True)
        (self.root / "store" / "api-override.json").write_text(json.dumps(override))

    def api(self, api_name: str, method: str, version: int, /, **params) -> dict:
        """One call as an operator would make it in DSM (not the deploy's)."""
        argv = [str(self.tool), "-s", "--exec", f"api={api_name}", f"method={method}", f"version={version}",
                *(f"{k}={json.dumps(v)}" for k, v in params.items())]
        return json.loads(subprocess.run(argv, capture_output=True, text=True, env=self.env).stdout)

    def sh(self, script: str) -> subprocess.CompletedProcess:
        script = script.replace(dsm.SYNOWEBAPI, str(self.tool))
        return subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=self.env)

    def read(self, tasks: list[dsm.Task]) -> dsm.Held:
        """The deploy's own read (lib/dsm_read.sh.j2's dsm_read), parsed as the deploy parses it."""
        text = template("lib/dsm_read.sh.j2").render(c=SimpleNamespace(project_name=self.project),
                                                     dsm_tasks=tasks)
        run = self.sh(text + "\ndsm_read\n")
        assert run.returncode == 0, run.stderr
        lines = run.stdout.splitlines()
        assert lines[0] == "@dsm", lines[:3]
        return dsm.parse(lines[1:])

    def converge(self, tasks: list[dsm.Task]) -> list[dsm.Call]:
        """One deploy's worth: read, decide, apply through the converge command; the calls made."""
        calls = dsm.calls(tasks, self.read(tasks), self.project)
        if calls:
            catalog = SimpleNamespace(project_name=self.project, target="test")
            run = self.sh(template("commands/dsm_tasks.sh.j2").render(c=catalog, calls=calls))
            assert run.returncode == 0, run.stdout + run.stderr
        return calls

    def scheduled(self) -> dict[str, list[dict]]:
        rows = self.api("SYNO.Core.TaskScheduler", "list", 3)["data"]["tasks"]
        got: dict[str, list[dict]] = {}
        for row in rows:
            answer = self.api("SYNO.Core.TaskScheduler", "get", 4, id=row["id"], real_owner=row["real_owner"])
            got.setdefault(row["name"], []).append(answer["data"])
        return got


def offered(method: dsm.Method) -> bool:
    """Whether DSM 7.2.2's table offers this method at this version of this API."""
    if method.api == "SYNO.API.Info":
        return (method.method, method.version) == ("query", 1)
    entry = json.loads(TABLE.read_text()).get(method.api)
    return bool(entry) and method.method in entry["methods"].get(str(method.version), [])
