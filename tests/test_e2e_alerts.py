"""Alerts on the staging target: DSM's health task (scripts/monitor.sh) tells a webhook receiver,
an SMTP sink (Debian's python3-aiosmtpd) and DSM's desktop notifications, all on this machine,
about a stopped service exactly once, says nothing while it stays down, and tells of its
recovery exactly once more; a channel that cannot be reached is logged and stops nothing."""

from __future__ import annotations

import http.server
import json
import mailbox
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.support.clone import Clone
from tests.support.staging import NAS, Deploy, container_name

pytestmark = pytest.mark.e2e
STAGING = "group_data/staging.py"
NOTIFICATIONS = Path("/volume1/@dsm-standin/notifications.log")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver(http.server.ThreadingHTTPServer):
    """A webhook receiver on loopback: every POST's path and JSON body."""

    def __init__(self):
        self.posts: list[tuple[str, dict]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.posts.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def channels(tmp_path_factory):
    """The webhook receiver, and an SMTP sink writing a maildir."""
    receiver = Receiver()
    maildir = tmp_path_factory.mktemp("mail") / "inbox"
    port = free_port()
    sink = subprocess.Popen(["/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                             "-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.2)
    else:
        pytest.fail(f"the SMTP sink did not start: {sink.stderr.read() if sink.poll() is not None else ''}")
    yield receiver, port, maildir
    receiver.shutdown()
    sink.terminate()


@pytest.fixture(scope="module")
def alerting(staging_stack, channels, tmp_path_factory):
    """Staging with alerts to the receiver (generic and Slack shapes), a webhook nobody answers,
    mail to the sink and DSM's notifications."""
    receiver, smtp_port, _ = channels
    values = Path(staging_stack.deploy_root) / "secrets" / "values"
    closed = free_port()  # nothing listens there
    for name, url in (("alert_ops", f"http://127.0.0.1:{receiver.server_port}/ops"),
                      ("alert_chat", f"http://127.0.0.1:{receiver.server_port}/chat"),
                      ("alert_broken", f"http://127.0.0.1:{closed}/nobody")):
        (values / name).write_text(url + "\n")
        (values / name).chmod(0o600)
    clone = Clone(tmp_path_factory.mktemp("alerts") / "repo")
    clone.commit("alerts to ops", append={STAGING: (
        '\nsecrets = {"backup_passphrase": {}, "alert_ops": {"kind": "provided"}, '
        '"alert_chat": {"kind": "provided"}, "alert_broken": {"kind": "provided"}}\n'
        'alerts = {"webhooks": {"ops": {"shape": "generic", "url_secret": "alert_ops"}, '
        '"chat": {"shape": "slack", "url_secret": "alert_chat"}, '
        '"broken": {"shape": "generic", "url_secret": "alert_broken"}}, '
        f'"email": {{"relay": "127.0.0.1", "port": {smtp_port}, "from": "nas@example.com", '
        '"to": ["ops@example.com"]}}\n')})
    run = clone.deploy()
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    yield staging_stack
    subprocess.run(["docker", "start", container_name(staging_stack, "connector")], capture_output=True)
    assert Deploy().rc == 0  # staging back to its own catalog (no alerts)
    for name in ("alert_ops", "alert_chat", "alert_broken"):
        (values / name).unlink(missing_ok=True)


def monitor(catalog, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """scripts/monitor.sh as DSM's health task runs it: as root, on the NAS (the DSM stand-in,
    where synodsmnotify is)."""
    return subprocess.run(["docker", "exec", "-i", NAS, "bash", f"{catalog.deploy_root}/scripts/monitor.sh", *args],
                          input=stdin, capture_output=True, text=True)


def notifications() -> list[dict]:
    if not NOTIFICATIONS.exists():
        return []
    return [json.loads(line) for line in NOTIFICATIONS.read_text().splitlines() if line.strip()]


def mails(maildir: Path) -> dict:
    """The sink's mails by maildir key (a maildir's iteration order is the directory's, not arrival)."""
    return dict(mailbox.Maildir(str(maildir), create=False).items()) if maildir.exists() else {}


def healthy_again(catalog, service: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = subprocess.run(["bash", f"{catalog.deploy_root}/scripts/healthcheck.sh", "report"],
                                capture_output=True, text=True).stdout
        if f"{service}\tok" in report:
            return
        time.sleep(2)
    pytest.fail(f"{service} did not get healthy again")


def test_the_health_task_runs_the_monitor_through_dsm(alerting, channels):
    from tests.test_e2e_dsm import scheduled

    receiver, _, _ = channels
    task = scheduled()[f"{alerting.project_name}: healthcheck"]
    assert task["extra"]["script"].startswith(f"bash {alerting.deploy_root}/scripts/monitor.sh")
    run = subprocess.run(["docker", "exec", NAS, "/usr/syno/bin/synoschedtask", "--run", f"id={task['id']}"],
                         capture_output=True, text=True)
    assert run.returncode == 0 and "exited 0" in run.stdout, run.stdout + run.stderr
    state = (Path(alerting.deploy_root) / "logs/monitor/state").read_text()
    assert "connector ok" in state and "backup ok" in state and "disk:backup_dir ok" in state


def test_a_stopped_service_raises_exactly_one_alert_and_its_recovery_exactly_one_more(alerting, channels):
    receiver, _, maildir = channels
    assert monitor(alerting).returncode == 0  # the baseline: all ok, nothing to say
    receiver.posts.clear()
    seen, dsm_before = mails(maildir), len(notifications())
    mails_before = len(seen)

    subprocess.run(["docker", "stop", container_name(alerting, "connector")], check=True, capture_output=True)
    down = monitor(alerting)
    assert down.returncode == 1
    assert sorted(path for path, _ in receiver.posts) == ["/chat", "/ops"]
    ops = next(body for path, body in receiver.posts if path == "/ops")
    assert ops["status"] == "failing" and ops["project"] == alerting.project_name and ops["target"] == "staging"
    assert "connector" in ops["title"] and "FAILING: connector" in ops["message"]
    chat = next(body for path, body in receiver.posts if path == "/chat")
    assert set(chat) == {"text"} and "connector" in chat["text"]
    assert len(mails(maildir)) == mails_before + 1
    (mail,) = [message for key, message in mails(maildir).items() if key not in seen]
    assert "connector" in mail["Subject"] and mail["To"] == "ops@example.com" and mail["From"] == "nas@example.com"
    new_dsm = notifications()[dsm_before:]
    assert len(new_dsm) == 1 and new_dsm[0]["to"] == "@administrators" and "connector" in new_dsm[0]["title"]
    log = (Path(alerting.deploy_root) / "logs/monitor/alerts.log").read_text()
    assert "channel broken FAILED" in log  # logged; the other channels were told all the same

    again = monitor(alerting)  # still down: not sent again within repeat_min
    assert again.returncode == 1
    assert len(receiver.posts) == 2 and len(mails(maildir)) == mails_before + 1
    assert len(notifications()) == dsm_before + 1

    subprocess.run(["docker", "start", container_name(alerting, "connector")], check=True, capture_output=True)
    healthy_again(alerting, "connector")
    back = monitor(alerting)
    assert back.returncode == 0
    assert len(receiver.posts) == 4 and len(mails(maildir)) == mails_before + 2
    recovered = [body for path, body in receiver.posts[2:] if path == "/ops"]
    assert recovered[0]["status"] == "recovered" and "recovered: connector" in recovered[0]["message"]
    assert len(notifications()) == dsm_before + 2

    assert monitor(alerting).returncode == 0  # and then quiet again
    assert len(receiver.posts) == 4


def test_a_failed_backup_verification_is_alerted(alerting, channels):
    receiver, _, _ = channels
    receiver.posts.clear()
    event = monitor(alerting, "event", "backup X FAILED its verification", stdin="marketplace: pg_restore: error\n")
    assert event.returncode == 0
    ops = next(body for path, body in receiver.posts if path == "/ops")
    assert ops["status"] == "event" and "backup X FAILED" in ops["title"] and "pg_restore" in ops["message"]
