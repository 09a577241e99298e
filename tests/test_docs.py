"""The documentation covers the public API."""

from __future__ import annotations

import re

from conftest import REPO_ROOT

import skemotion


def test_every_public_name_has_an_api_page():
    api = (REPO_ROOT / "docs" / "api.rst").read_text()
    listed = set(re.findall(r"^   (\w+)$", api, flags=re.MULTILINE))
    public = set(skemotion.__all__) - {"__version__"}
    assert public - listed == set(), "add these to docs/api.rst"
    assert listed - public == set(), "docs/api.rst lists names that are not exported"


def test_every_public_name_has_a_numpydoc_docstring():
    for name in set(skemotion.__all__) - {"__version__"}:
        doc = getattr(skemotion, name).__doc__ or ""
        assert len(doc.strip()) > 20, name
