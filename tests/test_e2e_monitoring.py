"""The status page on the staging target, looked at as a person would: headless Chromium
(Debian's) opens https-less http://boma.localhost:<edge port>/monitoring/ (Chromium resolves
*.localhost to this machine, so the edge sees the real hostname), with and without the password,
and keeps screenshots under out/ (CI's artifacts). Also: the JSON and the metrics, the DSM task
that refreshes the page, a stopped service shown as failing, the password's rotation, and the
pruning of old releases and of the images only they used."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.support.staging import NAS, REPO, cli, container_name

pytestmark = pytest.mark.e2e
OUT = REPO / "out"


def password(catalog) -> str:
    """What the operator reads on the NAS (`make status` says where)."""
    return (Path(catalog.deploy_root) / "secrets/values" / catalog.monitoring["password_secret"]).read_text().strip()


def base(catalog) -> str:
    return f"http://{catalog.monitoring_hostname}:{catalog.edge.host_port}/monitoring/"


def get(catalog, path: str = "", auth: tuple[str, str] | None = None, **kw) -> requests.Response:
    """GET a page path through the edge (on 127.0.0.1 with the hostname as Host: Python does not
    resolve *.localhost as Chromium does)."""
    return requests.get(f"http://127.0.0.1:{catalog.edge.host_port}/monitoring/{path}",
                        headers={"Host": catalog.monitoring_hostname}, auth=auth, timeout=10, **kw)


def chromium(*args: str) -> subprocess.CompletedProcess:
    browser = shutil.which("chromium") or shutil.which("chromium-headless-shell")
    assert browser, "no chromium: make setup installs Debian's"
    return subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--no-first-run", "--window-size=390,2200", *args],
                          capture_output=True, text=True, timeout=90)


def look(catalog, name: str, with_password: bool = True) -> str:
    """Open the page as a person would: a screenshot in out/NAME.png, and the DOM as shown."""
    url = base(catalog)
    if with_password:
        url = url.replace("http://", f"http://{catalog.monitoring['user']}:{password(catalog)}@")
    OUT.mkdir(exist_ok=True)
    shot = chromium(f"--screenshot={OUT / name}.png", url)
    assert (OUT / f"{name}.png").stat().st_size > 5000, shot.stderr[-2000:]
    return chromium("--dump-dom", url).stdout


def refresh(catalog) -> None:
    """The DSM task `status` now, as the scheduler runs it (as root on the NAS)."""
    run = subprocess.run(["docker", "exec", NAS, "bash", f"{catalog.deploy_root}/scripts/status.sh"],
                         capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout == "", run.stdout + run.stderr


def status(catalog) -> dict:
    reply = get(catalog, "status.json", auth=(catalog.monitoring["user"], password(catalog)))
    assert reply.status_code == 200
    return reply.json()


def text_of(dom: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


@pytest.fixture(scope="module")
def page(staging_stack):
    refresh(staging_stack)
    return staging_stack


def test_without_the_password_the_page_says_401_and_nothing_about_the_stack(page):
    # Headless Chromium has no login box to show: challenged without a password, it stops at the
    # challenge and shows nothing of the page.
    blind = chromium("--dump-dom", base(page))
    assert "ERR_INVALID_AUTH_CREDENTIALS" in blind.stderr, blind.stderr[-2000:]
    dom = blind.stdout
    for path in ("", "status.json", "metrics", "index.html"):
        reply = get(page, path)
        assert reply.status_code == 401, path
        assert reply.headers["WWW-Authenticate"].startswith("Basic")
        assert "no-store" in reply.headers["Cache-Control"] and "noindex" in reply.headers["X-Robots-Tag"]
        for secret in [page.project_name, page.target, *page.services]:
            assert secret not in reply.text and secret not in dom, (path, secret)
    wrong = get(page, auth=(page.monitoring["user"], password(page) + "x"))
    assert wrong.status_code == 401
    bare = requests.get(f"http://127.0.0.1:{page.edge.host_port}/monitoring", headers={"Host": page.monitoring_hostname},
                        allow_redirects=False, timeout=10)
    assert bare.status_code == 301 and bare.headers["Location"].endswith("/monitoring/")


def test_the_page_shows_every_service_the_release_and_the_backup_age(page):
    dom = look(page, "monitoring")
    text = text_of(dom)
    assert "All checks ok" in text
    for name in page.services:
        assert re.search(rf"<td>{re.escape(name)}</td><td class=\"ok\">healthy</td>", dom), name
    current = (Path(page.deploy_root) / "releases/current").read_text().strip()
    assert f"current {current} (good)" in text
    assert re.search(r"Last verified Age (none yet|\S+Z) .*?\d+ (s|min|h)", text), text
    for route in page.routes:
        assert f"https://{route.hostname}" in text
    assert "<script" not in dom.lower() and "http://" not in dom.split("</head>")[0]  # nothing from outside
    reply = get(page, auth=(page.monitoring["user"], password(page)))
    assert reply.headers["Cache-Control"] == "no-store, private" and "noindex" in reply.headers["X-Robots-Tag"]
    assert reply.headers["Content-Type"].startswith("text/html")


def test_the_same_data_as_json_and_as_prometheus_metrics(page):
    data = status(page)
    assert data["ok"] is True and data["failing"] == []
    assert [s["name"] for s in data["services"]] == list(page.services)
    assert all(s["memory_limit_bytes"] and s["memory_bytes"] for s in data["services"])
    assert {r["name"] for r in data["routes"]} == {r.name for r in page.routes}
    assert all(r["status"] < 500 and r["ok"] for r in data["routes"])
    assert data["release"]["current"]["id"] == (Path(page.deploy_root) / "releases/current").read_text().strip()
    assert {d["name"] for d in data["disks"]} == {"deploy_root", "backup_dir"}
    assert {j["name"] for j in data["sync_jobs"]} == set(page.sync_jobs)
    reply = get(page, "metrics", auth=(page.monitoring["user"], password(page)))
    assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    sample = re.compile(r'^marketplace_[a-z_]+(\{([a-z_]+="[^"\\]*",?)+\})? -?[0-9.e+]+$')
    lines = reply.text.splitlines()
    for line in lines:
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or sample.match(line), line
    # read back as Prometheus reads it (the exposition writes 1 as 1.0)
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(reply.text)}
    assert [(s.labels, s.value) for s in families["marketplace_up"].samples] == [({"project": page.project_name}, 1)]
    assert sum(line.startswith("marketplace_service_up{") for line in lines) == len(page.services)


def test_a_stopped_service_shows_as_failing_after_the_next_refresh_of_the_dsm_task(page):
    from tests.test_e2e_dsm import scheduled

    task = scheduled()[f"{page.project_name}: status"]
    assert task["schedule"]["repeat_min"] == 1 and "/scripts/status.sh" in task["extra"]["script"]
    before = status(page)["epoch"]
    container = container_name(page, "cocorico")
    subprocess.run(["docker", "stop", container], check=True, capture_output=True)
    try:
        deadline = time.monotonic() + 150  # the DSM stand-in's scheduler, nobody else, refreshes it
        while time.monotonic() < deadline:
            data = status(page)
            if data["epoch"] > before and "cocorico" in data["failing"]:
                break
            time.sleep(3)
        else:
            pytest.fail(f"the page did not show cocorico failing: {data['failing']}")
        dom = look(page, "monitoring-a-service-stopped")
        # (the connector reports its integrations: it fails with cocorico)
        assert re.search(r'<div class="banner bad">FAILING: [^<]*\bcocorico\b', dom), dom
        assert re.search(r'<td>cocorico</td><td class="bad">exited</td>', dom), dom
        assert re.search(r'marketplace <span class="muted">→ cocorico</span>.*?<td class="bad">\d+</td>', dom, re.S)
    finally:
        subprocess.run(["docker", "start", container], check=True, capture_output=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        refresh(page)
        if status(page)["ok"]:
            break
        time.sleep(3)
    else:
        pytest.fail("the page did not show the stack ok again")
    assert "All checks ok" in text_of(look(page, "monitoring"))


def test_a_rotated_password_is_taken_without_restarting_the_edge(page):
    edge = container_name(page, "edge")
    started = subprocess.run(["docker", "inspect", "-f", "{{.State.StartedAt}}", edge],
                             capture_output=True, text=True).stdout
    old = password(page)
    run = cli("rotate", "staging", page.monitoring["password_secret"])
    assert run.returncode == 0, run.stdout + run.stderr
    assert password(page) != old
    user = page.monitoring["user"]
    assert get(page, auth=(user, old)).status_code == 401
    assert get(page, auth=(user, password(page))).status_code == 200
    assert subprocess.run(["docker", "inspect", "-f", "{{.State.StartedAt}}", edge],
                          capture_output=True, text=True).stdout == started
    auth = (Path(page.deploy_root) / "secrets/htpasswd/monitoring").read_text()
    assert auth.startswith(f"{user}:$6$") and password(page) not in auth


def test_make_status_says_where_the_page_and_its_password_are(page):
    run = cli("run", "staging", "healthcheck")
    assert run.returncode == 0, run.stdout + run.stderr
    assert (f"status page: https://{page.monitoring_hostname}/monitoring/ (user {page.monitoring['user']}; "
            f"the password is on the target: sudo cat {page.deploy_root}/secrets/values/monitoring_password)") in run.stdout
    assert password(page) not in run.stdout + run.stderr


def test_old_releases_and_the_images_only_they_used_are_pruned(page):
    """housekeeping.keep_releases (10): made-up old releases beyond it go, with an image only
    they used; an image another site's stopped container uses stays (docker refuses), and so
    do the current and last good releases."""
    releases = Path(page.deploy_root) / "releases"
    current = (releases / "current").read_text().strip()
    edge_image = subprocess.run(["docker", "inspect", "-f", "{{.Image}}", container_name(page, "edge")],
                                capture_output=True, text=True, check=True).stdout.strip()

    def image(tag: str) -> str:
        build = subprocess.run(["docker", "build", "-q", "-t", tag, "-"], input=f"FROM {edge_image}\nLABEL prune-test={tag}\n",
                               capture_output=True, text=True)
        assert build.returncode == 0, build.stderr
        return build.stdout.strip()

    only_old, wattsun = image("marketplace-prune-test:only-old"), image("marketplace-prune-test:wattsun")
    subprocess.run(["docker", "rm", "-f", "wattsun-prune-test"], capture_output=True)
    subprocess.run(["docker", "create", "--name", "wattsun-prune-test", "marketplace-prune-test:wattsun"],
                   check=True, capture_output=True)
    keep = page.housekeeping["keep_releases"]
    # keep + 3 made-up releases older than every real one: the oldest 3 are beyond `keep` whatever
    # else is there; they alone used the two test images
    fakes = [f"2001{i:02d}01T000000Z-0000000" for i in range(1, keep + 4)]
    try:
        for i, rid in enumerate(fakes):
            shutil.copytree(releases / current, releases / rid)
            if i < 3:
                (releases / rid / "images").write_text(
                    f"edge marketplace-prune-test:{'wattsun' if i == 2 else 'only-old'} "
                    f"{wattsun if i == 2 else only_old} -\n")
        ids = sorted(p.name for p in releases.glob("2*") if p.is_dir())
        run = subprocess.run(["docker", "exec", NAS, "bash", f"{page.deploy_root}/scripts/release.sh", "prune"],
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
        kept = sorted(p.name for p in releases.glob("2*") if p.is_dir())
        assert kept == sorted(set(ids[-keep:]) | {current})
        assert not any((releases / rid).exists() for rid in fakes[:3])
        gone = subprocess.run(["docker", "image", "inspect", only_old], capture_output=True)
        assert gone.returncode != 0  # used only by pruned releases: removed
        assert subprocess.run(["docker", "image", "inspect", wattsun], capture_output=True).returncode == 0
        audit = (releases / "audit.log").read_text()
        assert f"removed image marketplace-prune-test:only-old ({only_old})" in audit
        assert "pruned " in audit
    finally:
        subprocess.run(["docker", "rm", "-f", "wattsun-prune-test"], capture_output=True)
        subprocess.run(["docker", "image", "rm", "-f", "marketplace-prune-test:only-old",
                        "marketplace-prune-test:wattsun"], capture_output=True)
        for rid in fakes:
            shutil.rmtree(releases / rid, ignore_errors=True)
