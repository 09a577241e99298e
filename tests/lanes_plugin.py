"""The test run in lanes: groups of test files, each in a fresh pytest process,
a few processes at a time.

Why: TensorFlow keeps the memory it allocated (its oneDNN pool never shrinks;
``benchmarks/README.md``, "Where the held memory is"), so one process that runs
every test ends up holding what all of them needed, and it uses one core of
the machine's. Here the collected tests are cut into groups of whole test
files (a folder's files stay together where the folder is small); each group
runs in a new pytest process, and ``--lanes N`` processes run at once, each
on its share of the CPUs (pinned: the thread pools of TensorFlow and LiteRT
are sized by the CPUs a process may use, and two lanes' pools would compete).
The run then needs what N groups need at the same time, on N cores.

This process collects the tests, plans the groups and relays every report of
the children to its own hooks: the terminal's lines, ``-ra``'s summary,
``--durations``, ``--junitxml``, the warnings summary and ``--lf``'s cache see
one run, and the exit status is that run's. A child that dies (a crash, a
signal) fails the tests it had not finished, with the end of its output.

Where it stands aside (the tests run in this process, as plain pytest does):
``--lanes 1`` (or 0), a single group of tests, ``--collect-only``, ``--pdb``,
``--trace``, ``-s`` (output straight to the terminal), pytest-xdist's ``-n``,
or inside a lane.

The plan uses each test file's costs from the last run of the same marker
expression here (pytest's cache; the default run and ``-m slow`` are kept
apart) or, on a fresh clone, from ``tests/lane_costs.json`` (measured; a file in
neither counts a second a test and 1 GiB): its seconds, and the memory its
lane held while it ran (the lane's processes' resident memory less what they
share with files, as TensorFlow's libraries, read every half second). The
longest group whose memory fits beside the lanes running starts first
(``--lanes-memory``, 3.6 GiB by default: with this process, 4 GiB); one that
does not fit yet is promised the moment it will, and shorter groups that end
by then fill the free lanes meanwhile (:func:`next_group`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

#: Set in each lane's environment; inside a lane, lanes stand aside.
LANE_ENV = "SKEMOTION_TEST_LANE"
#: Where each test file's costs are kept in pytest's cache, for each marker
#: expression (``-m``): the same file costs another time and memory in the
#: default run and in ``-m slow``.
CACHE_KEY = "skemotion/lane-costs-by-selection"
#: The costs measured on a development machine, for a fresh clone.
SHIPPED_COSTS = Path(__file__).with_name("lane_costs.json")
#: A group is about this share of a lane's work (more groups: a shorter tail,
#: but each new process imports TensorFlow again, about 5 s of CPU).
GROUPS_PER_LANE = 3
#: At most this many lanes by default (``auto``).
MAX_AUTO_LANES = 4
#: The memory the lanes may hold together by default, GiB: with this process
#: (about 0.4 GiB once the test modules are imported), 4 GiB.
DEFAULT_BUDGET_GIB = 3.6
#: What a test file not measured yet is expected to hold, MiB.
UNKNOWN_PEAK_MIB = 1024.0
#: How often the lanes' memory is read, seconds.
SAMPLE_EVERY = 0.5


def pytest_addoption(parser):
    group = parser.getgroup("skemotion lanes")
    group.addoption(
        "--lanes",
        default="auto",
        help="run the tests in groups of files, each group in a fresh pytest "
        "process, this many processes at once; 'auto' (default): the CPUs "
        f"this process may use, at most {MAX_AUTO_LANES}; 0 or 1: all in this "
        "process",
    )
    group.addoption(
        "--lanes-memory",
        type=float,
        default=DEFAULT_BUDGET_GIB,
        help="GiB the lanes may hold together: a group of files starts only "
        "where its memory (measured in an earlier run) fits beside the lanes "
        f"running (default {DEFAULT_BUDGET_GIB})",
    )
    # inside a lane: where its reports go (the parent passes it)
    group.addoption("--lane-report", default=None, help=argparse.SUPPRESS)


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _lanes_wanted(config) -> int:
    value = str(config.getoption("lanes")).strip().lower()
    if value == "auto":
        return min(_usable_cpus(), MAX_AUTO_LANES)
    try:
        n = int(value)
    except ValueError:
        raise pytest.UsageError(
            f"--lanes takes a number or 'auto', got {value!r}"
        ) from None
    if n < 0:
        raise pytest.UsageError(f"--lanes must be 0 or more, got {n}")
    return n


def _why_in_process(config) -> str | None:
    """Why the tests run in this process, or None where lanes may run them."""
    if os.environ.get(LANE_ENV):
        return "inside a lane"
    if _lanes_wanted(config) <= 1:
        value = config.getoption("lanes")
        return "one CPU" if value == "auto" else f"--lanes {value}"
    option = config.option
    for name, why in (
        ("collectonly", "--collect-only"),
        ("usepdb", "--pdb"),
        ("trace", "--trace"),
    ):
        if getattr(option, name, False):
            return why
    if getattr(option, "capture", "fd") == "no":
        return "-s"
    if getattr(option, "numprocesses", None) or getattr(option, "dist", "no") != "no":
        return "pytest-xdist"
    return None


def pytest_report_header(config):
    """Say where the lanes stand aside, and why (where they run, the
    header is theirs)."""
    why = _why_in_process(config)
    if why and why != "inside a lane" and not config.getoption("lane_report"):
        return f"lanes: off ({why}): every test runs in this process"
    return None


def pytest_configure(config):
    report = config.getoption("lane_report")
    if report:
        config.pluginmanager.register(_LaneReporter(config, report), "skemotion-lane")
    elif _why_in_process(config) is None:
        config.pluginmanager.register(_Lanes(config), "skemotion-lanes")
    if not os.environ.get(LANE_ENV):
        config.pluginmanager.register(_Costs(config), "skemotion-lane-costs")


# --------------------------------------------------------------- in a lane


class _LaneReporter:
    """Inside a lane: every report, and every warning, as a line of JSON in
    the file the parent reads."""

    def __init__(self, config, path: str):
        self.config = config
        self.file = open(path, "a", encoding="utf-8")

    def _write(self, data: dict) -> None:
        self.file.write(json.dumps(data) + "\n")
        self.file.flush()

    def pytest_runtest_logreport(self, report):
        self._write(
            self.config.hook.pytest_report_to_serializable(
                config=self.config, report=report
            )
        )

    def pytest_collectreport(self, report):
        if report.failed:
            self._write(
                self.config.hook.pytest_report_to_serializable(
                    config=self.config, report=report
                )
            )

    def pytest_warning_recorded(self, warning_message, when, nodeid, location):
        category = warning_message.category
        self._write(
            {
                "$warning": {
                    "message": str(warning_message.message),
                    "category": f"{category.__module__}:{category.__qualname__}",
                    "filename": warning_message.filename,
                    "lineno": warning_message.lineno,
                    "when": when,
                    "nodeid": nodeid,
                }
            }
        )

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        """Every report is written and every fixture torn down: the lane ends
        here. What a process would do after this is for nobody (the summary
        is the first process's; plugins' end-of-run work, such as Hypothesis'
        import of itself for its summary, and TensorFlow's teardown, cost a
        second or more a lane), so it leaves at once, with the run's status."""
        self.file.close()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(int(exitstatus))


