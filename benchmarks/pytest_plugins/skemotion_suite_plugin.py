"""A pytest plugin for ``test_suite.py``: the test now running, in a file.

Loaded with ``-p skemotion_suite_plugin`` (``benchmarks/pytest_plugins/`` on
``PYTHONPATH``: a folder of its own, so that no benchmark shadows a module);
the file is ``$SKEMOTION_SUITE_CURRENT``. The sampler reads it to say which
tests the memory peaks happen in. With ``$SKEMOTION_SUITE_LOG`` set, the
pytest process's own resident memory at the start of each test is appended
there (``<MiB> <test id>`` lines), to see which tests leave memory behind.
"""

from __future__ import annotations

import os


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pytest_runtest_logstart(nodeid, location):
    path = os.environ.get("SKEMOTION_SUITE_CURRENT")
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(nodeid)
    log = os.environ.get("SKEMOTION_SUITE_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{_rss_mib():.0f} {nodeid}\n")
