"""`make bench`: what a deploy costs on the staging target (not a test: nothing is asserted).

Each figure is the median of several runs, with min and max:
  noop            a converge with nothing to change (wall time), its remote commands (counted
                  from pyinfra's --debug log) and SSH connections (counted in sshd's log)
  state command   the no-op's one remote command on the target itself (as root, without SSH),
                  and when each of its parts ends (routes, DSM reads, preflight, files,
                  containers), so that the part that grows is seen when it lands
  first deploy    the full stack to an empty deploy root, next to a plain `docker compose up
                  -d --wait` of the very same rendered files (scripts/start_all.sh: the database
                  servers, ensure_databases.sh, then everything), and their ratio
  change          a deploy that changes one setting of one service, which containers it
                  restarted, and a request loop's figures through the edge meanwhile (requests,
                  failed answers, the longest answer: bench/loops.py)
  peak RSS        of the deploy process
  backups         a backup and a restore of 1 million rows next to the plain tools
                  (bench/backup.py)
  status page     GET /monitoring/ through the edge at 100 requests/s for 30 s, open loop:
                  p50, p99, max (bench/status.py)
  NAS-side program  its image's size and layers shared with the Connector's, a container's
                  start, `healthcheck.sh report` and a status snapshot as DSM's tasks run them
                  (bench/nasops.py)
  resources       memory and CPU per service while the stack idles, next to the catalog's
                  limits (bench/resources.py; docs/OUTGROW.md reads them)
Writes out/bench.json; the last line printed is the same JSON object on one line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deploys import catalog as catalog_mod
from deploys.catalog import REPO
from deploys.render import render

TARGET = "staging"
NAS_STANDIN = "marketplace-nas-standin"
VENV_BIN = Path(sys.executable).parent
STATE = catalog_mod.STATE
ENV = {**os.environ, "MARKETPLACE_TARGET": TARGET, "MARKETPLACE_STATE": str(STATE)}
if not ENV.get("MARKETPLACE_SUDO_PASSWORD") and (STATE / f"{TARGET}-sudo-password").exists():
    # the sudo password `make setup` made for the target's deploy account (the DSM stand-in's)
    ENV["MARKETPLACE_SUDO_PASSWORD"] = (STATE / f"{TARGET}-sudo-password").read_text().strip()
# The one setting the change benchmark flips (a clear env var of Kaui: reaches Kaui only).
CHANGE_SERVICE, CHANGE_KEY = "kaui", "BENCH_SETTING"


def deploy(cwd: Path = REPO, debug: bool = False) -> tuple[float, int, str]:
    """One `pyinfra inventory.py deploys/marketplace.py`: (wall seconds, peak RSS KiB, output)."""
    argv = [str(VENV_BIN / "pyinfra"), "-y", *(["--debug"] if debug else []), "inventory.py",
            "deploys/marketplace.py"]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"deploy failed (rc {proc.returncode}):\n{output[-3000:]}")
    return elapsed, usage.ru_maxrss, output


def changed_operations(output: str) -> int:
    row = re.search(r"Grand total\s+\S+\s+(\S+)", output)
    return 0 if not row or row.group(1) == "-" else int(row.group(1))


def sh(*argv: str, cwd: Path | None = None) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, cwd=cwd, env=ENV).stdout


def teardown(catalog) -> None:
    """Remove the staging stack and its deploy root (images stay: they are not what is timed)."""
    subprocess.run(["docker", "compose", "-p", catalog.project_name, "down", "--remove-orphans"],
                   capture_output=True)
    shutil.rmtree(catalog.deploy_root, ignore_errors=True)


def containers(catalog) -> dict[str, str]:
    ids = sh("docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={catalog.project_name}").split()
    fmt = '{{index .Config.Labels "com.docker.compose.service"}} {{.Id}}'
    return dict(line.split() for line in sh("docker", "inspect", "-f", fmt, *ids).splitlines()) if ids else {}


def plain_compose(catalog) -> float:
    """The same rendered files put in place and secrets made (not timed), then the timed plain
    Compose run: scripts/start_all.sh (`config -q`, `up -d --wait` of the database servers,
    ensure_databases.sh, `up -d --wait`)."""
    teardown(catalog)
    root = Path(catalog.deploy_root)
    for path, managed in render(catalog).items():
        dest = root / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(managed.content)
        dest.chmod(managed.mode)
    for folder in ("postgres/data", "redis/data", "cocorico/mysql", "cocorico/mongo"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    sh("bash", str(root / "scripts/secrets.sh"))
    started = time.perf_counter()
    sh("bash", str(root / "scripts/start_all.sh"))
    return time.perf_counter() - started


def _logins() -> int:
    """SSH logins so far on the staging target (the DSM stand-in's sshd logs to its container)."""
    logs = subprocess.run(["docker", "logs", NAS_STANDIN], capture_output=True, text=True)
    return (logs.stdout + logs.stderr).count("Accepted publickey")


def noop_counts() -> tuple[int, int]:
    """(remote commands, SSH connections) of one no-op converge."""
    before = _logins()
    _, _, output = deploy(debug=True)
    after = _logins()
    assert changed_operations(output) == 0, "the no-op run changed something"
    return output.count("Running command on"), after - before


def state_command_parts(runs: int) -> dict[str, dict[str, float]]:
    """The state command's own time on the target, per part: milliseconds from its start to the
    end of each part (they run in parallel: the slowest is the critical path), median of runs."""
    from deploys.target import commands
    from deploys import plan as plan_mod
    from deploys.ops.remote import Target

    target = Target(TARGET)
    catalog = target.catalog
    script = "timing=1\n" + commands.state_command(catalog, plan_mod.Desired.of(catalog, render(catalog)))
    parts: dict[str, list[float]] = {}
    for _ in range(runs):
        rc, _, stderr = target.shell(script)
        marks = dict(line.split()[1:3] for line in stderr if line.startswith("@timing "))
        start = int(marks.pop("start"))
        for name, ns in marks.items():
            parts.setdefault(name, []).append((int(ns) - start) / 1e6)
    return {name: summary(values) for name, values in sorted(parts.items(), key=lambda kv: -max(kv[1]))}


def one_setting_change(runs: int) -> tuple[list[float], list[list[str]], list[dict]]:
    """Flip one setting of one service in a clone of this repository, deploy, flip back...
    while a request loop asks the service's health route through the edge every 50 ms (its
    requests, failed answers and longest answer per run: a zero-gap release has no failure)."""
    from bench.loops import RequestLoops

    times, restarted, loops_seen = [], [], []
    catalog = catalog_mod.load(TARGET)
    svc = catalog.services[CHANGE_SERVICE]
    target = {CHANGE_SERVICE: (catalog.edge.host_port, svc.health_host, svc.health_url)}
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "repo"
        shutil.copytree(REPO, clone, ignore=shutil.ignore_patterns(".venv", ".state", ".git", "out",
                                                                     "__pycache__", ".pytest_cache"))
        staging_py = clone / "group_data" / f"{TARGET}.py"
        original = staging_py.read_text()
        for i in range(runs):
            staging_py.write_text(original + f'\nservices = {{"{CHANGE_SERVICE}": {{"env": '
                                             f'{{"{CHANGE_KEY}": "{i}"}}}}}}\n')
            before = containers(catalog)
            with RequestLoops(catalog.bind_address, target) as loops:
                elapsed, _, _ = deploy(cwd=clone)
            loops_seen.append(loops.figures()[CHANGE_SERVICE])
            after = containers(catalog)
            times.append(elapsed)
            restarted.append(sorted(n for n in after if before.get(n) != after[n]))
    deploy()  # back to the catalog as committed
    return times, restarted, loops_seen


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "runs": len(values)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--noop-runs", type=int, default=7)
    parser.add_argument("--first-runs", type=int, default=3)
    parser.add_argument("--change-runs", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "out" / "bench.json"))
    args = parser.parse_args(argv)
    catalog = catalog_mod.load(TARGET)

    firsts, plains, rss = [], [], []
    for _ in range(args.first_runs):
        teardown(catalog)
        elapsed, peak, _ = deploy()
        firsts.append(elapsed)
        rss.append(peak)
        plains.append(plain_compose(catalog))
    teardown(catalog)
    elapsed, peak, _ = deploy()  # leave staging deployed by the deploy itself
    rss.append(peak)

    noops = []
    for _ in range(args.noop_runs):
        elapsed, peak, output = deploy()
        assert changed_operations(output) == 0, "the no-op run changed something"
        noops.append(elapsed)
        rss.append(peak)
    commands, connections = noop_counts()
    state_parts = state_command_parts(args.noop_runs)
    change_times, restarted, change_loops = one_setting_change(args.change_runs)
    from bench import backup as bench_backup

    backups = bench_backup.measure(catalog)
    from bench import status as bench_status

    status_page = bench_status.measure(catalog)
    from bench import resources as bench_resources

    resources = bench_resources.measure(catalog)
    from bench import nasops as bench_nasops

    nasops = bench_nasops.measure(catalog)

    result = {
        "noop_s": summary(noops)["median"], "noop": summary(noops),
        "noop_remote_commands": commands, "noop_ssh_connections": connections,
        "state_command_ms": state_parts,
        "first_deploy_s": summary(firsts)["median"], "first_deploy": summary(firsts),
        "plain_compose_s": summary(plains)["median"], "plain_compose": summary(plains),
        "first_deploy_ratio": round(statistics.median(firsts) / statistics.median(plains), 3),
        "change_s": summary(change_times)["median"], "change": summary(change_times),
        "change_setting": f"services.{CHANGE_SERVICE}.env.{CHANGE_KEY}",
        "change_restarted": sorted({s for r in restarted for s in r}),
        "change_restarted_per_run": restarted,
        "change_requests": change_loops,
        "peak_rss_mb": round(max(rss) / 1024, 1),
        "services": len(catalog.services), "target": TARGET,
        "backup": backups,
        "status_page": status_page,
        "resources": resources,
        "nasops": nasops,
    }
    rows = [
        ("no-op converge", result["noop"], f"{commands} remote commands, {connections} SSH connection(s)"),
        ("first deploy (full stack)", result["first_deploy"], ""),
        ("plain docker compose up --wait", result["plain_compose"], f"ratio {result['first_deploy_ratio']}"),
        ("one-setting change", result["change"], f"restarted: {', '.join(result['change_restarted'])}"),
        ("  its requests through the edge", result["change"],
         "; ".join(f"{r['requests']} requests, {len(r['errors'])} failed, longest {r['longest_ms']} ms"
                   for r in change_loops)),
    ]
    print(f"{'measure':34} {'median s':>9} {'min s':>8} {'max s':>8} {'runs':>5}  notes")
    for name, s, note in rows:
        print(f"{name:34} {s['median']:9.2f} {s['min']:8.2f} {s['max']:8.2f} {s['runs']:5d}  {note}")
    print(f"{'peak RSS of the deploy process':34} {result['peak_rss_mb']:9.1f} MiB")
    for name, ms in state_parts.items():
        label = "state command on the target" if name == "end" else f"  its part {name} ends at"
        print(f"{label:34} {ms['median'] / 1000:9.3f} {ms['min'] / 1000:8.3f} {ms['max'] / 1000:8.3f} {ms['runs']:5d}")
    for name, seconds, note in bench_backup.rows_of(backups):
        print(f"{name:34} {seconds:9.2f} {'':8} {'':8} {1:5d}  {note}")
    name, note = bench_status.row_of(status_page)
    print(f"{name:34} {status_page['p99_ms'] / 1000:9.3f} {'':8} {'':8} {1:5d}  {note}")
    for name, s, note in bench_nasops.rows_of(nasops):
        print(f"{name:34} {s['median_s']:9.3f} {s['min_s']:8.3f} {s['max_s']:8.3f} {s['runs']:5d}  {note}")
    print("\n".join(bench_resources.rows_of(resources)))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")
    print(json.dumps(result, separators=(",", ":")))
    return 0