# --------------------------------------------------------------- the costs


@dataclass
class FileCost:
    """What a test file cost in the last run measured: the seconds of its
    tests (setup, call and teardown), how many tests that was, and the most
    memory its lane held of its own while it ran (the lane's pytest process
    and what it started, resident less what is shared with files)."""

    seconds: float
    tests: int
    peak_mib: float | None = None


class _Costs:
    """Records each file's :class:`FileCost` in this run, for the next plan
    (pytest's cache)."""

    def __init__(self, config):
        self.config = config
        self.seconds: dict[str, list] = {}
        self.peaks: dict[str, float] = {}

    def pytest_runtest_logreport(self, report):
        entry = self.seconds.setdefault(_file_of(report.nodeid), [0.0, 0])
        entry[0] += report.duration
        entry[1] += report.when == "call"

    def peak(self, path: str, mib: float) -> None:
        self.peaks[path] = max(self.peaks.get(path, 0.0), mib)

    def pytest_sessionfinish(self, session):
        cache = getattr(self.config, "cache", None)
        if cache is None or not self.seconds:
            return
        known = cache.get(CACHE_KEY, {})
        costs = known.setdefault(_selection(self.config), {})
        for path, (seconds, tests) in self.seconds.items():
            costs[path] = {
                "seconds": round(seconds, 2), "tests": tests,
                "peak_mib": self.peaks.get(path, costs.get(path, {}).get("peak_mib")),
            }  # fmt: skip
        cache.set(CACHE_KEY, known)


