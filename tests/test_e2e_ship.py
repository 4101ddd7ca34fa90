"""Images without a registry, on the staging target: `make ship` from the operator's machine (a
second Docker engine on this machine, with its own storage, standing for the operator's laptop:
the staging NAS shares this machine's main engine) over the deploy's SSH connection, skipped the
second time, its ID verified, another architecture refused; and a deploy that names an image
the target lacks stops before anything changes, saying which `make ship` brings it."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import pytest

from tests.support.clone import Clone
from tests.support.staging import ENV, REPO, Deploy, container_name, snapshot

pytestmark = pytest.mark.e2e
STAGING = "group_data/staging.py"
RUN = Path("/run/docker-operator-e2e")
DATA = Path("/var/lib/docker-operator-e2e")
BRIDGE = "operator-e2e"
STANDIN_BASE = "marketplace-local/base:bookworm"


@pytest.fixture(scope="module")
def operator(staging_stack, tmp_path_factory):
    """The operator's Docker engine (DOCKER_HOST for its CLI): no network, no containers needed."""
    RUN.mkdir(parents=True, exist_ok=True)
    sock = RUN / "docker.sock"
    log = open(tmp_path_factory.mktemp("operator") / "dockerd.log", "w")
    # A bridge of its own: with --bridge=none, dockerd deletes the host's docker0 (the main
    # engine's default network) at start.
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
    for argv in (["ip", "link", "add", BRIDGE, "type", "bridge"], ["ip", "addr", "add", "10.231.0.1/24", "dev", BRIDGE],
                 ["ip", "link", "set", BRIDGE, "up"]):
        subprocess.run(argv, check=True, capture_output=True)
    daemon = subprocess.Popen(["dockerd", "--data-root", str(DATA), "--exec-root", str(RUN / "exec"),
                               "-H", f"unix://{sock}", "--pidfile", str(RUN / "dockerd.pid"), f"--bridge={BRIDGE}",
                               "--iptables=false", "--ip-masq=false", "--containerd-namespace", "operator-e2e",
                               "--containerd-plugins-namespace", "operator-e2e-plugins"],
                              stdout=log, stderr=subprocess.STDOUT)
    env = {"DOCKER_HOST": f"unix://{sock}"}
    deadline = time.monotonic() + 60
    while subprocess.run(["docker", "version"], env=env, capture_output=True).returncode != 0:
        assert time.monotonic() < deadline and daemon.poll() is None, Path(log.name).read_text()[-2000:]
        time.sleep(0.5)
    yield env
    daemon.terminate()
    daemon.wait(timeout=60)
    shutil.rmtree(DATA, ignore_errors=True)
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
    # the main engine's default network is intact (a `docker run` on it works)
    assert docker(None, "run", "--rm", "--entrypoint", "true", STANDIN_BASE).returncode == 0


def docker(env: dict | None, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], env={**ENV, **(env or {})}, input=stdin, capture_output=True)


