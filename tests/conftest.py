"""Shared fixtures: catalogs of every target, built from the real group_data."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from deploys import catalog as catalog_mod
from deploys.render import render

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def local():
    return catalog_mod.load("local")


@pytest.fixture(scope="session")
def staging():
    return catalog_mod.load("staging")


@pytest.fixture(scope="session")
def local_files(local):
    return render(local)


@pytest.fixture
def group_data(tmp_path):
    """A copy of group_data with a target file of the test's own: write(target, text)."""
    src = REPO / "group_data"
    for f in src.glob("*.py"):
        (tmp_path / f.name).write_text(f.read_text())

    def write(target: str, text: str) -> Path:
        (tmp_path / f"{target}.py").write_text(textwrap.dedent(text))
        return tmp_path

    return write