def _selection(config) -> str:
    """The run's marker expression (``-m``), which the costs are kept by."""
    return config.option.markexpr or ""


def known_costs(config) -> dict[str, FileCost]:
    """The costs of this run's selection (``-m``) measured here (pytest's
    cache) over those shipped (:data:`SHIPPED_COSTS`, for a fresh clone)."""
    selection = _selection(config)
    known: dict = {}
    try:
        shipped = json.loads(SHIPPED_COSTS.read_text(encoding="utf-8"))
        known.update(shipped.get(selection, {}))
    except (OSError, ValueError, AttributeError):
        pass
    cache = getattr(config, "cache", None)
    if cache is not None:
        known.update(cache.get(CACHE_KEY, {}).get(selection, {}))
    costs = {}
    for path, entry in known.items():
        try:
            costs[path] = FileCost(**entry)
        except TypeError:  # written by another version of this file
            continue
    return costs


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


# ---------------------------------------------------------------- the plan


@dataclass
class _Group:
    """Test files that run together in one fresh process."""

    files: list[str] = field(default_factory=list)
    items: list = field(default_factory=list)
    seconds: float = 0.0
    #: The most memory it is expected to hold, MiB.
    peak_mib: float = 0.0


def plan_groups(
    items,
    costs: dict[str, FileCost],
    n_lanes: int,
    groups_per_lane: int = GROUPS_PER_LANE,
) -> list[_Group]:
    """The groups, longest first: consecutive test files, cut where a group
    reaches its share of the run's seconds (a new folder starts a new group
    once the group has half of it). A file not measured yet counts a second a
    test and :data:`UNKNOWN_PEAK_MIB`."""
    by_file: dict[str, list] = {}
    for item in items:
        by_file.setdefault(_file_of(item.nodeid), []).append(item)

    def seconds(path: str, n_items: int) -> float:
        cost = costs.get(path)
        if cost is None or not cost.tests:
            return float(n_items)
        return cost.seconds * min(1.0, n_items / cost.tests)

    def peak(path: str) -> float:
        cost = costs.get(path)
        return cost.peak_mib if cost and cost.peak_mib else UNKNOWN_PEAK_MIB

    weights = {path: seconds(path, len(its)) for path, its in by_file.items()}
    share = sum(weights.values()) / (n_lanes * groups_per_lane)
    groups: list[_Group] = []
    current = _Group()
    for path, its in by_file.items():
        folder = os.path.dirname(path)
        if current.files and (
            current.seconds >= share
            or (
                os.path.dirname(current.files[-1]) != folder
                and current.seconds >= share / 2
            )
        ):
            groups.append(current)
            current = _Group()
        current.files.append(path)
        current.items.extend(its)
        current.seconds += weights[path]
        current.peak_mib = max(current.peak_mib, peak(path))
    if current.files:
        groups.append(current)
    return sorted(groups, key=lambda g: -g.seconds)


@dataclass
class Busy:
    """A lane at work, as the plan sees it: the memory its group is expected
    to hold, MiB, and the seconds it is expected to go on for."""

    peak_mib: float
    seconds_left: float


