"""The suite's lanes (``tests/lanes_plugin.py``): groups of test files in fresh
processes, their reports relayed as one run's."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent

FILES = {
    "conftest.py": """
        pytest_plugins = ["lanes_plugin"]
    """,
    "test_a.py": """
        import os

        def test_records_its_process(pids):
            pids("a")

        def test_passes():
            assert True
    """,
    "test_b.py": """
        import warnings

        import pytest

        def test_records_its_process(pids):
            pids("b")

        def test_fails():
            assert 1 + 1 == 3, "arithmetic is off"

        def test_warns():
            warnings.warn("a relayed warning", UserWarning)

        def test_skips():
            pytest.skip("not here")
    """,
    "crash/test_c.py": """
        import os

        def test_records_its_process(pids):
            pids("c")

        def test_dies():
            os._exit(3)

        def test_after_the_death():
            pass
    """,
    "deeper/test_d.py": """
        def test_records_its_process(pids):
            pids("d")
    """,
}

PIDS_FIXTURE = """
import os
import pytest

@pytest.fixture
def pids():
    def record(name):
        cpus = ",".join(map(str, sorted(os.sched_getaffinity(0))))
        with open(os.environ["PIDS_FILE"], "a") as fh:
            fh.write(f"{name} {os.getpid()} {cpus}\\n")
    return record
