"""The default test run's cost: wall time, peak memory of all its processes
together, and (with ``--coverage``) the package's line coverage.

The README's second command, ``python -m pytest``, runs in a child process;
every 0.2 s this script adds up the resident memory of that process and of
all its descendants (the servers, the Dask workers, Chromium, the
subprocesses the CLI tests start) and keeps the largest sum. That sum counts
a library that several processes map (TensorFlow's, about 380 MiB) once for
each, so two more figures say what the run takes of the machine: the sum of
proportional set sizes (each shared page divided among its processes; read
every 5 s, as it is costly) and the machine's memory in use over its use
before the run (every 0.2 s: exact on a machine of its own). ``ru_maxrss`` of
the children would give only the largest single process. With lanes
(``tests/lanes_plugin.py``) it also gives each lane's largest sum. It also
prints the CPU time they used (user and system, every process waited for):
a run that needs more CPU-seconds than the cores give in the goal's time
cannot meet it however it is spread.

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/test_suite.py \\
        [--coverage] [-- extra pytest arguments]

The goal (issue 30): at most 6 minutes and 4 GiB on 2 cores. Say what else
ran on the machine beside it: a busy machine stretches the time.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _process_tree() -> tuple[dict[int, list[int]], dict[int, int]]:
    """Every process's children and resident bytes, from ``/proc``."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields[21]) * page
    return children, rss


def _subtree_pids(root_pid: int, children) -> list[int]:
    """``root_pid`` and every process below it."""
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _pss_bytes(pid: int) -> int:
    """The process's proportional share of the memory it maps (its own pages,
    and each page it shares with n processes counted 1/n): summed over
    processes, what they take of the machine, where a sum of resident sizes
    counts a library that several processes map (TensorFlow's, about 380 MiB)
    once for each."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # gone meanwhile, or not ours to read
        pass
    return 0


#: Seconds between PSS readings: ``smaps_rollup`` costs about 16 ms for a
#: process that imported TensorFlow, so reading every process's every 0.2 s
#: would take a fifth of a core from the run it measures.
PSS_EVERY = 5.0


def _used_bytes() -> int:
    """The machine's memory in use: total less available (``/proc/meminfo``)."""
    fields = {}
    with open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            name, value = line.split(":", 1)
            fields[name] = int(value.split()[0]) * 1024
    return fields["MemTotal"] - fields["MemAvailable"]


def _lane_files(pid: int) -> str | None:
    """The test files a lane process runs (``tests/lanes_plugin.py`` gives each
    its test ids in an ``@file``), None for another process."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            args = fh.read().decode(errors="replace").split("\0")
        at = next(a for a in args if a.startswith("@"))
        with open(at[1:], encoding="utf-8") as fh:
            files = {line.split("::", 1)[0] for line in fh if line.strip()}
    except (OSError, StopIteration):
        return None
    return ", ".join(sorted(f.removeprefix("tests/") for f in files))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--coverage",
        action="store_true",
        help="measure line coverage of skemotion (slower)",
    )
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args()
    command = [sys.executable, "-m"]
    if args.coverage:
        # the pytest process's own lines (code run only in a subprocess, a
        # server started by the CLI, say, is not counted)
        command += ["coverage", "run", "--source=skemotion", "--parallel-mode", "-m"]
    plugin = "skemotion_suite_plugin"  # in benchmarks/pytest_plugins
    # pytest's cache stays on: the lanes plan with the costs measured here
    # (tests/lanes_plugin.py), as a developer's runs do
    command += ["pytest", "-q", "-p", plugin, *args.pytest_args]
    if args.coverage:  # every test in the measured process: the same lines run
        command += ["--lanes", "1"]
    current = tempfile.NamedTemporaryFile(prefix="skemotion-suite-", delete=False)
    env = dict(os.environ, SKEMOTION_SUITE_CURRENT=current.name)
    plugins = str(ROOT / "benchmarks" / "pytest_plugins")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [plugins, env.get("PYTHONPATH")]))
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, env=env)
    peak = 0
    by_test: dict[str, int] = {}
    by_lane: dict[str, int] = {}
    by_lane_pss: dict[str, int] = {}
    peak_pss = 0
    last_pss = 0.0
    used_before = _used_bytes()
    peak_used = 0
    labels: dict[int, str | None] = {}
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_pss, last_pss, peak_used
        while not done.wait(0.2):
            tree, sizes = _process_tree()
            everyone = _subtree_pids(child.pid, tree)
            rss = sum(sizes.get(p, 0) for p in everyone)
            peak = max(peak, rss)
            peak_used = max(peak_used, _used_bytes() - used_before)
            pss: dict[int, int] = {}
            if time.perf_counter() - last_pss >= PSS_EVERY:
                last_pss = time.perf_counter()
                pss = {p: _pss_bytes(p) for p in everyone}
                peak_pss = max(peak_pss, sum(pss.values()))
            for pid in tree.get(child.pid, []):
                if pid not in labels:
                    labels[pid] = _lane_files(pid)
                if labels[pid]:
                    pids = _subtree_pids(pid, tree)
                    lane = sum(sizes.get(p, 0) for p in pids)
                    by_lane[labels[pid]] = max(by_lane.get(labels[pid], 0), lane)
                    if pss:
                        share = sum(pss.get(p, 0) for p in pids)
                        by_lane_pss[labels[pid]] = max(
                            by_lane_pss.get(labels[pid], 0), share
                        )
            try:
                test = Path(current.name).read_text(encoding="utf-8") or "(collecting)"
            except OSError:
                continue
            by_test[test] = max(by_test.get(test, 0), rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = child.wait()
    done.set()
    sampler.join()
    wall = time.perf_counter() - start
    print(f"\npytest exit status {code}; wall {wall / 60:.1f} min ({wall:.0f} s); "
          f"peak memory of the whole process tree {peak / 2**30:.2f} GiB "
          f"(sum of resident sizes; sum of proportional sizes, read every "
          f"{PSS_EVERY:.0f} s: {peak_pss / 2**30:.2f} GiB; the machine's memory "
          f"in use, over its use before: {peak_used / 2**30:.2f} GiB); "
          f"{os.cpu_count()} cores, load average now "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    # the CPU of every process below this one that was waited for (the
    # pytest process, its servers, workers and subprocesses): the work that
    # no arrangement of the run onto the cores can make smaller
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = used.ru_utime + used.ru_stime
    print(f"CPU time of the run: {cpu:.0f} s ({used.ru_utime:.0f} user + "
          f"{used.ru_stime:.0f} system), {cpu / wall:.2f} cores on average; "
          f"{os.cpu_count()} cores give {os.cpu_count() * 360} CPU-seconds in "
          "6 minutes")  # fmt: skip
    print("The tests the largest sums were sampled in (GiB):")
    for test, rss in sorted(by_test.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {rss / 2**30:5.2f}  {test}")
    if by_lane:
        print("Each lane's largest sum (its pytest process and what it started), "
              "GiB resident and proportional, and its test files:")  # fmt: skip
        for files, rss in sorted(by_lane.items(), key=lambda kv: -kv[1]):
            print(
                f"  {rss / 2**30:5.2f}  {by_lane_pss.get(files, 0) / 2**30:5.2f}  "
                f"{files}"
            )
    os.unlink(current.name)
    if args.coverage:
        subprocess.run([sys.executable, "-m", "coverage", "combine", "-q"], cwd=ROOT)
        subprocess.run([sys.executable, "-m", "coverage", "report",
                        "--format=total"], cwd=ROOT)  # fmt: skip
        print("(the total line coverage of skemotion, in percent)")
    sys.exit(code)


if __name__ == "__main__":
    main()
