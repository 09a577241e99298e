"""A pytest plugin for ``test_suite.py``: the test now running, in a file.

Loaded with ``-p skemotion_suite_plugin`` (``benchmarks/pytest_plugins/`` on
``PYTHONPATH``: a folder of its own, so that no benchmark shadows a module);
the file is ``$SKEMOTION_SUITE_CURRENT``. The sampler reads it to say which tests the
memory peaks happen in.
"""

from __future__ import annotations

import os


def pytest_runtest_logstart(nodeid, location):
    path = os.environ.get("SKEMOTION_SUITE_CURRENT")
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(nodeid)
