"""Sphinx configuration for the skemotion documentation.

Build (from the repository root; the gallery examples run on real data):

    SKEMOTION_DATA=$PWD/../shared/data .venv/bin/sphinx-build -W --keep-going \
        -b html docs docs/_build/html
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's skemotion, whatever is installed

import skemotion  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _write_cli_help() -> None:
    """Write every command's --help text for cli.rst to include."""
    from skemotion.cli._arguments import build_parser
    from skemotion.cli._commands import COMMANDS

    parser = build_parser(COMMANDS)
    sub = next(a for a in parser._actions if a.__class__.__name__.startswith("_Sub"))
    parts = [parser.format_help()]
    for name, command in sub.choices.items():
        parts.append(f"$ skemotion {name} --help\n{command.format_help()}")
    out = Path(__file__).parent / "_generated" / "cli_help.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(parts))


_write_cli_help()

project = "skemotion"
author = "skemotion developers"
copyright = "2026, skemotion developers"
release = skemotion.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.zip"]
autosummary_generate = True
# scikit-learn adds set_*_request methods (metadata routing) to every
# estimator at class creation; their docstrings point into scikit-learn's own
# docs, so they are left to scikit-learn's reference.
_ROUTING = ["set_fit_request", "set_partial_fit_request", "set_predict_request",
            "set_predict_proba_request", "set_score_request",
            "set_transform_request", "set_output"]  # fmt: skip
autodoc_default_options = {
    "members": True,
    "inherited-members": False,
    "exclude-members": ",".join(_ROUTING),
}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()

html_theme = "furo"
html_title = f"skemotion {release}"

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # every example runs during the build, on small real data
    "filename_pattern": r".*\.py$",
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": False,
    "plot_gallery": "True",
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "run_stale_examples": True,
}

# The gallery runs offline: scikeras and TensorFlow print warnings that are not
# about the documentation; keep Sphinx's own warnings as errors (-W).
suppress_warnings = ["config.cache"]