def build(env: dict, tag: str, dockerfile: str, files: dict[str, bytes]) -> str:
    """An image built on the operator's engine: its ID."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in {"Dockerfile": dockerfile.encode(), **files}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    built = docker(env, "build", "-q", "-t", tag, "-", stdin=context.getvalue())
    assert built.returncode == 0, built.stderr
    return docker(env, "image", "inspect", "-f", "{{.Id}}", tag).stdout.decode().strip()


def make_ship(env: dict, image: str) -> subprocess.CompletedProcess:
    """`make ship IMAGE=... TARGET=staging` as the operator runs it."""
    return subprocess.run(["make", "-s", "ship", f"IMAGE={image}", "TARGET=staging"], cwd=REPO,
                          env={**ENV, **env}, capture_output=True, text=True)


def on_target(image: str) -> str:
    found = docker(None, "image", "inspect", "-f", "{{.Id}}", image)
    return found.stdout.decode().strip() if found.returncode == 0 else ""


def test_make_ship_loads_an_image_verifies_it_and_skips_it_the_second_time(operator):
    image = f"marketplace-e2e/shipped:{uuid.uuid4().hex[:8]}"
    blob = bytes(range(256)) * 4096 * 8  # 8 MiB: more than one chunk of the stream
    image_id = build(operator, image, "FROM scratch\nCOPY blob /blob\n", {"blob": blob})
    assert on_target(image) == ""
    try:
        first = make_ship(operator, image)
        assert first.returncode == 0, first.stdout + first.stderr
        assert f"ship: {image} ({image_id[:19]}, amd64) loaded on staging and verified" in first.stdout
        assert on_target(image) == image_id
        second = make_ship(operator, image)
        assert second.returncode == 0 and f"{image} ({image_id[:19]}) is already on staging: skipped" in second.stdout
        assert ENV["MARKETPLACE_SUDO_PASSWORD"] not in first.stdout + first.stderr + second.stdout
    finally:
        docker(None, "image", "rm", "-f", image)


def test_an_image_for_another_architecture_is_refused_before_anything_is_sent(operator):
    image = f"marketplace-e2e/arm:{uuid.uuid4().hex[:8]}"
    build(operator, image, "FROM scratch\nCOPY hello /hello\n", {"hello": b"hi\n"})
    saved = tarfile.open(fileobj=io.BytesIO(docker(operator, "save", image).stdout))
    config_name = json.load(saved.extractfile("manifest.json"))[0]["Config"]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:  # the same image, built for arm64
        for member in saved.getmembers():
            data = saved.extractfile(member).read() if member.isfile() else None
            if member.name == config_name:
                data = json.dumps({**json.loads(data), "architecture": "arm64"}).encode()
            if data is None:
                tar.addfile(member)
            else:
                member.size = len(data)
                tar.addfile(member, io.BytesIO(data))
    assert docker(operator, "load", stdin=out.getvalue()).returncode == 0
    assert docker(operator, "image", "inspect", "-f", "{{.Architecture}}", image).stdout.decode().strip() == "arm64"
    refused = make_ship(operator, image)
    assert refused.returncode != 0
    assert f"ship: {image} is built for arm64, the target staging is amd64 (x86_64)" in refused.stderr
    assert "--platform linux/amd64" in refused.stderr
    assert on_target(image) == ""


def test_a_deploy_naming_a_missing_image_stops_before_anything_changes_then_ship_it(operator, staging_stack,
                                                                                     tmp_path_factory):
    standin = docker(None, "inspect", "-f", "{{.Config.Image}}", container_name(staging_stack, "condo"))
    standin = standin.stdout.decode().strip()
    assert standin, "condo's running image"
    image = f"marketplace-e2e/condo:{uuid.uuid4().hex[:8]}"
    clone = Clone(tmp_path_factory.mktemp("ship") / "repo")
    clone.commit("condo from an image built elsewhere", append={STAGING: (
        f'\nservices = {{"condo": {{"image": "{image}", "build": None, "image_from": "ship"}}}}\n')})
    before = snapshot(staging_stack)
    refused = clone.deploy()
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert f"missing on the target: {image} (condo)" in output
    assert f"make ship IMAGE={image} TARGET=staging" in output
    assert snapshot(staging_stack) == before
    # the operator builds it (here: the stand-in, on their own engine) and ships it
    moved = docker(operator, "load", stdin=docker(None, "save", standin).stdout)
    assert moved.returncode == 0, moved.stderr
    build(operator, image, f"FROM {standin}\nLABEL org.opencontainers.image.title=condo-built-elsewhere\n", {})
    try:
        shipped = make_ship(operator, image)
        assert shipped.returncode == 0, shipped.stdout + shipped.stderr
        deployed = clone.deploy()
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-2000:]
        running = docker(None, "inspect", "-f", "{{.Config.Image}}", container_name(staging_stack, "condo"))
        assert running.stdout.decode().strip() == image
    finally:
        assert Deploy().rc == 0  # staging back to its own catalog
