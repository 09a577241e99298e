"""The default test run's cost: wall time, peak memory of all its processes
together, and (with ``--coverage``) the package's line coverage.

The README's second command, ``python -m pytest``, runs in a child process;
every 0.2 s this script adds up the resident memory of that process and of
all its descendants (the servers, the Dask workers, Chromium, the
subprocesses the CLI tests start) and keeps the largest sum: the memory the
run needs on a machine of its own. ``ru_maxrss`` of the children would give
only the largest single process. It also prints the CPU time they used (user
and system, every process waited for): a run that needs more CPU-seconds than
the cores give in the goal's time cannot meet it however it is spread.

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


def _tree_rss_bytes(root_pid: int) -> int:
    """Resident bytes of ``root_pid`` and every process below it."""
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
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


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
    command += ["pytest", "-q", "-p", "no:cacheprovider", "-p", plugin,
                *args.pytest_args]  # fmt: skip
    current = tempfile.NamedTemporaryFile(prefix="skemotion-suite-", delete=False)
    env = dict(os.environ, SKEMOTION_SUITE_CURRENT=current.name)
    plugins = str(ROOT / "benchmarks" / "pytest_plugins")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [plugins, env.get("PYTHONPATH")]))
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, env=env)
    peak = 0
    by_test: dict[str, int] = {}
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.2):
            rss = _tree_rss_bytes(child.pid)
            peak = max(peak, rss)
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
          f"peak memory of the whole process tree {peak / 2**30:.2f} GiB; "
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
    os.unlink(current.name)
    if args.coverage:
        subprocess.run([sys.executable, "-m", "coverage", "combine", "-q"], cwd=ROOT)
        subprocess.run([sys.executable, "-m", "coverage", "report",
                        "--format=total"], cwd=ROOT)  # fmt: skip
        print("(the total line coverage of skemotion, in percent)")
    sys.exit(code)


if __name__ == "__main__":
    main()
