"""deploys/preflight.py's judgement of the images on the target: a case per line (what the
target has, what the check must say)."""

from __future__ import annotations

import pytest

from deploys import preflight

# (images on the target, the catalog's changes to staging's condo, ok, words in the finding/fix)
CASES = {
    "built-images-are-never-missing": ("", {}, True, ["all present"]),
    "a-shipped-image-that-is-there": ("acme/condo:2.1 ", {"image": "acme/condo:2.1"}, True, ["all present"]),
    "a-shipped-image-that-is-not": ("", {"image": "acme/condo:2.1"}, False,
                                   ["acme/condo:2.1 (condo)", "make ship IMAGE=acme/condo:2.1 TARGET=e2e"]),
    "a-registry-image-is-pulled": ("", {"image": "acme/condo:2.1", "image_from": "registry"}, True,
                                   ["Compose pulls acme/condo:2.1"]),
}


@pytest.mark.parametrize("case", CASES)
def test_images_on_the_target(case, group_data):
    from deploys.catalog import load

    present, condo, ok, words = CASES[case]
    text = "extends = ['staging']\n"
    if condo:
        text += f"services = {{'condo': {{'build': None, 'image_from': 'ship', **{condo!r}}}}}\n"
    catalog = load("e2e", group_data("e2e", text))
    check = preflight.images(catalog, {"images": present})
    assert check.ok is ok
    for word in words:
        assert word in check.found + check.fix, (case, check)
