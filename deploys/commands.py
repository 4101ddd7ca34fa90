"""The commands the deploy and the ops commands send to the target, rendered from
templates/commands/ (POSIX sh: they run before anything of ours exists there). Python passes
values; the templates hold the shell."""

from __future__ import annotations

from deploys import layout
from deploys.catalog import Catalog
from deploys.layout import ManagedFile
from deploys.templates import shell_context, template


def command(catalog: Catalog, name: str, **values) -> str:
    """A command that runs on the target (templates/commands/NAME.sh.j2), rendered."""
    return template(f"commands/{name}.sh.j2").render(**shell_context(catalog), **values)


def state_command(catalog: Catalog, desired) -> str:
    """The StackState fact's command (templates/commands/state.sh.j2) for a plan.Desired."""
    return command(catalog, "state", dirs=desired.dirs, files=desired.state_files,
                   routes=desired.probes, shared_config_file=desired.shared_config_file)


def install_command(catalog: Catalog, pushes: list[tuple[ManagedFile, str]]) -> str:
    """templates/commands/install.sh.j2 for (file, "upload" | "fix") pairs of one group."""
    by_mode: dict[str, list[str]] = {}
    moves = []
    for mf, action in pushes:
        path = mf.path + layout.TEMP_SUFFIX if action == "upload" else mf.path
        by_mode.setdefault(f"{mf.mode:o}", []).append(path)
        if action == "upload":
            moves.append((path, mf.path))
    return command(catalog, "install", by_mode=dict(sorted(by_mode.items())), moves=moves)
