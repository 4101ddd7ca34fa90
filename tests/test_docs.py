"""The documents agree with the code: docs/SETTINGS.md is what the schema generates, the README's
settings and links are true, and the front door stays short."""

from __future__ import annotations

import json
import re
import runpy

from deploys.catalog import settings_doc
from deploys.catalog.draft import GROUP_DATA, REPO

README = (REPO / "README.md").read_text()


def test_settings_md_is_generated_from_the_schema():
    committed = (REPO / "docs" / "SETTINGS.md").read_text()
    assert committed == settings_doc.generate(), "docs/SETTINGS.md is stale: run `make docs`"


def test_every_setting_of_the_schema_is_in_settings_md():
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", (REPO / "docs" / "SETTINGS.md").read_text(), re.M))
    defaults = runpy.run_path(str(GROUP_DATA / "all.py"))
    assert set(defaults["__annotations__"]) <= documented
    assert {f"service_defaults.{k}" for k in defaults["service_defaults"]} <= documented


def _lookup(defaults: dict, dotted: str):
    node = defaults
    for part in dotted.split("."):
        node = node[part]
    return node


def test_the_readme_settings_table_agrees_with_the_schema():
    section = README.split("## Settings", 1)[1]
    rows = re.findall(r"^\| (`[a-z_.]+`(?:, `[a-z_.]+`)*) \| (.+) \|$", section, re.M)
    defaults = runpy.run_path(str(GROUP_DATA / "all.py"))
    checked = 0
    for names, cell in rows:
        settings, shown = re.findall(r"`([^`]+)`", names), re.findall(r"`([^`]+)`", cell)
        # a row of several settings shows one default each, in order; a row of one may show several
        pairs = zip(settings, shown) if len(settings) > 1 else ((settings[0], v) for v in shown)
        for setting, value in pairs:
            held = json.dumps(_lookup(defaults, setting))
            assert value in held, f"README says {setting} defaults to {value!r}; all.py says {held}"
            checked += 1
    assert checked >= 10


def test_the_readme_is_short_and_its_links_exist():
    assert len(README.splitlines()) <= 150
    for link in re.findall(r"\]\(((?:docs/)[^)#]+)\)", README):
        assert (REPO / link).is_file(), link


def test_the_readme_names_the_folders_that_exist():
    for folder in re.findall(r"^\| `([a-z_./]+/)` \|", README, re.M):
        assert (REPO / folder).is_dir(), folder