def next_group(queue: list[_Group], running: list[Busy], budget_mib: float):
    """The group a free lane starts, or None: wait for a lane to finish.

    The longest group (the queue's first) starts where it fits beside the
    lanes running, or where nothing runs. Where it does not fit, it is
    promised the moment it will (the lanes ending soonest have ended and
    freed their memory), and a shorter group that fits now and ends by then
    starts meanwhile (backfilling, as batch schedulers do): a group too large
    to run beside others neither waits to the end of the run, where it would
    run alone, nor holds a lane idle that another group could use.
    """
    if not queue:
        return None
    held = sum(lane.peak_mib for lane in running)
    head = queue[0]
    if not running or head.peak_mib + held <= budget_mib:
        return head
    promised = 0.0
    for lane in sorted(running, key=lambda lane: lane.seconds_left):
        held -= lane.peak_mib
        promised = max(lane.seconds_left, 0.0)
        if head.peak_mib + held <= budget_mib:
            break
    now = sum(lane.peak_mib for lane in running)
    for group in queue[1:]:
        if group.peak_mib + now <= budget_mib and group.seconds <= promised:
            return group
    return None


# ----------------------------------------------------------- the lanes


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started, from any of its threads."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as fh:
                found.extend(int(p) for p in fh.read().split())
        except OSError:
            continue
    return found


def _tree_private_mib(pid: int) -> float:
    """The memory a process and every process below it hold of their own:
    resident pages less those shared with files (libraries such as
    TensorFlow's, which several processes map once), summed (Linux; 0 where
    ``/proc`` cannot say). Read from ``statm``: a smaps reading would give
    the proportional sizes exactly, but costs 16 ms a TensorFlow process."""
    page_mib = os.sysconf("SC_PAGE_SIZE") / 2**20
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/statm", encoding="ascii") as fh:
                fields = fh.read().split()
            total += (int(fields[1]) - int(fields[2])) * page_mib
        except (OSError, IndexError, ValueError):  # gone meanwhile, or not Linux
            pass
        todo.extend(_children(current))
    return total


@dataclass
class _Running:
    group: _Group
    process: subprocess.Popen
    report: Path
    log: Path
    started_at: float
    slot: int
    offset: int = 0
    started: set = field(default_factory=set)
    finished: set = field(default_factory=set)
    #: The file whose test it runs now.
    current: str | None = None


