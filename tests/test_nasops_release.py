"""The release's state machine (nasops release): what apply records and decides, its rollback,
a failed release task, a failed pre-release backup, the pruning of releases and their images,
and the converge's order of steps, with fakes at the engine and command boundaries."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from nasops.engine import Running
from nasops.release import commands
from nasops.release.apply import Release, prunable
from nasops.release import converge as converge_module
from nasops.release.converge import Converge
from nasops.release.records import ImageRecord, Releases
from tests.nasops_fixtures import stack_in


class FakeEngine:
    """What a release reads of the engine and does to its images: {service: (tag, image id)}."""

    def __init__(self, running=None, images=None):
        self.running = dict(running or {"web": ("web:1", "sha256:aaa"), "db": ("postgres:16", "sha256:ddd")})
        self.images = dict(images or {})  # image id -> its tags
        self.tagged, self.removed = [], []
        self.in_use = set()

    def services(self):
        return {name: Running(name, "running", "healthy", image=tag, image_id=iid)
                for name, (tag, iid) in self.running.items()}

    def digests(self, image_id):
        return [f"reg/{image_id[-3:]}@sha256:0{image_id[-3:]}"] if image_id.endswith("ddd") else []

    def tag(self, image_id, ref):
        self.tagged.append((image_id, ref))

    def image_tags(self, image_id):
        return self.images.get(image_id)

    def remove_image(self, ref):
        if ref in self.in_use:
            return False
        self.removed.append(ref)
        return True


class FakeConverge:
    """Answers in turn (True: healthy); a release task's failure writes failed-task as the real one."""

    def __init__(self, *answers, failed_services="", failed_task="", prepared=True):
        self.answers, self.calls = list(answers), []
        self.failed_services, self.failed_task, self.prepared = failed_services, failed_task, prepared

    def prepare_rollback(self):
        self.calls.append("prepare")
        return self.prepared

    def __call__(self, failed_file, tasks_dir=None):
        self.calls.append(("converge", Path(failed_file).parent.name, tasks_dir is not None))
        ok = self.answers.pop(0)
        if not ok:
            Path(failed_file).write_text(self.failed_services)
            if self.failed_task and tasks_dir is not None:
                (Path(tasks_dir).parent / "failed-task").write_text(self.failed_task)
        return ok


@pytest.fixture
def site(tmp_path):
    stack = stack_in(tmp_path)
    stack.raw["release"]["managed"] = ["docker-compose.yml", "scripts/release.sh", "gone/never-written"]
    (tmp_path / "scripts").mkdir()
    (tmp_path / "docker-compose.yml").write_text("services: {web: {image: web:1}}\n")
    (tmp_path / "scripts/release.sh").write_text("#!/bin/bash\n")
    os.chmod(tmp_path / "scripts/release.sh", 0o755)
    stack.path("releases").mkdir(parents=True)
    return stack


def release_of(stack, converge, engine=None, backup=None):
    out, err = io.StringIO(), io.StringIO()
    r = Release(stack, Releases.of(stack), converge, engine or FakeEngine(),
                backup or (lambda rid, names: pytest.fail("no backup expected")), out, err, monotonic=iter(range(100)).__next__)
    return r, out, err


def audit(stack):
    return [line.split(" ", 1)[1] for line in stack.file(stack.raw["paths"]["audit_log"]).read_text().splitlines()]


def test_a_good_release_records_its_files_and_images_and_becomes_current(site):
    release, out, _ = release_of(site, FakeConverge(True))
    assert release.apply("20261206T100000Z-abc", []) == 0
    records = Releases.of(site)
    assert records.status("20261206T100000Z-abc") == "good"
    assert records.pointer("current") == records.pointer("last-good") == "20261206T100000Z-abc"
    assert records.recorded_files("20261206T100000Z-abc") == ["docker-compose.yml", "scripts/release.sh"]
    copy = records.dir("20261206T100000Z-abc") / "files/scripts/release.sh"
    assert copy.read_text() == "#!/bin/bash\n" and copy.stat().st_mode & 0o777 == 0o755
    assert records.read("20261206T100000Z-abc", "images") == (
        "db postgres:16 sha256:ddd reg/ddd@sha256:0ddd\nweb web:1 sha256:aaa -\n")
    assert audit(site) == ["20261206T100000Z-abc applying (last good: none)",
                           "20261206T100000Z-abc good: every service healthy, every route answers"]
    assert "release: 20261206T100000Z-abc good" in out.getvalue()


