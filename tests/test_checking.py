"""skemotion check: the audit finds the real flaws of the post's data set."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import defaultdict

import pytest

from skemotion import check_image_folder
from skemotion.cli import main


@pytest.fixture(scope="module")
def seed_report(seed_dir):
    return check_image_folder(seed_dir, detector="hog")


@pytest.fixture(scope="module")
def true_groups(seed_dir):
    """Byte-identical groups, computed independently of the package."""
    groups = defaultdict(list)
    for path in sorted(seed_dir.rglob("*")):
        if path.is_file() and path.relative_to(seed_dir).parts[0] != "LICENSE.md":
            rel = path.relative_to(seed_dir).as_posix()
            if rel.count("/") == 2:
                groups[hashlib.sha256(path.read_bytes()).hexdigest()].append(rel)
    return [sorted(g) for g in groups.values() if len(g) > 1]


def test_counts_per_class_and_split(seed_report):
    assert seed_report.splits == ["train", "validation"]
    train = seed_report.counts["train"]
    assert train["scared_face"] == 58
    assert all(n == 59 for label, n in train.items() if label != "scared_face")
    assert set(seed_report.counts["validation"].values()) == {2}
    assert seed_report.imbalance["train"]["ratio"] == pytest.approx(59 / 58)
    assert seed_report.imbalance["train"]["smallest"] == "scared_face"


def test_duplicates_leaks_and_conflicts(seed_report, true_groups):
    found = sorted(sorted(g) for g in seed_report.duplicate_groups)
    assert found == sorted(true_groups)
    assert len(found) == 15  # as ../shared/README.md says
    leaks = [g for g in true_groups if len({p.split("/")[0] for p in g}) > 1]
    conflicts = [g for g in true_groups if len({p.split("/")[1] for p in g}) > 1]
    assert sorted(sorted(g) for g in seed_report.leaks) == sorted(leaks)
    assert sorted(sorted(g) for g in seed_report.conflicts) == sorted(conflicts)
    assert len(seed_report.leaks) == 2 and len(seed_report.conflicts) == 2
    leaked_validation = {p for g in seed_report.leaks for p in g if "validation/" in p}
    assert len(leaked_validation) == 2


def test_faces_sizes_modes_formats(seed_report):
    assert seed_report.no_face and seed_report.multiple_faces
    assert all(m["faces"] >= 2 for m in seed_report.multiple_faces)
    assert seed_report.sizes["height"]["min"] == 122
    assert {"RGB", "L"} <= set(seed_report.modes)
    assert {"RGBA", "P"} & set(seed_report.modes)
    assert set(seed_report.formats) == {"JPEG", "PNG", "GIF"}
    assert not seed_report.unreadable
    assert seed_report.has_problems
    text = seed_report.format_text()
    assert "15 groups of byte-identical duplicates" in text
    assert "(leak)" in text and "(conflict)" in text
    json.loads(json.dumps(seed_report.to_dict()))


def test_synthetic_tree_problems_each_found(seed_dir, tmp_path):
    sources = sorted((seed_dir / "train" / "happy_face").glob("*.jpg"))[:3]
    sad = sorted((seed_dir / "train" / "sad_face").glob("*.jpg"))[:3]
    for split in ("train", "validation"):
        for label in ("happy", "sad"):
            (tmp_path / split / label).mkdir(parents=True)
    for src in sources:
        shutil.copy(src, tmp_path / "train" / "happy")
    for src in sad:
        shutil.copy(src, tmp_path / "train" / "sad")
    shutil.copy(sources[0], tmp_path / "validation" / "happy" / "copy.jpg")  # leak
    shutil.copy(sad[0], tmp_path / "validation" / "sad" / "ok.jpg")  # another leak
    (tmp_path / "train" / "sad" / "page.jpg").write_text("<html>hi</html>")
    (tmp_path / "train" / "sad" / "zero.png").write_bytes(b"")
    (tmp_path / "train" / "happy" / "notes.txt").write_text("shot in 2017")
    (tmp_path / "train" / "happy" / ".DS_Store").write_bytes(b"\0\0")
    report = check_image_folder(tmp_path, detect_faces=False)
    reasons = {u["path"]: u["reason"] for u in report.unreadable}
    assert set(reasons) == {"train/sad/page.jpg", "train/sad/zero.png",
                            "train/happy/notes.txt"}  # fmt: skip
    assert "empty" in reasons["train/sad/zero.png"]
    assert report.ignored == ["train/happy/.DS_Store"]
    assert len(report.leaks) == 2 and not report.conflicts
    assert report.detector is None and report.has_problems


def test_clean_tree_has_no_problems(seed_dir, tmp_path):
    for label in ("happy_face", "sad_face"):
        (tmp_path / label).mkdir()
        src = sorted((seed_dir / "train" / label).glob("*.jpg"))[20]
        shutil.copy(src, tmp_path / label)
    report = check_image_folder(tmp_path, detect_faces=False, strip_suffix="_face")
    assert report.splits == ["all"]
    assert report.counts == {"all": {"happy": 1, "sad": 1}}
    assert not report.has_problems
    assert "No problems found." in report.format_text()


def test_cli_exit_status_and_json(seed_dir, tmp_path, capsys):
    (tmp_path / "happy").mkdir()
    shutil.copy(
        next((seed_dir / "train" / "happy_face").glob("*.jpg")), tmp_path / "happy"
    )
    assert main(["check", str(tmp_path), "--no-faces"]) == 0
    assert "No problems found." in capsys.readouterr().out
    (tmp_path / "happy" / "bad.jpg").write_bytes(b"\xff\xd8\xff")
    assert main(["check", str(tmp_path), "--no-faces", "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["has_problems"] and data["unreadable"][0]["path"] == "happy/bad.jpg"
    assert main(["check", str(tmp_path / "missing")]) == 2
