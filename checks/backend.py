"""A testinfra backend over pyinfra's own connection to a target (`--hosts=pyinfra://TARGET`):
the checks reach the target exactly as the deploy does (the inventory's SSH user, key, port;
root through deploys/target/access.py, sudo with the password on stdin), over ONE SSH connection for
the whole run. Checks only read: every command they run is a read."""

from __future__ import annotations

import shlex
from typing import Any

from testinfra.backend import base

MARK = "__checks_exit_status="


class PyinfraBackend(base.BaseBackend):
    NAME = "pyinfra"

    def __init__(self, hostname: str, *args: Any, **kwargs: Any):
        super().__init__(hostname, *args, **kwargs)
        self._target = None

    def run(self, command: str, *args: str, **kwargs: Any) -> base.CommandResult:
        from deploys.ops.remote import Target

        if self._target is None:
            self._target = Target(self.hostname)
        text = self.quote(command, *args)
        # pyinfra reports success, not the exit status: the command prints it last
        _, stdout, stderr = self._target.shell(f'sh -c {shlex.quote(text)}; echo "{MARK}$?"')
        last = stdout.pop() if stdout else ""
        head, _, status = last.rpartition(MARK)
        if head:
            stdout.append(head)
        rc = int(status) if status.isdigit() else 255
        out = "".join(f"{line}\n" for line in stdout)
        err = "".join(f"{line}\n" for line in stderr)
        return self.result(rc, self.encode(text), out, err)