def test_the_files_sha256_is_what_sha256sum_checks(site):
    release, _, _ = release_of(site, FakeConverge(True))
    release.apply("20261206T100000Z-abc", [])
    sums = Releases.of(site).dir("20261206T100000Z-abc") / "files.sha256"
    subprocess.run(["sha256sum", "--check", "--quiet", str(sums)], cwd=site.root, check=True)


def test_a_release_that_fails_its_gate_is_rolled_back_to_the_last_good_one(site):
    good, _, _ = release_of(site, FakeConverge(True))
    good.apply("20261206T100000Z-old", [])
    (site.root / "docker-compose.yml").write_text("services: {web: {image: web:2}}\n")
    engine = FakeEngine()
    converge = FakeConverge(False, True, failed_services="web\n")
    release, _, err = release_of(site, converge, engine)
    assert release.apply("20261206T110000Z-new", []) == 1
    records = Releases.of(site)
    assert records.status("20261206T110000Z-new") == "rolled-back-to:20261206T100000Z-old"
    assert records.pointer("current") == "20261206T100000Z-old"
    # the old release's files are back, and its images tagged again
    assert (site.root / "docker-compose.yml").read_text() == "services: {web: {image: web:1}}\n"
    assert engine.tagged == [("sha256:ddd", "postgres:16"), ("sha256:aaa", "web:1")]
    # the rollback re-wrote the secrets and checked the files before its converge, and ran no task
    assert converge.calls == [("converge", "20261206T110000Z-new", True), "prepare",
                              ("converge", "20261206T100000Z-old", False)]
    assert "20261206T110000Z-new FAILED its health gate: web" in audit(site)
    assert "running now is release 20261206T100000Z-old, healthy" in err.getvalue()


def test_a_failed_release_task_fails_the_release_before_any_app_was_switched(site):
    release_of(site, FakeConverge(True))[0].apply("20261206T100000Z-old", [])
    release, _, err = release_of(site, FakeConverge(False, True, failed_task="killbill/migrate (exit 3)\n"))
    assert release.apply("20261206T110000Z-new", []) == 1
    assert Releases.of(site).status("20261206T110000Z-new") == "failed"
    assert "20261206T110000Z-new FAILED: its release task killbill/migrate (exit 3); no app was switched" in audit(site)
    assert "before any app was switched: release 20261206T100000Z-old still serves" in err.getvalue()


def test_with_no_good_release_a_failure_is_only_reported(site):
    converge = FakeConverge(False)
    release, _, err = release_of(site, converge)
    assert release.apply("20261206T100000Z-first", []) == 1
    assert Releases.of(site).status("20261206T100000Z-first") == "failed"
    assert Releases.of(site).pointer("current") == ""
    assert converge.calls == [("converge", "20261206T100000Z-first", True)]
    assert "no good release to roll back to" in err.getvalue()


def test_a_rollback_that_does_not_get_healthy_says_so(site):
    release_of(site, FakeConverge(True))[0].apply("20261206T100000Z-old", [])
    release, _, err = release_of(site, FakeConverge(False, False, failed_services="web\n"))
    assert release.apply("20261206T110000Z-new", []) == 1
    assert Releases.of(site).status("20261206T110000Z-new") == "failed"
    assert "rollback to 20261206T100000Z-old FAILED: the stack is not healthy; see above" in audit(site)
    assert "did not get healthy" in err.getvalue()


def test_a_pre_release_backup_is_taken_first_and_its_failure_changes_nothing(site):
    converge = FakeConverge()
    release, _, err = release_of(site, converge, backup=lambda rid, names: (_ for _ in ()).throw(RuntimeError("disk full")))
    assert release.apply("20261206T100000Z-abc", ["killbill"]) == 1
    assert converge.calls == []
    assert Releases.of(site).status("20261206T100000Z-abc") == "failed"
    assert "its backup did not complete" in err.getvalue()
    assert not (site.root / "releases/20261206T100000Z-abc/files.sha256").exists()

    taken = []
    release, _, _ = release_of(site, FakeConverge(True), backup=lambda rid, names: taken.append((rid, names)) or "20261206T110001Z")
    assert release.apply("20261206T110000Z-def", ["killbill", "kaui"]) == 0
    assert taken == [("20261206T110000Z-def", ["killbill", "kaui"])]
    assert Releases.of(site).read("20261206T110000Z-def", "backup") == "20261206T110001Z\n"


