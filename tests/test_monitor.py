"""scripts/monitor.sh's state machine, run for real (bash, curl) against a webhook receiver on
loopback, with the checks it reads (`healthcheck.sh report`) replaced by a file: each case is a
sequence of check states and the alerts it must send."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from deploys import layout
from deploys.catalog import GROUP_DATA, load
from deploys.render import render

# (checks reported by this run, the statuses of the alerts it must send)
CASES = {
    "quiet-while-all-is-well": [({"connector": "ok", "backup": "ok"}, [])],
    "a-failure-once-then-its-recovery-once": [
        ({"connector": "ok", "backup": "ok"}, []),
        ({"connector": "failing", "backup": "ok"}, ["failing"]),
        ({"connector": "failing", "backup": "ok"}, []),
        ({"connector": "ok", "backup": "ok"}, ["recovered"]),
        ({"connector": "ok", "backup": "ok"}, []),
    ],
    "a-second-failure-is-news-the-first-is-not": [
        ({"connector": "failing", "backup": "ok"}, ["failing"]),
        ({"connector": "failing", "backup": "failing"}, ["failing"]),
        ({"connector": "ok", "backup": "failing"}, ["failing"]),  # connector recovered, backup still down
        ({"connector": "ok", "backup": "ok"}, ["recovered"]),
    ],
    "a-failure-that-goes-on-is-repeated-after-repeat_min": [
        ({"connector": "failing"}, ["failing"]),
        ("an hour later", []),
        ({"connector": "failing"}, ["failing"]),
        ({"connector": "failing"}, []),
    ],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def receiver():
    posts: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, posts
    server.shutdown()


@pytest.fixture(scope="module")
def monitor_script(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("group_data")
    for f in GROUP_DATA.glob("*.py"):
        (root / f.name).write_text(f.read_text())
    (root / "local.py").write_text((root / "local.py").read_text() + (
        '\nsecrets = {"hook": {"kind": "provided"}}\n'
        'alerts = {"webhooks": {"ops": {"shape": "generic", "url_secret": "hook"}}, "dsm_notify": False}\n'))
    return render(load("local", root))[layout.script("monitor")].content.decode()


def deploy_root(tmp_path: Path, script: str, url: str) -> Path:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "monitor.sh").write_text(script)
    (tmp_path / "scripts" / "healthcheck.sh").write_text('cat "$(dirname "$0")/../report.tsv"\n')
    (tmp_path / "secrets" / "values").mkdir(parents=True)
    (tmp_path / "secrets" / "values" / "hook").write_text(url + "\n")
    return tmp_path


@pytest.mark.parametrize("case", CASES)
def test_alerts_go_out_on_a_change_of_state_only(case, receiver, monitor_script, tmp_path):
    server, posts = receiver
    root = deploy_root(tmp_path, monitor_script, f"http://127.0.0.1:{server.server_port}/hook")
    for step, (checks, expected) in enumerate(CASES[case]):
        if checks == "an hour later":  # as if the last alert went out 61 minutes ago
            state = root / "logs/monitor/state"
            lines = [line.split() for line in state.read_text().splitlines()]
            state.write_text("".join(f"{n} {s} {int(since) - 3660} {int(sent) - 3660 if sent != '0' else 0}\n"
                                     for n, s, since, sent in lines))
            continue
        (root / "report.tsv").write_text("".join(f"{name}\t{status}\tdetail of {name}\n" for name, status in checks.items()))
        before = len(posts)
        run = subprocess.run(["bash", str(root / "scripts/monitor.sh")], capture_output=True, text=True)
        failing = [n for n, s in checks.items() if s == "failing"]
        assert run.returncode == (1 if failing else 0), (step, run.stderr)
        deadline = time.monotonic() + 5
        while len(posts) < before + len(expected) and time.monotonic() < deadline:
            time.sleep(0.05)
        sent = [p["status"] for p in posts[before:]]
        assert sent == expected, (case, step, sent)
        for post in posts[before:]:
            assert post["project"] == "marketplace" and post["target"] == "local"
            for name in failing:
                assert f"FAILING: {name} (detail of {name})" in post["message"]


def test_a_channel_that_cannot_be_reached_is_logged_and_stops_nothing(monitor_script, tmp_path):
    root = deploy_root(tmp_path, monitor_script, f"http://127.0.0.1:{free_port()}/nobody")
    (root / "report.tsv").write_text("connector\tfailing\texited\n")
    run = subprocess.run(["bash", str(root / "scripts/monitor.sh")], capture_output=True, text=True)
    assert run.returncode == 1  # failing, not crashed
    log = (root / "logs/monitor/alerts.log").read_text()
    assert "alert: marketplace: 1 check(s) failing: connector" in log and "channel ops FAILED (curl exit 7)" in log
    assert "connector failing" in (root / "logs/monitor/state").read_text()


def test_the_webhook_url_never_reaches_a_command_line(monitor_script):
    assert "-K \"$cfg\"" in monitor_script and "url = %s" in monitor_script
    assert "curl -fsS -m 15 -o /dev/null -K" in monitor_script


def test_the_health_task_rotates_the_ops_logs_past_log_max_kib(monitor_script, tmp_path):
    """housekeeping: a log past log_max_kib (1024) is gzipped to NAME.log.1.gz and emptied in
    place (a task appending to it goes on); older ones shift; log_keep (4) of them are kept."""
    root = deploy_root(tmp_path, monitor_script, f"http://127.0.0.1:{free_port()}/nobody")
    (root / "report.tsv").write_text("connector\tok\tfine\n")
    tasks = root / "logs/tasks"
    tasks.mkdir(parents=True)
    big, small = tasks / "backup.log", tasks / "sync-killbill.log"
    small.write_text("a short log\n")
    for run in range(6):
        big.write_text(f"run {run}\n" * 200_000)  # ~1.4 MiB
        assert subprocess.run(["bash", str(root / "scripts/monitor.sh")], capture_output=True).returncode == 0
        assert big.exists() and big.stat().st_size == 0
    rotated = sorted(p.name for p in tasks.iterdir() if p.name.startswith("backup.log."))
    assert rotated == ["backup.log.1.gz", "backup.log.2.gz", "backup.log.3.gz", "backup.log.4.gz"]
    newest = subprocess.run(["zcat", str(tasks / "backup.log.1.gz")], capture_output=True, text=True).stdout
    oldest = subprocess.run(["zcat", str(tasks / "backup.log.4.gz")], capture_output=True, text=True).stdout
    assert newest.startswith("run 5\n") and oldest.startswith("run 2\n")
    assert small.read_text() == "a short log\n"  # under the limit: untouched