"""


def _project(tmp_path: Path) -> Path:
    for name, text in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    with open(tmp_path / "conftest.py", "a", encoding="utf-8") as fh:
        fh.write(PIDS_FIXTURE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    return tmp_path


def _run(project: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    pids_file = project / "pids.txt"
    pids_file.unlink(missing_ok=True)
    env = dict(
        os.environ, PYTHONPATH=str(TESTS), PIDS_FILE=str(pids_file),
        PYTEST_ADDOPTS="",
    )  # fmt: skip
    env.pop("SKEMOTION_TEST_LANE", None)  # this test may itself run in a lane
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-ra", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    rows = pids_file.read_text().splitlines() if pids_file.exists() else []
    found = {}
    for row in rows:
        name, pid, cpus = row.split()
        found[name] = (int(pid), frozenset(map(int, cpus.split(","))))
    return done, found


def test_lanes_run_files_in_fresh_processes_and_report_one_run(tmp_path):
    project = _project(tmp_path)
    done, pids = _run(project, "--lanes", "2")
    out = done.stdout
    assert done.returncode == 1, out
    assert "lanes: up to 2 fresh pytest processes" in out
    # every file ran, none in the process the user started, in more than one
    assert set(pids) == {"a", "b", "c", "d"}, out
    assert len({pid for pid, _ in pids.values()}) >= 2
    # each lane on its share of the CPUs: every other one, from its own
    cpus = sorted(os.sched_getaffinity(0))
    shares = {frozenset(cpus[0::2]), frozenset(cpus[1::2]) or frozenset(cpus[:1])}
    assert {used for _, used in pids.values()} <= shares
    # the failures of the children are this run's, with their reasons
    assert "FAILED test_b.py::test_fails - AssertionError: arithmetic is off" in out
    assert "FAILED crash/test_c.py::test_dies" in out
    assert "FAILED crash/test_c.py::test_after_the_death" in out
    assert "ended with status 3 during crash/test_c.py::test_dies before" in out
    assert "a relayed warning" in out  # the warnings summary
    assert "SKIPPED [1] test_b.py:16: not here" in out  # -ra's folded skips
    assert "3 failed, 6 passed, 1 skipped, 1 warning" in out


def test_one_lane_runs_everything_in_this_process(tmp_path):
    project = _project(tmp_path)
    (project / "crash" / "test_c.py").unlink()  # it would end this process
    done, pids = _run(project, "--lanes", "1")
    assert done.returncode == 1, done.stdout
    assert "lanes: off (--lanes 1): every test runs in this process" in done.stdout
    assert set(pids) == {"a", "b", "d"}
    assert len(set(pids.values())) == 1  # one process, its CPUs untouched
    assert next(iter(pids.values()))[1] == frozenset(os.sched_getaffinity(0))
    assert "1 failed, 5 passed, 1 skipped, 1 warning" in done.stdout


def test_maxfail_stops_the_lanes(tmp_path):
    project = _project(tmp_path)
    done, _ = _run(project, "--lanes", "2", "-x", "test_b.py", "deeper")
    assert done.returncode == 1
    assert "stopping after 1 failures" in done.stdout
    assert "1 failed" in done.stdout


class _Item:
    def __init__(self, nodeid: str):
        self.nodeid = nodeid


def test_the_plan_cuts_by_seconds_and_starts_what_fits_in_memory():
    from lanes_plugin import Busy, FileCost, next_group, plan_groups

    items = [_Item(f"tests/{name}.py::test_{i}") for name in "abcd" for i in range(4)]
    items += [_Item("tests/new.py::test_0")]  # not measured yet
    costs = {
        "tests/a.py": FileCost(seconds=80.0, tests=4, peak_mib=2500.0),
        "tests/b.py": FileCost(seconds=10.0, tests=4, peak_mib=900.0),
        "tests/c.py": FileCost(seconds=40.0, tests=8, peak_mib=1200.0),  # 4 of 8
        "tests/d.py": FileCost(seconds=30.0, tests=4, peak_mib=None),
    }
    groups = plan_groups(items, costs, n_lanes=2, groups_per_lane=3)
    # the share of a group: (80 + 10 + 20 + 30 + 1) / (2 lanes * 3) = 23.5 s
    assert [g.files for g in groups] == [
        ["tests/a.py"],
        ["tests/b.py", "tests/c.py"],
        ["tests/d.py"],
        ["tests/new.py"],
    ]
    assert [g.seconds for g in groups] == [80.0, 30.0, 30.0, 1.0]
    assert [g.peak_mib for g in groups] == [2500.0, 1200.0, 1024.0, 1024.0]
    assert sum(len(g.items) for g in groups) == len(items)
    # the longest starts where it fits, or alone
    assert next_group(groups, [], budget_mib=1000.0) is groups[0]
    assert next_group(groups, [Busy(1000.0, 50.0)], budget_mib=3600.0) is groups[0]
    # where it does not fit, a group that fits now and ends by the time the
    # longest fits starts meanwhile: b+c (30 s) beside a lane of 1,500 MiB
    # that ends in 40 s; beside one that ends in 20 s, only the 1-s group
    assert next_group(groups, [Busy(1500.0, 40.0)], budget_mib=3600.0) is groups[1]
    assert next_group(groups, [Busy(1500.0, 20.0)], budget_mib=3600.0) is groups[3]
    assert next_group(groups[:3], [Busy(1500.0, 20.0)], budget_mib=3600.0) is None
    # nothing that fits now: wait
    assert next_group(groups, [Busy(3000.0, 500.0)], budget_mib=3600.0) is None


def test_costs_are_kept_for_each_marker_expression(tmp_path):
    import json

    project = _project(tmp_path)
    (project / "crash" / "test_c.py").unlink()
    env = dict(os.environ, PYTHONPATH=str(TESTS), PIDS_FILE=str(project / "p"))
    env.pop("SKEMOTION_TEST_LANE", None)
    for args in (["-m", "not slow"], []):  # as the default run, then another
        subprocess.run(
            [sys.executable, "-m", "pytest", "--lanes", "2", *args],
            cwd=project, env=env, capture_output=True, timeout=300, check=False,
        )  # fmt: skip
    cached = project / ".pytest_cache" / "v" / "skemotion" / "lane-costs-by-selection"
    costs = json.loads(cached.read_text())
    assert set(costs) == {"not slow", ""}
    for selection in costs.values():
        assert set(selection) == {"test_a.py", "test_b.py", "deeper/test_d.py"}
        assert selection["test_b.py"]["tests"] == 4
        assert isinstance(selection["test_b.py"]["seconds"], float)
