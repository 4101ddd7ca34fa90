"""The commands the deploy and the ops commands send to the target, rendered from
templates/commands/ (POSIX sh: they run before anything of ours exists there). Python passes
values; the templates hold the shell."""

from __future__ import annotations

from deploys import layout
from deploys.catalog import Catalog
from deploys.layout import ManagedFile
from deploys.render.templates import shell_context, template


def command(catalog: Catalog, name: str, **values) -> str:
    """A command that runs on the target (templates/commands/NAME.sh.j2), rendered."""
    return template(f"commands/{name}.sh.j2").render(**shell_context(catalog), **values)


def state_command(catalog: Catalog, desired) -> str:
    """The StackState fact's command (templates/commands/state.sh.j2) for a plan.Desired."""
    return command(catalog, "state", dirs=desired.dirs, files=desired.state_files,
                   routes=desired.probes, shared_config_file=desired.shared_config_file,
                   dsm_tasks=desired.dsm_tasks)


def install_command(catalog: Catalog, pushes: list[tuple[ManagedFile, str]], archive: str | None = None,
                    validate: list[str] | None = None) -> str:
    """templates/commands/install.sh.j2 for (file, "upload" | "fix") pairs of one group: the
    uploads come in `archive` (see upload_archive); `validate` (argv, `{}` an uploaded file)
    must accept each of them before any is put in place."""
    by_mode: dict[str, list[str]] = {}
    moves, checks = [], []
    for mf, action in pushes:
        path = mf.path + layout.TEMP_SUFFIX if action == "upload" else mf.path
        by_mode.setdefault(f"{mf.mode:o}", []).append(path)
        if action == "upload":
            moves.append((path, mf.path))
            if validate:
                checks.append([a.replace("{}", f"{catalog.deploy_root}/{path}") for a in validate])
    return command(catalog, "install", by_mode=dict(sorted(by_mode.items())), moves=moves,
                   archive=archive if moves else None, checks=checks)


def upload_archive(pushes: list[tuple[ManagedFile, str]]) -> bytes:
    """The files of a group to upload, in one tar archive (names relative to the deploy root,
    each with the temporary suffix install.sh.j2 expects)."""
    import io
    import tarfile
    import time

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for mf, action in pushes:
            if action != "upload":
                continue
            info = tarfile.TarInfo(mf.path + layout.TEMP_SUFFIX)
            info.size, info.mode, info.mtime = len(mf.content), 0o600, int(time.time())
            tar.addfile(info, io.BytesIO(mf.content))
    return buffer.getvalue()
