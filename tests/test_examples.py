"""The examples in examples/ run as documented."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO_ROOT


def test_quickstart_runs(shared_data, tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / "quickstart.py"), "3"],
        capture_output=True, text=True, cwd=tmp_path, check=False, timeout=600,
        env={"SKEMOTION_DATA": str(shared_data), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout.splitlines()
    assert re.match(r"3-fold accuracy: \d+\.\d% \(random weights", out[0])
    assert len(out) == 4
    assert all(
        re.search(r"\.(jpg|gif|png): \d+\.\d% \w+, \d+\.\d% \w+$", x) for x in out[1:]
    )
    assert (tmp_path / "emotion_model.joblib").is_file()
