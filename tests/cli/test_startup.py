"""The program's start (``skemotion.cli._startup``): the modules scikit-learn
imports and predicting never uses load on first use, in the program's own
process only, whole even when threads touch them first at once."""

from __future__ import annotations

import json
import subprocess
import sys

PROGRAM = """
import json, sys
from skemotion.cli import main
from skemotion.cli._startup import DEFERRED, is_deferred

sys.argv = ["skemotion", *sys.argv[1:]]
status = main({argv})
state = {{name: is_deferred(name) for name in DEFERRED}}
state["sklearn"] = "sklearn" in sys.modules
import pandas, scipy.stats  # what the deferral hands out, used in earnest
from sklearn.metrics import accuracy_score
used = [
    pandas.DataFrame({{"a": [1, 2]}}).shape[0],
    float(scipy.stats.rankdata([3.0, 1.0])[0]),
    float(accuracy_score(["x", "y"], ["x", "x"])),
]
state["after_use"] = {{name: is_deferred(name) for name in DEFERRED}}
print(json.dumps({{"status": status, "state": state, "used": used}}), file=sys.stderr)
"""


def _run(argv: str, photo: str) -> tuple[dict, str]:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM.format(argv=argv), "predict", photo,
         "--format", "json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stderr.strip().splitlines()[-1]), done.stdout


def test_the_program_predicts_without_running_pandas_or_scipy_stats(face_count_dir):
    photo = str(face_count_dir / "single_face" / "facerec_obama.jpg")
    result, out = _run("None", photo)  # as the ``skemotion`` command runs it
    assert result["status"] == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert records[0]["path"] == photo and records[0]["label"] == "happy"
    state = result["state"]
    assert state["sklearn"]  # imported, and with it the two modules, deferred
    assert state["pandas"] and state["scipy.stats"]
    # used afterwards, they work and are ordinary modules
    assert result["used"] == [2, 2.0, 0.5]
    assert state["after_use"] == {"pandas": False, "scipy.stats": False}


def test_a_library_users_process_is_left_as_it_is(face_count_dir):
    photo = str(face_count_dir / "single_face" / "facerec_obama.jpg")
    argv = "sys.argv[1:]"
    result, out = _run(argv, photo)  # main(argv): called by someone's code
    assert result["status"] == 0 and json.loads(out.splitlines()[0])["path"] == photo
    assert result["state"]["pandas"] is False
    assert result["state"]["scipy.stats"] is False
    assert result["used"] == [2, 2.0, 0.5]


THREADS = """
import sys, threading
from skemotion.cli._startup import defer_unused_imports, is_deferred

defer_unused_imports()
import pandas
assert is_deferred("pandas")
start, seen, errors = threading.Barrier(8), [], []

def touch():
    start.wait()
    try:  # the first look-up of each thread, at once
        seen.append((pandas.DataFrame({"a": [1]}).shape, pandas.isna(None)))
    except Exception as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=touch) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(len(seen), errors, is_deferred("pandas"))
"""


def test_threads_that_touch_a_deferred_module_at_once_all_get_it_whole():
    done = subprocess.run(
        [sys.executable, "-c", THREADS],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["8", "[]", "False"]
