"""Bad input is refused before anything connects: every case of tests/fixtures/bad_catalogs.yaml
names its key path, its file, says what is wrong and how to fix it."""

from __future__ import annotations

import json

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deploys import catalog as catalog_mod

REPO = Path(__file__).resolve().parent.parent
CASES = yaml.safe_load((REPO / "tests/fixtures/bad_catalogs.yaml").read_text())
BASE = {"local": 'extends = ["standins"]\n', "production": "", "swarm": 'extends = ["swarm"]\n'}
# A case of the swarm target is a file of its own that extends group_data/swarm.py.
FILE = {"swarm": "swarm_case"}


def problems_for(group_data, target: str, text: str) -> list[catalog_mod.Problem]:
    name = FILE.get(target, target)
    root = group_data(name, BASE[target] + text + "\n")
    with pytest.raises(catalog_mod.CatalogError) as err:
        catalog_mod.load(name, root)
    return err.value.problems


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input_is_refused_with_its_key_path(group_data, case):
    target = case.get("target", "local")
    problems = problems_for(group_data, target, case["set"])
    matching = [p for p in problems if p.path == case["path"]]
    assert matching, f"no problem at {case['path']}; got: {[str(p) for p in problems]}"
    assert any(case["message"] in p.message for p in matching), [str(p) for p in matching]
    if "hint" in case:
        assert any(case["hint"] in p.hint for p in matching), [p.hint for p in matching]
    if "source" in case:
        assert any(p.source.endswith(case["source"]) for p in matching), [p.source for p in matching]
    assert all(p.source.startswith("group_data/") or p.source.endswith(".py") for p in problems)


def test_at_least_25_bad_inputs_are_covered():
    assert len(CASES) >= 25


def test_the_problem_names_the_file_that_set_the_key(group_data):
    [problem] = [p for p in problems_for(group_data, "local", 'services = {"kaui": {"host_port": 3101}}')
                 if p.path == "services.kaui.host_port"]
    assert problem.source.endswith("local.py")
    assert str(problem).startswith("services.kaui.host_port: 3101 is also published by services.connector")


def test_every_problem_is_listed_at_once(group_data):
    text = "\n".join(c["set"] for c in CASES if c["id"] in (
        "duplicate-host-port", "image-floating-tag", "condo-under-a-prefix"))
    text = 'services = {"kaui": {"host_port": 3101}, "edge": {"image": "nginx:stable", "build": None}}\n' \
           'routes = {"condo": {"host": "main", "path": "/condo"}}'
    paths = {p.path for p in problems_for(group_data, "local", text)}
    assert {"services.kaui.host_port", "services.edge.image", "routes.condo.path"} <= paths


def test_schema_errors_in_two_files_are_each_attributed(group_data):
    root = group_data("staging", 'extends = ["standins", "local"]\nport_offset = "x"\n')
    (root / "local.py").write_text((REPO / "group_data/local.py").read_text() + '\nwait_timeout = 5\n')
    with pytest.raises(catalog_mod.CatalogError) as err:
        catalog_mod.load("staging", root)
    sources = {p.path: p.source for p in err.value.problems}
    assert sources["port_offset"].endswith("staging.py")
    assert sources["wait_timeout"].endswith("local.py")


def test_the_shipped_local_and_staging_catalogs_are_valid():
    for target in ("local", "staging"):
        catalog_mod.load(target)


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deploys.ops.cli", *args], cwd=REPO, text=True,
                          capture_output=True, env={**os.environ, **(env or {})})


def test_make_validate_passes_local_and_staging_and_lists_what_production_needs():
    result = _cli("validate")
    assert result.returncode == 1
    assert "local: ok" in result.stdout and "staging: ok" in result.stdout
    assert "services.condo.image" in result.stdout and "tunnel.id" in result.stdout
    assert _cli("validate", "local", "staging").returncode == 0


def test_pyinfra_refuses_a_bad_catalog_before_connecting(tmp_path):
    """The inventory validates first: with nothing listening on the SSH port, a connection
    attempt would fail differently; the catalog error comes first and nothing is touched."""
    result = subprocess.run(
        [str(REPO / ".venv/bin/pyinfra"), "-y", "inventory.py", "deploys/marketplace.py"],
        cwd=REPO, text=True, capture_output=True,
        env={**os.environ, "MARKETPLACE_TARGET": "production", "MARKETPLACE_NAS": "192.0.2.1"})
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "services.condo.image" in output and "Nothing was touched" in output
    assert "Connecting" not in output and "192.0.2.1" not in output.split("problem(s)")[0]


GOOD = yaml.safe_load((REPO / "tests/fixtures/good_catalogs.yaml").read_text())


@pytest.mark.parametrize("case", GOOD, ids=[c["id"] for c in GOOD])
def test_close_but_good_input_stays_accepted(group_data, case):
    root = group_data("local", BASE["local"] + case["set"] + "\n")
    catalog = catalog_mod.load("local", root)
    assert catalog.services


def test_a_value_with_shell_characters_reaches_the_env_file_literally(group_data):
    from deploys.render import render

    value = "$(touch /tmp/x) `id` 'quoted' \"double\" ; & |"
    root = group_data("local", BASE["local"] + f"services = {{'connector': {{'secret_env': {{'GREETING': {value!r}}}}}}}\n")
    catalog = catalog_mod.load("local", root)
    description = json.loads(render(catalog)["ops/stack.json"].content)
    # a JSON string, taken literally by the program (which writes `$` as `$$` for Compose)
    assert ["GREETING", value] in description["secrets"]["env_files"]["secrets/connector.env"]
