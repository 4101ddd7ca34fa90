"""A release's state machine: apply (the backup of the databases it changes, its files
recorded, converge, gate; on failure back to the last good release), rollback by hand, and
the pruning of what is beyond housekeeping.keep_releases.

`Release` takes its collaborators (the records, the converge, the engine, the pre-release
backup) so that its decisions are tested without Docker."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from nasops.release.records import ImageRecord, Releases


class NothingToRecord(Exception):
    """No container of the stack runs."""


@dataclass
class Release:
    stack: object
    records: Releases
    converge: object  # converge(failed_file, tasks_dir=None) -> bool; .prepare_rollback() -> bool
    engine: object  # nasops.engine.Engine's shape: services(), digests(), tag(), image_tags(), remove_image()
    backup: Callable[[str, list[str]], str]  # (release id, databases) -> the pre-release backup's id
    out: object
    err: object
    monotonic: Callable[[], float] = time.monotonic

    def audit(self, text: str) -> None:
        self.stack.audit(text)
        self.out.write(f"release: {text}\n")
        self.out.flush()

    # -- what ran --

    def running_images(self) -> list[ImageRecord]:
        seen = self.engine.services()
        if not seen:
            raise NothingToRecord("release: no container of the stack to record")
        return [ImageRecord(name, run.image, run.image_id, ",".join(self.engine.digests(run.image_id)) or "-")
                for name, run in sorted(seen.items())]

    def record_images(self, release_id: str) -> bool:
        try:
            self.records.write_images(release_id, self.running_images())
            return True
        except NothingToRecord as e:
            self.err.write(f"{e}\n")
            return False

    def restore(self, release_id: str) -> None:
        """That release's files and images back in place (data volumes untouched)."""
        self.records.restore_files(release_id)
        for rec in self.records.images(release_id):
            self.engine.tag(rec.image_id, rec.tag)

    # -- apply --

    def apply(self, release_id: str, databases: list[str]) -> int:
        records, folder = self.records, self.records.dir(release_id)
        folder.mkdir(parents=True, exist_ok=True)
        records.set_status(release_id, "applying")
        good = records.pointer("last-good")
        self.audit(f"{release_id} applying (last good: {good or 'none'})")
        if databases:  # the data before a release that changes these databases' schema
            try:
                backup_id = self.backup(release_id, databases)
            except Exception as e:  # noqa: BLE001 - whatever stopped it, nothing was changed yet
                records.set_status(release_id, "failed")
                self.audit(f"{release_id} FAILED: the backup of {' '.join(databases)} before it did not complete ({e})")
                self.err.write(f"release {release_id} failed before anything changed: its backup did not complete "
                               f"(releases/{release_id}/backup.log); release {good or 'none'} still runs\n")
                return 1
            (folder / "backup").write_text(f"{backup_id}\n")
            self.audit(f"{release_id} backup {backup_id} of {' '.join(databases)}: the data before this release")
        records.record_files(release_id, self.stack.release["managed"])
        if self._converged(folder / "failed-services", folder / "tasks"):
            self.record_images(release_id)
            records.set_pointers(release_id)
            self.prune()
            records.set_status(release_id, "good")  # the last word of a release
            self.audit(f"{release_id} good: every service healthy, every route answers")
            return 0
        self.record_images(release_id)  # what ran, if anything did
        failed_task = records.read(release_id, "failed-task").strip()
        if failed_task:
            failing = f"release task {failed_task}"
            self.audit(f"{release_id} FAILED: its {failing}; no app was switched")
        else:
            failing = " ".join(records.read(release_id, "failed-services").split())
            self.audit(f"{release_id} FAILED its health gate: {failing or 'the stack did not start'}")
        if not good:
            records.set_status(release_id, "failed")
            self.err.write(f"release {release_id} failed ({failing or 'start'}) and there is no good release to roll back to\n")
            return 1
        if self.back_to(good, f"{release_id} failed"):
            if failed_task:  # nothing of it ever served: failed, its files put back
                records.set_status(release_id, "failed")
                self.err.write(f"release {release_id} failed ({failing}) before any app was switched: "
                               f"release {good} still serves, healthy\n")
            else:
                records.set_status(release_id, f"rolled-back-to:{good}")
                self.err.write(f"release {release_id} failed ({failing or 'start'}); rolled back: "
                               f"running now is release {good}, healthy\n")
            self.offer_backups(good, self.err)
        else:
            records.set_status(release_id, "failed")
            self.err.write(f"release {release_id} failed and the rollback to {good} did not get healthy\n")
        return 1

    def _converged(self, failed_file, tasks_dir=None, prepare: bool = False) -> bool:
        """The converge's answer; one that stopped on an error is a failed one (the release goes
        on to its rollback and its last status, never left `applying`)."""
        try:
            if prepare and not self.converge.prepare_rollback():
                return False
            return self.converge(failed_file, tasks_dir) if tasks_dir is not None else self.converge(failed_file)
        except Exception as e:  # noqa: BLE001 - whatever stopped it, the stack is what the gate says
            self.err.write(f"release: the converge stopped: {type(e).__name__}: {e}\n")
            return False

    def back_to(self, release_id: str, why: str) -> bool:
        """Restore a good release, converge it, say what runs now."""
        t0 = self.monotonic()
        self.audit(f"rolling back to {release_id} ({why})")
        self.restore(release_id)
        if self._converged(self.records.dir(release_id) / "rollback-failed", prepare=True):
            self.records.set_pointers(release_id)
            self.audit(f"rolled back to {release_id}: healthy after {int(self.monotonic() - t0)} s")
            return True
        self.audit(f"rollback to {release_id} FAILED: the stack is not healthy; see above")
        return False

    # -- by hand --

    def previous_good(self) -> str:
        """The newest good release older than the current one."""
        current = self.records.pointer("current")
        for rid in reversed(self.records.ids()):
            if current and rid >= current:
                continue
            if self.records.status(rid) == "good":
                return rid
        return ""

    def rollback(self, target: str | None, listing: Callable[[], str]) -> int:
        target = target or self.previous_good()
        if not target:
            self.err.write(f"there is no good release before the current one ({self.records.pointer('current') or 'none'}) "
                           f"to go back to; the recorded releases:\n{listing()}")
            return 2
        if not (self.records.dir(target) / "images").is_file():
            self.err.write(f"no recorded release {target} to go back to; the recorded releases:\n{listing()}")
            return 2
        if not self.back_to(target, "rollback by hand"):
            return 1
        self.offer_backups(target, self.out)
        return 0

    def offer_backups(self, release_id: str, to) -> None:
        """The backups taken before the releases after release_id: their databases' data as
        release_id knew it, if one of them changed a schema."""
        for rid in self.records.ids():
            backup_id = self.records.read(rid, "backup").strip()
            if not backup_id or rid <= release_id:
                continue
            backed = next((line.split("backing up ", 1)[1] for line in self.records.read(rid, "backup.log").splitlines()
                           if "backing up " in line), "")
            to.write(f"release: {rid} changed the schema of {backed}; if {release_id} cannot use it, its data from before "
                     f"is backup {backup_id}: make restore BACKUP={backup_id}\n")

    # -- pruning --

    def prune(self) -> None:
        """After a good release: keep the newest keep_releases releases (the current and the last
        good one always), then remove the images only the removed ones used (never forced: an
        image a container uses stays, another site's are safe)."""
        keep = self.stack.release["keep"]
        removed = prunable(self.records.ids(), keep, self.records.pointer("current"), self.records.pointer("last-good"))
        if not removed:
            return
        kept_images, gone_images = set(), []
        for rid in self.records.ids():
            for rec in self.records.images(rid):
                if rid in removed:
                    gone_images.append(rec.image_id)
                else:
                    kept_images.add(rec.image_id)
        for rid in removed:
            _remove_tree(self.records.dir(rid))
        self.audit(f"pruned {len(removed)} release(s) beyond the newest {keep}: {' '.join(removed)}")
        for image_id in dict.fromkeys(gone_images):
            if image_id in kept_images:
                continue
            tags = self.engine.image_tags(image_id)
            if tags is None:
                continue  # already gone
            for ref in tags or [image_id]:
                if self.engine.remove_image(ref):
                    self.audit(f"removed image {ref} ({image_id}): used only by pruned releases")


def prunable(ids: list[str], keep: int, current: str, good: str) -> list[str]:
    """The releases beyond the newest `keep`, never the current or the last good one; oldest
    first."""
    newest_first = [rid for rid in sorted(ids, reverse=True) if rid[:1] == "2"]
    return sorted(rid for n, rid in enumerate(newest_first, 1) if n > keep and rid not in (current, good))


def _remove_tree(path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