class _Lanes:
    """In the process the user started: plan, start the lanes, relay."""

    def __init__(self, config):
        self.config = config
        self.n_lanes = _lanes_wanted(config)
        self.budget_mib = config.getoption("lanes_memory") * 1024
        self.folder: Path | None = None
        self.numbers = itertools.count()  # of the groups started, for their files
        self.spans: list[tuple[float, float]] = []
        self.started_at = 0.0

    def pytest_report_header(self, config):
        return (
            f"lanes: up to {self.n_lanes} fresh pytest processes at once, each "
            f"for a group of test files, {self.budget_mib / 1024:.1f} GiB "
            "between them (--lanes 1: all in this process)"
        )

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session):
        if session.testsfailed and not self.config.option.continue_on_collection_errors:
            return None  # pytest's own loop stops the run for collection errors
        costs = known_costs(self.config)
        groups = plan_groups(session.items, costs, self.n_lanes)
        if len(groups) <= 1:
            return None
        recorder = self.config.pluginmanager.get_plugin("skemotion-lane-costs")
        self.folder = Path(tempfile.mkdtemp(prefix="skemotion-lanes-"))
        self.started_at = time.monotonic()
        queue = list(groups)
        running: list[_Running] = []
        sampled = 0.0
        try:
            while queue or running:
                while queue and len(running) < self.n_lanes and not _stopping(session):
                    busy = [
                        Busy(
                            lane.group.peak_mib,
                            lane.group.seconds - (time.monotonic() - lane.started_at),
                        )
                        for lane in running
                    ]
                    group = next_group(queue, busy, self.budget_mib)
                    if group is None:
                        break
                    queue.remove(group)
                    taken = {lane.slot for lane in running}
                    slot = min(set(range(self.n_lanes)) - taken)
                    running.append(self._start(group, slot))
                if _stopping(session) and not running:
                    break
                time.sleep(0.05)
                if time.monotonic() - sampled >= SAMPLE_EVERY:
                    sampled = time.monotonic()
                    for lane in running:
                        if lane.current and recorder is not None:
                            mib = _tree_private_mib(lane.process.pid)
                            recorder.peak(lane.current, mib)
                for lane in list(running):
                    self._relay_new(lane)
                    if lane.process.poll() is not None:
                        self._relay_new(lane)
                        self._finish(lane, session)
                        running.remove(lane)
                        self.spans.append((lane.started_at, time.monotonic()))
                if _stopping(session):
                    queue.clear()
                    for lane in running:
                        lane.process.terminate()
        except BaseException:
            for lane in running:
                lane.process.kill()
            raise
        if session.shouldfail:
            raise session.Failed(session.shouldfail)
        if session.shouldstop:
            raise session.Interrupted(session.shouldstop)
        return True

    def pytest_terminal_summary(self, terminalreporter):
        if not self.spans:
            return
        wall = time.monotonic() - self.started_at
        busy = sum(end - start for start, end in self.spans)
        terminalreporter.write_line(
            f"lanes: {len(self.spans)} groups of test files in fresh processes, "
            f"up to {self.n_lanes} at once: the lanes were busy "
            f"{busy / (self.n_lanes * wall):.0%} of {wall:.0f} s"
        )

    def _start(self, group: _Group, slot: int) -> _Running:
        assert self.folder is not None
        stem = self.folder / f"group-{next(self.numbers)}"
        args_file = stem.with_suffix(".args")
        args_file.write_text(
            "\n".join(item.nodeid for item in group.items) + "\n", encoding="utf-8"
        )
        report, log = stem.with_suffix(".jsonl"), stem.with_suffix(".log")
        report.touch()
        option = self.config.option
        command = [
            sys.executable, "-m", "pytest", f"@{args_file}",
            "--rootdir", str(self.config.rootpath),
            "-p", "no:cacheprovider", "-q", "--lane-report", str(report),
            "--basetemp", str(stem.with_suffix(".tmp")),
            "-m", option.markexpr or "", "-k", option.keyword or "",
            f"--tb={option.tbstyle}",
        ]  # fmt: skip
        if option.maxfail:
            command.append(f"--maxfail={option.maxfail}")
        if self.config.inipath is not None:
            command += ["-c", str(self.config.inipath)]
        if option.verbose > 0:
            command.append("-" + "v" * option.verbose)
        if option.showlocals:
            command.append("-l")
        if option.runxfail:
            command.append("--runxfail")
        for spec in getattr(option, "pythonwarnings", None) or []:
            command += ["-W", spec]
        env = dict(os.environ, **{LANE_ENV: stem.name})
        with open(log, "wb") as out:
            process = subprocess.Popen(
                command, cwd=self.config.rootpath, env=env, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        _pin(process.pid, slot, self.n_lanes)
        return _Running(group, process, report, log, time.monotonic(), slot)

    def _relay_new(self, lane: _Running) -> None:
        with open(lane.report, encoding="utf-8") as fh:
            fh.seek(lane.offset)
            while True:
                line = fh.readline()
                if not line.endswith("\n"):
                    break  # not written whole yet
                lane.offset = fh.tell()
                self._relay(lane, json.loads(line))

    def _relay(self, lane: _Running, data: dict) -> None:
        hook = self.config.hook
        if "$warning" in data:
            w = data["$warning"]
            category = _category(w["category"])
            message = warnings.WarningMessage(
                category(w["message"]), category, w["filename"], w["lineno"]
            )
            hook.pytest_warning_recorded.call_historic(
                kwargs={
                    "warning_message": message,
                    "when": w["when"],
                    "nodeid": w["nodeid"],
                    "location": None,
                }
            )
            return
        report = hook.pytest_report_from_serializable(config=self.config, data=data)
        if isinstance(report.longrepr, list):
            # a skip's (path, line, reason): a tuple before JSON, as -ra's
            # summary of skips needs it
            report.longrepr = tuple(report.longrepr)
        if isinstance(report, pytest.CollectReport):
            hook.pytest_collectreport(report=report)
            return
        if report.nodeid not in lane.started:
            lane.started.add(report.nodeid)
            lane.current = _file_of(report.nodeid)
            hook.pytest_runtest_logstart(nodeid=report.nodeid, location=report.location)
        hook.pytest_runtest_logreport(report=report)
        if report.when == "teardown":
            lane.finished.add(report.nodeid)
            hook.pytest_runtest_logfinish(
                nodeid=report.nodeid, location=report.location
            )

    def _finish(self, lane: _Running, session) -> None:
        """A lane ended: the tests it left unfinished fail, unless the run
        was stopping anyway (``-x``, ``--maxfail``)."""
        code = lane.process.returncode
        left = [i for i in lane.group.items if i.nodeid not in lane.finished]
        if not left or _stopping(session):
            return  # a child stopped for -x or --maxfail, or told to stop
        try:
            tail = lane.log.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            tail = "(its output could not be read)"
        in_flight = [i.nodeid for i in left if i.nodeid in lane.started]
        during = f" during {in_flight[0]}" if in_flight else ""
        why = (
            f"its lane process (a fresh pytest for {', '.join(lane.group.files)}) "
            f"ended with status {code}{during} before this test finished; the "
            f"end of its output ({lane.log}):\n{tail}"
        )
        hook = self.config.hook
        for item in left:
            if item.nodeid not in lane.started:
                hook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
            report = pytest.TestReport(
                item.nodeid, item.location, {k: 1 for k in item.keywords}, "failed",
                why, "call",
            )  # fmt: skip
            hook.pytest_runtest_logreport(report=report)
            hook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)

    def pytest_sessionfinish(self, session, exitstatus):
        if self.folder is not None and exitstatus == 0:
            import shutil

            shutil.rmtree(self.folder, ignore_errors=True)


