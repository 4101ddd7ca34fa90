"""How the deploy's commands become root on a target.

A target file says `_sudo = True` (pyinfra's own key) when its SSH account is not root, as on the
NAS. The inventory hands that to this module instead of to pyinfra, because pyinfra's sudo puts
the password in the remote command line (readable in `ps` on the NAS while the command runs) and
copies every upload with one more sudo step. Here:

- every command runs as `sudo -S`, reading the password (if one was given) from the command's
  stdin: never argv, never a file, never pyinfra's output; a NOPASSWD rule reads nothing. The
  root shell then closes its stdin, so no script ever reads the password;
- uploads go as the SSH account to its temp folder (`_temp_dir`), one archive per group, and one
  command as root puts them in place (deploys/converge/operations.py).

The password is given once: MARKETPLACE_SUDO_PASSWORD, or asked on the terminal when
MARKETPLACE_ASK_SUDO=1, or, with neither set (a target this machine provisions itself: staging's
DSM stand-in), the 0600 file `make setup` made, `<MARKETPLACE_STATE>/<target>-sudo-password`,
read when it is needed (so a first `make deploy` finds the file its own setup step just wrote).
Without one, a rule that wants a password fails with a message that
says so (sudo finds stdin empty; `sudo -n`'s own words would make pyinfra prompt by itself).
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path

from pyinfra.api import QuoteString, StringCommand
from pyinfra.connectors import util as _pyinfra_util

from deploys.catalog import STATE

# pyinfra prompts on its own (getpass, which dies without a terminal) when a command's output
# holds sudo's "a password is required"; our sudo takes its password from us only.
_pyinfra_util.SUDO_PASSWORD_REQUIRED_LINES = ()

# sudo's own words when it read no password, or a wrong one, from stdin (sudo -S).
PASSWORD_REFUSED = ("sudo: no password was provided", "sudo: a password is required",
                    "incorrect password attempt")
_asked: dict[str, str] = {}


@dataclass(frozen=True)
class Become:
    """Root on the target: already (`sudo` False), or through sudo as the SSH account."""

    sudo: bool
    account: str = "root"
    target: str | None = None

    @classmethod
    def of(cls, data) -> Become:
        """From a pyinfra host's data (the inventory sets `become`, `ssh_user` and `target`)."""
        return cls(getattr(data, "become", "root") == "sudo", getattr(data, "ssh_user", None) or "root",
                   getattr(data, "target", None))

    @property
    def password(self) -> str | None:
        if not self.sudo:
            return None
        if "MARKETPLACE_SUDO_PASSWORD" in os.environ:  # set, even empty: the operator's word
            return os.environ["MARKETPLACE_SUDO_PASSWORD"] or None
        if os.environ.get("MARKETPLACE_ASK_SUDO") == "1":
            if self.account not in _asked:
                _asked[self.account] = getpass.getpass(f"sudo password of {self.account} on the target: ")
            return _asked[self.account]
        made = self.made_here()
        return made.read_text().strip() if made else None

    def made_here(self) -> Path | None:
        """The sudo password file `make setup` made for this target on this machine, if any."""
        if not self.target:
            return None
        path = STATE / f"{self.target}-sudo-password"
        return path if path.is_file() else None

    def command(self, command: StringCommand | str) -> StringCommand:
        """The command as root: unchanged for a root account, else through sudo."""
        if isinstance(command, str):
            command = StringCommand(command)
        if not self.sudo:
            return command
        inner = StringCommand("exec </dev/null;", command)
        return StringCommand("sudo", "-S", "-p", "''", "-H", "--", "sh", "-c", QuoteString(inner))

    def script(self, text: str) -> StringCommand:
        """A rendered POSIX sh script (templates/commands/), run as root."""
        return self.command(StringCommand("sh", "-c", QuoteString(text)))

    def arguments(self) -> dict[str, str]:
        """pyinfra global arguments for an operation or fact: the password on stdin, if any."""
        password = self.password
        return {"_stdin": password + "\n"} if password else {}

    def describe(self) -> str:
        """How commands become root, for the preflight report."""
        if not self.sudo:
            return "the SSH account is root"
        return f"{self.account} through sudo " + ("(password on stdin)" if self.password else "(no password: NOPASSWD)")

    def explain(self, lines: list[str]) -> str | None:
        """A clear message when sudo wanted a password it did not get."""
        if any(words in line for line in lines for words in PASSWORD_REFUSED):
            return self.refused()
        return None

    def refused(self) -> str:
        if not self.sudo:
            return "Its SSH account is root: see the error above."
        if self.password:
            return f"sudo refused {self.account}'s password (MARKETPLACE_SUDO_PASSWORD or the one asked)."
        return (f"sudo on the target wants {self.account}'s password: set MARKETPLACE_SUDO_PASSWORD, "
                "or MARKETPLACE_ASK_SUDO=1 to be asked once (or give the account a NOPASSWD sudo rule).")