def test_a_rollback_offers_the_backups_taken_before_the_releases_it_undoes(site):
    release_of(site, FakeConverge(True))[0].apply("20261206T100000Z-old", [])
    records = Releases.of(site)
    release, _, err = release_of(site, FakeConverge(False, True, failed_services="web\n"),
                                 backup=lambda rid, names: "20261206T110001Z")
    (records.folder / "20261206T110000Z-new").mkdir()
    (records.folder / "20261206T110000Z-new/backup.log").write_text("backup: backing up killbill kaui\n")
    assert release.apply("20261206T110000Z-new", ["killbill"]) == 1
    assert ("release: 20261206T110000Z-new changed the schema of killbill kaui; if 20261206T100000Z-old cannot use it, "
            "its data from before is backup 20261206T110001Z: make restore BACKUP=20261206T110001Z") in err.getvalue()


def test_rollback_by_hand_goes_to_the_newest_good_release_before_the_current_one(site):
    for rid in ("20261206T090000Z-a", "20261206T100000Z-b", "20261206T110000Z-c"):
        release_of(site, FakeConverge(True))[0].apply(rid, [])
    records = Releases.of(site)
    records.set_status("20261206T100000Z-b", "rolled-back-to:20261206T090000Z-a")
    release, out, _ = release_of(site, FakeConverge(True))
    assert release.previous_good() == "20261206T090000Z-a"
    assert release.rollback(None, lambda: "") == 0
    assert records.pointer("current") == records.pointer("last-good") == "20261206T090000Z-a"
    assert "rolling back to 20261206T090000Z-a (rollback by hand)" in audit(site)


def test_rollback_refuses_what_is_not_there(site):
    release, _, err = release_of(site, FakeConverge())
    assert release.rollback(None, lambda: "LISTING\n") == 2
    assert "there is no good release before the current one (none)" in err.getvalue() and "LISTING" in err.getvalue()
    assert release.rollback("20990101T000000Z-x", lambda: "") == 2
    assert "no recorded release 20990101T000000Z-x" in err.getvalue()


@pytest.mark.parametrize("ids,keep,current,good,expect", [
    (["20261201", "20261202", "20261203"], 5, "20261203", "20261203", []),
    (["20261201", "20261202", "20261203", "20261204"], 2, "20261204", "20261204", ["20261201", "20261202"]),
    # the current and the last good one are kept whatever their age
    (["20261201", "20261202", "20261203", "20261204"], 1, "20261201", "20261202", ["20261203"]),
    # only release folders count ("2..."), not the pointers' or anything else
    (["20261201", "20261202", "audit", "lost+found"], 1, "20261202", "20261202", ["20261201"]),
])
def test_which_releases_are_pruned(ids, keep, current, good, expect):
    assert prunable(ids, keep, current, good) == expect


def test_pruning_removes_the_images_only_pruned_releases_used(site):
    site.raw["release"]["keep"] = 1
    records = Releases.of(site)
    for rid, image in (("20261206T090000Z-a", "sha256:old"), ("20261206T100000Z-b", "sha256:aaa")):
        records.dir(rid).mkdir()
        records.write_images(rid, [ImageRecord("web", f"web:{rid[-1]}", image, "-"),
                                   ImageRecord("db", "postgres:16", "sha256:ddd", "-")])
    engine = FakeEngine(images={"sha256:old": ["web:a", "web:old-alias"], "sha256:ddd": ["postgres:16"]})
    engine.in_use = {"web:old-alias"}
    release, _, _ = release_of(site, FakeConverge(True), engine)
    assert release.apply("20261206T110000Z-c", []) == 0
    # keep=1 and current=last-good=c: a and b go; b's image is c's too (aaa) and stays, ddd is c's too
    assert records.ids() == ["20261206T110000Z-c"]
    assert engine.removed == ["web:a"]  # the alias is in use: never forced
    assert "removed image web:a (sha256:old): used only by pruned releases" in audit(site)