def _pin(pid: int, slot: int, n_lanes: int) -> None:
    """Run a lane on its share of this process's CPUs (slot k of n: every
    n-th CPU from the k-th), before it starts a thread: the thread pools of
    TensorFlow, LiteRT and OpenCV, sized by the CPUs a process may use, then
    do not compete for the same cores (measured on 2 cores: 638 CPU-seconds
    and 5.9 minutes for the default run, against 661 and 6.3 unpinned).
    What the lane starts (servers, workers) inherits it. Where the system
    cannot pin (macOS, Windows), nothing changes."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(pid, set(cpus[slot::n_lanes]) or {cpus[slot % len(cpus)]})
    except (AttributeError, OSError):  # no affinity here, or the lane is gone
        pass


def _stopping(session) -> bool:
    return bool(session.shouldfail or session.shouldstop)


def _category(name: str) -> type[Warning]:
    module, _, qualname = name.partition(":")
    try:
        found = sys.modules.get(module) or __import__(module, fromlist=["_"])
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return UserWarning
    if isinstance(found, type) and issubclass(found, Warning):
        return found
    return UserWarning


def ship_costs(root: Path) -> Path:
    """Write the costs measured in ``root``'s pytest cache to
    :data:`SHIPPED_COSTS`, the plan of a fresh clone (``python
    tests/lanes_plugin.py`` after a full run, and one of ``-m slow``). Each
    selection measured here replaces the one shipped; one not measured here
    stays as shipped."""
    cached = root / ".pytest_cache" / "v" / CACHE_KEY
    by_selection = json.loads(cached.read_text(encoding="utf-8"))
    try:
        shipped = json.loads(SHIPPED_COSTS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        shipped = {}
    for selection, costs in by_selection.items():
        shipped[selection] = {
            path: {
                "seconds": round(cost["seconds"], 1),
                "tests": cost["tests"],
                "peak_mib": round(cost["peak_mib"]) if cost.get("peak_mib") else None,
            }
            for path, cost in sorted(costs.items())
            if (root / path).exists()
        }
    text = json.dumps(dict(sorted(shipped.items())), indent=1)
    SHIPPED_COSTS.write_text(text + "\n", encoding="utf-8")
    return SHIPPED_COSTS


if __name__ == "__main__":
    print(f"wrote {ship_costs(Path(__file__).resolve().parent.parent)}")
