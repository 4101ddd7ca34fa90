"""The planner, driven by data fixtures (tests/fixtures/plan/*.json): a described target state
goes through the real parser (as the state command's output) and the real planner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploys.facts import parse_state
from deploys.plan import converge_reasons, health_routes, snapshot_databases, state_script
from deploys.render import directories, expected_containers

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "plan").glob("*.json"))


def state_output(catalog, files, fixture) -> list[str]:
    """What the state command prints for a target as the fixture describes it."""
    if fixture.get("noroot"):
        return ["@noroot"]
    lines = ["@dirs", *directories(catalog, files), "@stat"]
    shas = {p: f.sha256 for p, f in files.items()} | fixture.get("files", {})
    lines += [f"{f.mode:o} {catalog.file_owner} {p}" for p, f in files.items()]
    lines += ["@sha", *(f"{sha}  {p}" for p, sha in shas.items())]
    lines += ["@secret_values", *catalog.used_secrets]
    recorded = [f"{files['scripts/secrets.sh'].sha256}  scripts/secrets.sh", "ab  secrets/x.env"]
    now = recorded if not fixture.get("secret_now_differs") else [recorded[0], "cd  secrets/x.env"]
    lines += ["@secret_state", *recorded, "@secret_now", *now, "@containers"]
    containers = {n: {"state": "running", "health": "healthy", "image": image, "config": config}
                  for n, (image, config) in expected_containers(catalog, files).items()}
    for name, change in fixture.get("containers", {}).items():
        if change is None:
            containers.pop(name)
        else:
            containers[name] = {**containers.get(name, {}), **change}
    lines += [f"{n}|{c['state']}|{c['health']}|{c['image']}|{c['config']}" for n, c in containers.items()]
    routes = {n: str(catalog.services[n].health.http_status) for n in health_routes(catalog)}
    routes |= fixture.get("routes", {})
    return lines + ["@routes", *(f"{n} {code}" for n, code in routes.items()), "@end"]


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_plan(local, local_files, path):
    fixture = json.loads(path.read_text())
    state = parse_state(state_output(local, local_files, fixture))
    current, _ = state.secrets_current(local.used_secrets, local_files["scripts/secrets.sh"].sha256)
    reasons = converge_reasons(local, local_files, state, current)
    if "expected" in fixture:
        assert reasons == fixture["expected"]
    for text in fixture.get("expected_contains", []):
        assert text in reasons
    for prefix in fixture.get("expected_prefix", []):
        assert any(r.startswith(prefix) for r in reasons), reasons
    assert snapshot_databases(local, local_files, state) == fixture.get("expected_snapshots", [])


def test_state_script_is_one_command_reading_everything(local, local_files):
    script = state_script(local, local_files, directories(local, local_files))
    for marker in ("@dirs", "@stat", "@sha", "@secret_values", "@secret_state", "@containers", "@routes"):
        assert f"echo '{marker}'" in script
    assert "secrets/values/" not in script.replace("ls secrets/values", "")  # never reads a value
