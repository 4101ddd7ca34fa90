"""The monitor (nasops monitor): its state machine run for real over its state file, with the
checks replaced by a fixed list per step and the alerts posted over HTTP to a receiver on
loopback; the channels' failures, the DSM outbox and the logs' rotation."""

from __future__ import annotations

import gzip
import http.server
import json
import socket
import threading

import pytest

from nasops import __main__ as nasops
from nasops import alerts
from nasops.checks import Check
from tests.nasops_fixtures import catalog_with, stack_in

T0 = 1_800_000_000

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
        ("59 minutes later", []),
        ({"connector": "failing"}, []),
        ("2 minutes later", []),
        ({"connector": "failing"}, ["failing"]),  # 61 min after the first: repeat_min (60) passed
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
def alerting_catalog(tmp_path_factory):
    return catalog_with(tmp_path_factory.mktemp("catalog"), (
        '\nsecrets = {"hook": {"kind": "provided"}}\n'
        'alerts = {"webhooks": {"ops": {"shape": "generic", "url_secret": "hook"}}, "dsm_notify": False}\n'))


def root_with_hook(tmp_path, catalog, url):
    (tmp_path / "secrets/values").mkdir(parents=True)
    (tmp_path / "secrets/values/hook").write_text(url + "\n")
    return stack_in(tmp_path, catalog)


def rows(checks: dict[str, str]) -> list[Check]:
    return [Check(name, status == "ok", True, status, "-", f"detail of {name}") for name, status in checks.items()]


@pytest.mark.parametrize("case", CASES)
def test_alerts_go_out_on_a_change_of_state_only(case, receiver, alerting_catalog, tmp_path):
    server, posts = receiver
    stack = root_with_hook(tmp_path, alerting_catalog, f"http://127.0.0.1:{server.server_port}/hook")
    now = T0
    for step, (checks, expected) in enumerate(CASES[case]):
        if isinstance(checks, str):
            now += int(checks.split()[0]) * 60
            continue
        before = len(posts)
        rc = nasops.monitor(stack, None, rows_of=lambda _s, c=checks: rows(c), now=lambda n=now: n)
        failing = [n for n, s in checks.items() if s == "failing"]
        assert rc == (1 if failing else 0), step
        sent = [p["status"] for p in posts[before:]]
        assert sent == expected, (case, step, sent)
        for post in posts[before:]:
            assert post["project"] == "marketplace" and post["target"] == "local"
            for name in failing:
                assert f"FAILING: {name} (failing - detail of {name})" in post["message"]


def test_the_message_says_since_when_each_check_fails():
    was, note = alerts.step("p", {}, [("connector", True, "exited")], T0, 60)
    assert note.body == "FAILING: connector (exited), since now" and note.title == "p: 1 check(s) failing: connector"
    _, note = alerts.step("p", was, [("connector", True, "exited"), ("backup", True, "STALE")], T0 + 300, 60)
    assert note.body.splitlines() == ["FAILING: connector (exited), since 08:00Z", "FAILING: backup (STALE), since now"]
    assert note.title == "p: 2 check(s) failing: connector backup" and note.status == "failing"


def test_the_state_file_round_trips_and_ignores_what_it_cannot_read():
    state = {"connector": alerts.Entry("failing", T0, T0), "backup": alerts.Entry("ok", T0, 0)}
    assert alerts.parse_state(alerts.format_state(state) + "garbage line\n\n") == state


def test_a_channel_that_cannot_be_reached_is_logged_and_stops_nothing(alerting_catalog, tmp_path):
    url = f"http://127.0.0.1:{free_port()}/nobody-listens?token=SECRET"
    stack = root_with_hook(tmp_path, alerting_catalog, url)
    assert nasops.monitor(stack, None, rows_of=lambda _s: rows({"connector": "failing"})) == 1  # failing, not crashed
    log = (tmp_path / "logs/monitor/alerts.log").read_text()
    assert "alert: marketplace: 1 check(s) failing: connector" in log
    assert "channel ops FAILED (no answer: ConnectionRefusedError)" in log
    assert "SECRET" not in log and "nobody-listens" not in log  # the URL is a secret
    assert "connector failing" in (tmp_path / "logs/monitor/state").read_text()


def test_a_webhook_whose_url_file_is_missing_is_named_in_the_log(alerting_catalog, tmp_path):
    stack = root_with_hook(tmp_path, alerting_catalog, "")
    nasops.monitor(stack, None, rows_of=lambda _s: rows({"connector": "failing"}))
    assert "channel ops FAILED: its URL (secrets/values/hook) is missing" in (tmp_path / "logs/monitor/alerts.log").read_text()