def test_the_listing_is_one_line_per_release_then_the_pointers_and_the_lock(site):
    records = Releases.of(site)
    records.dir("20261206T100000Z-b").mkdir()
    records.set_status("20261206T100000Z-b", "good")
    (records.dir("20261206T100000Z-b") / "deploy.json").write_text(json.dumps({"by": "ops"}, indent=1))
    records.dir("20261206T110000Z-c").mkdir()  # no deploy.json: not listed (a release being made)
    records.set_pointers("20261206T100000Z-b")
    lock = site.file(site.raw["paths"]["lock_dir"])
    lock.mkdir(parents=True)
    (lock / "owner").write_text('{"by": "ops"}\n')
    assert commands.listing(site, records) == (
        '20261206T100000Z-b\tgood\t{ "by": "ops"}\n'
        "current\t20261206T100000Z-b\nlast-good\t20261206T100000Z-b\n"
        'lock\t{"by": "ops"}\n')


def test_the_command_refuses_a_bad_call(site):
    err = io.StringIO()
    assert commands.main(site, ["apply"], lambda: pytest.fail("no engine needed"), io.StringIO(), err) == 2
    assert commands.main(site, ["frobnicate"], lambda: pytest.fail("no engine needed"), io.StringIO(), err) == 2
    assert err.getvalue().count("usage: release.sh") == 2


class Commands:
    """subprocess.run's shape: every command recorded, the answers by the argv's first words."""

    def __init__(self, fail=()):
        self.argvs, self.fail = [], fail

    def __call__(self, argv, cwd=None, stdout=None, stderr=None):
        self.argvs.append(argv)
        if hasattr(stdout, "write"):
            stdout.write(b"task output\n")
        rc = 4 if any(argv[1:1 + len(f)] == list(f) for f in self.fail) else 0
        return subprocess.CompletedProcess(argv, rc)


def converge_of(stack, commands_run, steps_done):
    c = Converge(stack, client=None, out=io.StringIO(), err=io.StringIO(), run=commands_run, prober=object(),
                 steps={"databases": lambda: steps_done.append("databases") or True,
                        "tenant": lambda: steps_done.append("tenant") or True,
                        "stack_deploy": lambda failed, dbs: steps_done.append(("stack", failed.name, dbs)) or True,
                        "switch": lambda failed: steps_done.append("switch") or True,
                        "reload": lambda failed: steps_done.append("reload") or True,
                        "one_off": lambda task, log: steps_done.append(("task", task["name"])) or (
                            log.write_text("one-off output\n") and (4 if task["name"] == "broken" else 0))})
    c.gate = lambda failed_file: steps_done.append("gate") or True
    return c


def test_compose_converge_order_databases_tasks_apps_gate_tenant(site, tmp_path):
    site.raw["release"].update(database_services=["postgres"], wait_timeout_s=120,
                               tasks=[{"service": "killbill", "name": "migrate", "argv": ["migrate", "--yes"]}])
    site.raw["tenant"] = {"api_key": "k"}
    run, done = Commands(), []
    converge = converge_of(site, run, done)
    tasks = site.path("releases") / "R" / "tasks"
    assert converge(tasks.parent / "failed-services", tasks)
    compose = converge_module.COMPOSE
    assert run.argvs == [[compose, "up", "-d", "--wait", "--wait-timeout", "120", "postgres"],
                         [compose, "run", "--rm", "--no-deps", "-T", "killbill", "migrate", "--yes"],
                         [compose, "up", "-d", "--remove-orphans"]]
    assert done == ["databases", "switch", "reload", "gate", "tenant"]
    assert (tasks / "killbill-migrate.log").read_text() == "task output\n"


def test_a_failing_task_stops_the_converge_before_the_apps(site):
    site.raw["release"].update(database_services=[], tasks=[{"service": "killbill", "name": "migrate", "argv": ["m"]},
                                                            {"service": "kaui", "name": "never", "argv": ["n"]}])
    run, done = Commands(fail=[("run",)]), []
    converge = converge_of(site, run, done)
    tasks = site.path("releases") / "R" / "tasks"
    assert not converge(tasks.parent / "failed-services", tasks)
    assert [a[1] for a in run.argvs] == ["run"]
    assert (tasks.parent / "failed-task").read_text() == "killbill/migrate (exit 4)\n"
    assert "release: task killbill/migrate FAILED (exit 4); its last lines (releases/R/tasks/killbill-migrate.log):\ntask output\n" \
        in converge.err.getvalue()
    assert done == []


def restored_description(stack, **changes) -> None:
    raw = json.loads(json.dumps(stack.raw))
    raw.update(changes)
    (stack.root / "ops").mkdir(exist_ok=True)
    (stack.root / "ops/stack.json").write_text(json.dumps(raw))


