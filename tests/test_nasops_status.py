"""The status page (nasops status) from a fixed state: its HTML (autoescaped: hostile names
come out as text), its JSON and its metrics (read back with prometheus_client's own parser),
since-when tracking, the records it reads and the publishing by rename."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from prometheus_client.parser import text_string_to_metric_families

from nasops import checks, metrics, status_page
from nasops.engine import Running
from nasops.observe import BackupAge
from tests.nasops_fixtures import stack_in
from tests.test_nasops_checks import T0, all_well

HOSTILE = '<script>alert("x")</script>&"\'\n'


def page_of(stack, seen=None, **extra):
    seen = seen or all_well(stack)
    rows = checks.checks(stack, seen)
    since = {s.name: T0 - 3600 for s in stack.services}
    return status_page.build(stack, seen, rows, since, **extra)


@pytest.fixture
def stack(tmp_path):
    return stack_in(tmp_path)


class Text(HTMLParser):
    def __init__(self, html):
        super().__init__()
        self.tags, self.text = [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_all_well_reads_as_all_well(stack):
    page = page_of(stack, current=status_page.Release("20261205T030000Z-1", "good", "0123456789abcdef", False, "ops@laptop", "2026-12-05T03:00:00Z"))
    html = status_page.html(page)
    assert '<div class="banner ok">All checks ok</div>' in html
    assert '<meta http-equiv="refresh" content="60">' in html and "<script" not in html
    assert "<tr><td>connector</td><td class=\"ok\">healthy</td><td class=\"n\">1 h 0 min ago</td>" in html
    assert "20261205T030000Z-1 <span class=\"muted\">(good)</span><div class=\"u\">commit 0123456789ab &middot;" in html
    assert "<tr><th>last good</th><td>none yet</td></tr>" in html


def test_a_failing_service_is_named_in_the_banner_and_its_row(stack):
    seen = all_well(stack)
    svc = next(s for s in stack.services if s.name == "kaui")
    page = page_of(stack, all_well(stack, codes={**seen.codes, (svc.health_host, svc.health_path): 502}))
    html = status_page.html(page)
    assert '<div class="banner bad">FAILING: kaui</div>' in html
    assert '<tr><td>kaui</td><td class="bad">healthy, its route fails</td>' in html


def test_hostile_names_are_text_in_the_html_and_valid_in_json_and_metrics(tmp_path):
    stack = stack_in(tmp_path, project=HOSTILE, target=HOSTILE)
    route = stack.routes[0]
    stack = stack_in(tmp_path, project=HOSTILE, target=HOSTILE,
                     routes=[{**vars(route), "name": HOSTILE, "path": "/a<b>\"c"}] + [vars(r) for r in stack.routes[1:]])
    page = page_of(stack, alerts=[f"2026-12-05T03:00:00Z alert: {HOSTILE}"],
                   sync_jobs=[status_page.SyncJob(HOSTILE, False, "<now>")])
    html = status_page.html(page)
    parsed = Text(html)
    assert "script" not in parsed.tags  # no element came out of the data
    assert HOSTILE.strip() in "".join(parsed.text)  # ... and all of it is there, as text
    data = json.loads(json.dumps(status_page.as_json(page)))
    assert data["project"] == HOSTILE and data["routes"][0]["name"] == HOSTILE
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition(page).decode())}
    assert families["marketplace_up"].samples[0].labels == {"project": HOSTILE}
    routes = families["marketplace_route_http_status"].samples
    assert routes[0].labels["route"] == HOSTILE and routes[0].labels["path"] == "/a<b>\"c"


def test_the_json_says_what_the_page_says(stack):
    services = dict(all_well(stack).services)
    services["connector"] = Running("connector", "exited", "none", T0)
    page = page_of(stack, all_well(stack, services=services, memory={"postgres": 100 << 20},
                                   backup=BackupAge(None, 90)))
    data = status_page.as_json(page)
    assert data["ok"] is False and data["failing"] == ["connector"] and data["epoch"] == T0
    connector = next(s for s in data["services"] if s["name"] == "connector")
    assert connector == {"name": "connector", "ok": False, "state": "exited", "health": "none",
                         "since": "2027-01-15T07:00:00Z", "memory_bytes": None, "memory_limit_bytes": None}
    assert data["backup"] == {"last_verified": None, "age_seconds": 90, "ok": True, "max_age_hours": 26}
    assert [d["name"] for d in data["disks"]] == ["deploy_root", "backup_dir"]
    assert data["release"] == {"current": None, "last_good": None}
    assert {r["name"] for r in data["routes"]} == {r.name for r in stack.routes}
    assert all(r["url"].startswith("https://") for r in data["routes"])


def test_the_metrics_parse_and_count_every_service(stack):
    page = page_of(stack, all_well(stack, memory={"connector": 5 << 20}),
                   sync_jobs=[status_page.SyncJob("killbill", True, "x"), status_page.SyncJob("condo", None, None)])
    text = metrics.exposition(page).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["marketplace_up"].samples[0].value == 1
    assert len(families["marketplace_service_up"].samples) == len(stack.services)
    assert [s.labels for s in families["marketplace_sync_ok"].samples] == [{"job": "killbill"}]  # never ran: absent
    assert families["marketplace_memory_bytes"].samples[0].value == 5 << 20
    sample = re.compile(r'^marketplace_[a-z_]+(\{([a-z_]+="[^"\\]*",?)+\})? -?[0-9.e+]+$')
    assert all(sample.match(line) for line in text.splitlines() if not line.startswith("#"))


def test_since_when_is_kept_while_the_state_is_unchanged(stack):
    names = [s.name for s in stack.services]
    first, text = status_page.track_since("", all_well(stack), names)
    assert first["connector"] == T0 - 60  # first sight: its container's start
    later = all_well(stack, at=T0 + 600)
    again, text = status_page.track_since(text, later, names)
    assert again["connector"] == T0 - 60
    services = dict(later.services)
    services["connector"] = Running("connector", "running", "unhealthy", T0 - 60)
    changed, _ = status_page.track_since(text, all_well(stack, at=T0 + 900, services=services), names)
    assert changed["connector"] == T0 + 900


def test_the_records_are_read_as_the_release_and_sync_write_them(tmp_path):
    releases = tmp_path / "releases"
    (releases / "R1").mkdir(parents=True)
    (releases / "current").write_text("R1\n")
    (releases / "R1/status").write_text("good\n")
    (releases / "R1/deploy.json").write_text('{"who": "ops@x", "commit": "abc", "dirty": true, "since": "2026-12-05T03:00:00Z"}\n')
    assert status_page.read_release(releases, "current") == status_page.Release("R1", "good", "abc", True, "ops@x", "2026-12-05T03:00:00Z")
    assert status_page.read_release(releases, "last-good") is None
    (tmp_path / "i").mkdir()
    (tmp_path / "i/killbill.status").write_text('{"job": "killbill", "ok": false, "at": "2026-12-05T03:00:00Z"}\n')
    assert status_page.read_sync_jobs(tmp_path / "i", ["killbill", "condo"]) == [
        status_page.SyncJob("killbill", False, "2026-12-05T03:00:00Z"), status_page.SyncJob("condo", None, None)]
    log = tmp_path / "alerts.log"
    log.write_text("t1 alert: a\nt2 sent to ops\nt3 channel x FAILED (HTTP 500)\nt4 alert: b\n")
    assert status_page.read_alerts(log, 2) == ["t4 alert: b", "t3 channel x FAILED (HTTP 500)"]


def test_publishing_replaces_each_file_whole_and_readable_by_the_edge(tmp_path):
    status_page.publish(tmp_path / "monitoring", {"index.html": b"one"})
    status_page.publish(tmp_path / "monitoring", {"index.html": b"two"})
    assert (tmp_path / "monitoring/index.html").read_bytes() == b"two"
    assert (tmp_path / "monitoring/index.html").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "monitoring").stat().st_mode & 0o777 == 0o755
    assert [p.name for p in (tmp_path / "monitoring").iterdir()] == ["index.html"]