@pytest.mark.parametrize("shape, where, keys", [
    ("slack", "http://hooks.example/T/B/x", {"text"}),
    ("ntfy", "http://ntfy.example/", {"topic", "title", "message", "priority", "tags"}),
    ("generic", "http://hooks.example/T/B/x", {"project", "target", "status", "title", "message", "at"}),
])
def test_each_webhook_shape_gets_its_own_payload(shape, where, keys, tmp_path):
    from nasops.channels import payload

    note = alerts.Notification("p: 1 check(s) failing: connector", "FAILING: connector", "failing")
    url, body = payload(shape, "http://hooks.example/T/B/x" if shape != "ntfy" else "http://ntfy.example/alerts", stack_in(tmp_path), note)
    assert url == where and set(body) == keys
    if shape == "ntfy":
        assert body["topic"] == "alerts" and body["priority"] == 4 and body["tags"] == ["failing"]
    if shape == "slack":
        assert body["text"] == "*p: 1 check(s) failing: connector*\nFAILING: connector"


def test_an_event_goes_out_now_with_its_body(alerting_catalog, tmp_path, monkeypatch):
    import io

    sent = []
    stack = root_with_hook(tmp_path, alerting_catalog, "http://hooks.example/x")
    monkeypatch.setattr("sys.stdin", io.StringIO("pg_restore: error\n"))
    assert nasops.monitor(stack, "backup X FAILED its verification", post=lambda url, body: sent.append(body)) == 0
    assert sent[0]["status"] == "event" and sent[0]["title"] == "marketplace: backup X FAILED its verification"
    assert sent[0]["message"] == "pg_restore: error"


def test_dsm_notifications_wait_in_the_outbox_for_the_launcher(tmp_path):
    stack = stack_in(tmp_path)  # local: dsm_notify on, no webhooks
    assert stack.alerts["dsm_notify"]
    nasops.monitor(stack, None, rows_of=lambda _s: rows({"connector": "failing"}))
    outbox = tmp_path / "logs/monitor/dsm-outbox"
    assert (outbox / "1.title").read_text() == "marketplace: 1 check(s) failing: connector"
    assert (outbox / "1.body").read_text().startswith("FAILING: connector")


def test_mail_goes_through_the_relay_with_starttls_and_login(tmp_path):
    from nasops.channels import send_email

    catalog = catalog_with(tmp_path, '\nsecrets = {"smtp": {"kind": "provided"}}\n'
                           'alerts = {"email": {"relay": "smtp.example", "port": 587, "from": "nas@example.com", '
                           '"to": ["a@example.com", "b@example.com"], "starttls": True, "user": "nas", '
                           '"password_secret": "smtp"}}\n')
    root = tmp_path / "root"
    (root / "secrets/values").mkdir(parents=True)
    (root / "secrets/values/smtp").write_text("hunter2\n")
    calls = []

    class Relay:
        def __init__(self, host, port, timeout):
            calls.append(("connect", host, port))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def starttls(self):
            calls.append(("starttls",))

        def login(self, user, password):
            calls.append(("login", user, password))

        def send_message(self, msg):
            calls.append(("send", msg["From"], msg["To"], msg["Subject"], msg.get_content().strip()))

    log = []
    send_email(stack_in(root, catalog), alerts.Notification("p: down", "FAILING: x", "failing"), log.append, Relay)
    assert calls == [("connect", "smtp.example", 587), ("starttls",), ("login", "nas", "hunter2"),
                     ("send", "nas@example.com", "a@example.com, b@example.com", "p: down", "FAILING: x")]
    assert log == ["sent to email"]


def test_the_health_task_rotates_the_ops_logs_past_log_max_kib(tmp_path):
    """housekeeping: a log past log_max_kib (1024) is gzipped to NAME.log.1.gz and emptied in
    place (a task appending to it goes on); older ones shift; log_keep (4) of them are kept."""
    stack = stack_in(tmp_path)
    tasks = tmp_path / "logs/tasks"
    tasks.mkdir(parents=True)
    big, small = tasks / "backup.log", tasks / "sync-killbill.log"
    small.write_text("a short log\n")
    for run in range(6):
        big.write_text(f"run {run}\n" * 200_000)  # ~1.4 MiB
        assert nasops.monitor(stack, None, rows_of=lambda _s: rows({"connector": "ok"})) == 0
        assert big.exists() and big.stat().st_size == 0
    rotated = sorted(p.name for p in tasks.iterdir() if p.name.startswith("backup.log."))
    assert rotated == ["backup.log.1.gz", "backup.log.2.gz", "backup.log.3.gz", "backup.log.4.gz"]
    assert gzip.decompress((tasks / "backup.log.1.gz").read_bytes()).startswith(b"run 5\n")
    assert gzip.decompress((tasks / "backup.log.4.gz").read_bytes()).startswith(b"run 2\n")
    assert small.read_text() == "a short log\n"  # under the limit: untouched