def test_a_rollback_converge_reads_the_restored_description_writes_its_secrets_and_runs_no_task(site):
    site.raw["release"].update(database_services=["postgres"], tasks=[{"service": "killbill", "name": "migrate", "argv": ["m"]}])
    restored_description(site, release={**site.raw["release"], "database_services": [], "tasks": []})
    run, done = Commands(), []
    converge = converge_of(site, run, done)
    assert converge.prepare_rollback()
    assert converge(site.path("releases") / "R" / "rollback-failed")
    assert [a[1:] for a in run.argvs] == [["config", "-q"], ["up", "-d", "--remove-orphans"]]  # no postgres first: restored
    assert (site.root / "secrets/connector.env").is_file() and (site.root / "secrets/.state").is_file()


def test_a_rollback_to_a_release_from_before_the_program_wrote_secrets_runs_its_own_script(site):
    raw = {k: v for k, v in site.raw.items() if k not in ("secrets", "release")}
    restored_description(site)
    (site.root / "ops/stack.json").write_text(json.dumps(raw))
    run, done = Commands(), []
    converge = converge_of(site, run, done)
    assert converge.prepare_rollback()
    assert run.argvs[0] == ["bash", "scripts/secrets.sh"]


def test_swarm_converge_deploys_the_database_servers_first(site):
    site.raw["engine"] = "swarm"
    site.raw["release"].update(database_services=["postgres"], tasks=[])
    run, done = Commands(), []
    converge = converge_of(site, run, done)
    assert converge(site.path("releases") / "R" / "failed-services")
    assert run.argvs == []
    assert done[:4] == [("stack", "failed-services", True), "databases", ("stack", "failed-services", False), "gate"]


def test_swarm_converge_runs_the_release_tasks_after_the_databases_before_the_apps(site):
    site.raw["engine"] = "swarm"
    site.raw["release"].update(database_services=["postgres"],
                               tasks=[{"service": "killbill", "name": "migrate", "argv": ["migrate"]}])
    run, done = Commands(), []
    tasks = site.path("releases") / "R" / "tasks"
    assert converge_of(site, run, done)(tasks.parent / "failed-services", tasks)
    assert run.argvs == []  # no Compose on a swarm
    assert done[:5] == [("stack", "failed-services", True), "databases", ("task", "migrate"),
                        ("stack", "failed-services", False), "gate"]
    assert (tasks / "killbill-migrate.log").read_text() == "one-off output\n"


def test_a_failing_swarm_task_stops_the_release_before_the_apps_roll(site):
    site.raw["engine"] = "swarm"
    site.raw["release"].update(database_services=[], tasks=[{"service": "killbill", "name": "broken", "argv": ["x"]},
                                                            {"service": "condo", "name": "never", "argv": ["y"]}])
    run, done = Commands(), []
    converge = converge_of(site, run, done)
    tasks = site.path("releases") / "R" / "tasks"
    assert not converge(tasks.parent / "failed-services", tasks)
    assert done == [("stack", "failed-services", True), ("task", "broken")]  # the apps never rolled
    assert (tasks.parent / "failed-task").read_text() == "killbill/broken (exit 4)\n"
    assert "release: task killbill/broken FAILED (exit 4)" in converge.err.getvalue()


def test_a_rollbacks_swarm_converge_runs_no_task(site):
    site.raw["engine"] = "swarm"
    site.raw["release"].update(database_services=[], tasks=[{"service": "killbill", "name": "migrate", "argv": ["m"]}])
    run, done = Commands(), []
    assert converge_of(site, run, done)(site.path("releases") / "R" / "failed-services")
    assert ("task", "migrate") not in done


def test_a_converge_that_raises_is_a_failed_one_and_the_release_rolls_back(site):
    release_of(site, FakeConverge(True))[0].apply("20261206T100000Z-old", [])

    class Raising(FakeConverge):
        def __call__(self, failed_file, tasks_dir=None):
            if tasks_dir is not None:
                raise RuntimeError("the engine went away")
            return super().__call__(failed_file, tasks_dir)

    release, _, err = release_of(site, Raising(True))
    assert release.apply("20261206T110000Z-new", []) == 1
    assert Releases.of(site).status("20261206T110000Z-new") == "rolled-back-to:20261206T100000Z-old"
    assert "release: the converge stopped: RuntimeError: the engine went away" in err.getvalue()
