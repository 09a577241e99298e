"""check_image_folder: the audit finds the real flaws of the post's data set.

The seed folder's flaws are described in ../shared/README.md; the duplicate
groups are also computed here independently of the package (hashlib), so the
test says exactly what the README's numbers mean.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

import skemotion.inspection._checking as checking
from skemotion import check_image_folder
from skemotion.cli import main

SEED_LABELS = ["angry", "disgust", "happy", "sad", "scared", "shocked"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def seed_report(seed_dir):
    """The full HOG audit of the seed folder, run once for the module."""
    return check_image_folder(seed_dir, detector="hog", strip_suffix="_face")


@pytest.fixture(scope="module")
def seed_hashes(seed_dir) -> dict[str, str]:
    """sha256 of every ``split/label/file`` of the seed folder, by relative path."""
    return {
        p.relative_to(seed_dir).as_posix(): _sha256(p)
        for p in sorted(seed_dir.glob("*/*/*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def unique_images(seed_dir, seed_hashes):
    """Seed images whose bytes appear only once in the whole folder, by label."""
    n_copies = defaultdict(int)
    for digest in seed_hashes.values():
        n_copies[digest] += 1
    by_label = defaultdict(list)
    for rel, digest in seed_hashes.items():
        split, label, _ = rel.split("/")
        if split == "train" and n_copies[digest] == 1 and rel.endswith(".jpg"):
            by_label[label.removesuffix("_face")].append(seed_dir / rel)
    return by_label


def _groups(hashes: dict[str, str], key) -> list[list[str]]:
    grouped = defaultdict(list)
    for rel, digest in hashes.items():
        grouped[key(rel, digest)].append(rel)
    return sorted(sorted(g) for g in grouped.values() if len(g) > 1)


# --- the real seed folder -------------------------------------------------------


@pytest.mark.slow
def test_seed_counts_and_balance(seed_report):
    assert seed_report.splits == ["train", "validation"]
    assert seed_report.labels == SEED_LABELS
    assert seed_report.n_files == 365
    train, validation = seed_report.counts["train"], seed_report.counts["validation"]
    assert train == {label: 58 if label == "scared" else 59 for label in SEED_LABELS}
    assert validation == dict.fromkeys(SEED_LABELS, 2)
    assert sum(train.values()) == 353 and sum(validation.values()) == 12
    balance = seed_report.imbalance["train"]
    assert balance.ratio == pytest.approx(59 / 58)
    assert (balance.smallest, balance.smallest_count) == ("scared", 58)
    assert seed_report.imbalance["validation"].ratio == 1.0
    assert not seed_report.missing_labels
    assert not seed_report.unreadable and not seed_report.not_images
    assert not seed_report.misnamed_images and not seed_report.stray_folders
    assert [(e.path, e.reason) for e in seed_report.ignored] == [
        ("LICENSE.md", "file outside a label folder")
    ]


@pytest.mark.slow
def test_seed_identical_groups_match_an_independent_count(seed_report, seed_hashes):
    # ../shared/README.md's "15 groups of byte-identical duplicates" are all
    # groups of identical files anywhere in the tree.
    everywhere = _groups(seed_hashes, lambda rel, digest: digest)
    assert len(everywhere) == 15
    assert sorted(g.paths for g in seed_report.identical_groups) == everywhere
    # Within one split and one label the same files form 12 groups: the other
    # 3 groups span labels (2 conflicts) or splits only (1 of the 2 leaks).
    within = _groups(seed_hashes, lambda rel, d: (d, *rel.split("/")[:2]))
    assert len(within) == 12
    assert sorted(g.paths for g in seed_report.duplicates) == within
    assert all(len(g.splits) == len(g.labels) == 1 for g in seed_report.duplicates)


@pytest.mark.slow
def test_seed_leaks_and_conflicts(seed_report, seed_hashes):
    def spanning(part: int) -> list[list[str]]:
        groups = _groups(seed_hashes, lambda rel, digest: digest)
        return [g for g in groups if len({p.split("/")[part] for p in g}) > 1]

    leaks = sorted(g.paths for g in seed_report.leaks)
    assert leaks == spanning(0)
    assert leaks == [
        [
            "train/disgust_face/pretty-young-lady-expression-disgust.jpg",
            "validation/disgust_face/pretty-young-lady-expression-disgust-1726660.jpg",
        ],
        [
            "train/happy_face/images (15).jpg",
            "train/happy_face/images (17)1.jpg",
            "validation/happy_face/images (17)1.jpg",
        ],
    ]
    conflicts = sorted(g.paths for g in seed_report.conflicts)
    assert conflicts == spanning(1)
    assert conflicts == [
        [
            "train/angry_face/1950s-portrait-blond-boy-sad-grumpy-.jpg",
            "train/sad_face/1950s-portrait-blond-boy-sad-grumpy-.jpg",
        ],
        [
            "train/angry_face/facial-expressions_2868588k.jpg",
            "train/sad_face/facial-expressions_2868588k.jpg",
        ],
    ]
    assert all(g.labels == ["angry", "sad"] for g in seed_report.conflicts)
    # "2 files present in both train and validation"
    assert sum(p.startswith("validation/") for g in leaks for p in g) == 2


@pytest.mark.slow
def test_seed_faces_sizes_modes_formats(seed_report):
    assert seed_report.detector == "hog"
    assert seed_report.faces_checked == 365
    assert seed_report.no_face
    assert seed_report.multiple_faces
    assert all(m.faces >= 2 for m in seed_report.multiple_faces)
    sizes = seed_report.sizes
    assert sizes["shortest_side"]["min"] == 122
    assert sizes["shortest_side"]["max"] == 2848
    assert min(sizes["smallest"]["width"], sizes["smallest"]["height"]) == 122
    assert {"RGB", "L"} <= set(seed_report.modes)
    assert {"RGBA", "P"} & set(seed_report.modes)
    assert set(seed_report.formats) == {"JPEG", "PNG", "GIF"}
    assert sum(seed_report.modes.values()) == sum(seed_report.formats.values()) == 365


@pytest.mark.slow
def test_seed_problems_text_and_json(seed_report):
    assert seed_report.has_problems
    problems = "\n".join(seed_report.problems)
    assert (
        "12 groups of byte-identical duplicates within one split and label (24 files)"
        in problems
    )
    assert "2 images in more than one split (leak)" in problems
    assert "2 images filed under more than one label (conflict)" in problems
    assert f"no face found in {len(seed_report.no_face)} images" in problems
    assert len(seed_report.problems) == 5
    text = seed_report.format_text()
    for path in [*seed_report.no_face, *(g.paths[0] for g in seed_report.leaks)]:
        assert f"  {path}" in text
    assert "scared" in text and "353" in text
    data = seed_report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["root"] == str(seed_report.root)
    assert data["has_problems"] is True and data["problems"] == seed_report.problems


# --- small trees built from real images -----------------------------------------


def test_synthetic_tree_every_file_problem_found(unique_images, tmp_path):
    happy, sad = unique_images["happy"][:3], unique_images["sad"][:2]
    for split in ("train", "validation"):
        for label in ("happy", "sad"):
            (tmp_path / split / label).mkdir(parents=True)
    for src in happy:
        shutil.copy(src, tmp_path / "train" / "happy")
    shutil.copy(sad[0], tmp_path / "train" / "sad")
    shutil.copy(sad[1], tmp_path / "validation" / "sad")
    shutil.copy(happy[1], tmp_path / "validation" / "happy" / "ok.jpg")
    leak = shutil.copy(happy[0], tmp_path / "validation" / "happy" / "copy.jpg")
    (tmp_path / "train" / "sad" / "page.jpg").write_text("<html>not found</html>")
    (tmp_path / "train" / "sad" / "zero.png").write_bytes(b"")
    (tmp_path / "train" / "sad" / "notes.txt").write_text("shot in 2017")
    (tmp_path / "train" / "happy" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (tmp_path / "README.txt").write_text("my faces")

    report = check_image_folder(tmp_path, detect_faces=False)

    assert report.splits == ["train", "validation"]
    assert report.counts == {"train": {"happy": 3, "sad": 1},
                             "validation": {"happy": 2, "sad": 1}}  # fmt: skip
    assert report.n_files == 10  # .DS_Store and README.txt are not looked at
    reasons = {e.path: e.reason for e in report.unreadable}
    assert set(reasons) == {"train/sad/page.jpg", "train/sad/zero.png"}
    assert "empty" in reasons["train/sad/zero.png"]
    assert "not an image" in reasons["train/sad/page.jpg"]
    assert [e.path for e in report.not_images] == ["train/sad/notes.txt"]
    ignored = {e.path: e.reason for e in report.ignored}
    assert ignored == {"README.txt": "file outside a label folder",
                       "train/happy/.DS_Store": "hidden file"}  # fmt: skip
    assert [g.paths for g in report.leaks] == [
        [f"train/happy/{happy[0].name}", "validation/happy/copy.jpg"],
        [f"train/happy/{happy[1].name}", "validation/happy/ok.jpg"],
    ]
    assert _sha256(Path(leak)) == report.leaks[0].sha256
    assert not report.conflicts and not report.duplicates
    assert report.detector is None and not report.no_face and report.sizes
    assert report.has_problems
    problems = "\n".join(report.problems)
    assert "2 image files that cannot be read" in problems
    assert "1 non-image file in label folders" in problems
    assert "2 images in more than one split (leak)" in problems
    assert "imbalance in train: happy has 3.0x" in problems
    text = report.format_text()
    for path in [*reasons, "train/sad/notes.txt", "validation/happy/copy.jpg"]:
        assert path in text
    assert str(tmp_path / "train") not in text  # paths relative to root
    json.loads(json.dumps(report.to_dict()))


def test_synthetic_tree_layout_problems(unique_images, tmp_path):
    happy, sad = unique_images["happy"][:2], unique_images["sad"][:2]
    for label in ("happy", "sad"):
        (tmp_path / "Train" / label).mkdir(parents=True)
    (tmp_path / "test" / "happy").mkdir(parents=True)
    shutil.copy(happy[0], tmp_path / "Train" / "happy")
    shutil.copy(sad[0], tmp_path / "Train" / "sad")
    shutil.copy(sad[0], tmp_path / "Train" / "happy" / "same_as_sad.jpg")  # conflict
    shutil.copy(happy[0], tmp_path / "Train" / "happy" / "again.jpg")  # duplicate
    shutil.copy(happy[1], tmp_path / "test" / "happy" / "photo.jpeg_large")
    (tmp_path / "Train" / "sad" / "more").mkdir()
    shutil.copy(sad[1], tmp_path / "Train" / "sad" / "more")
    (tmp_path / "extra" / "sad").mkdir(parents=True)
    (tmp_path / ".git").mkdir()

    report = check_image_folder(tmp_path, detector="none")

    assert report.splits == ["Train", "test"]
    assert report.counts == {"Train": {"happy": 3, "sad": 1},
                             "test": {"happy": 0, "sad": 0}}  # fmt: skip
    assert [e.path for e in report.misnamed_images] == ["test/happy/photo.jpeg_large"]
    assert "JPEG image" in report.misnamed_images[0].reason
    assert report.missing_labels == {"test": ["happy", "sad"]}
    assert [g.paths for g in report.duplicates] == [
        [f"Train/happy/{happy[0].name}", "Train/happy/again.jpg"]
    ]
    assert [g.labels for g in report.conflicts] == [["happy", "sad"]]
    assert {e.path for e in report.stray_folders} == {"Train/sad/more", "extra"}
    assert {e.path: e.reason for e in report.ignored}[".git"] == "hidden folder"
    assert report.detector is None
    problems = "\n".join(report.problems)
    for expected in ("without an image extension", "2 folders not searched",
                     "1 group of byte-identical", "(conflict)",
                     "imbalance in Train: happy has 3.0x",
                     "2 labels with no image in test: happy, sad"):  # fmt: skip
        assert expected in problems


def test_missing_label_in_a_split(unique_images, tmp_path):
    for split, label in [("train", "happy"), ("train", "sad"), ("validation", "sad")]:
        (tmp_path / split / label).mkdir(parents=True)
    shutil.copy(unique_images["happy"][0], tmp_path / "train" / "happy")
    shutil.copy(unique_images["sad"][0], tmp_path / "train" / "sad")
    shutil.copy(unique_images["sad"][1], tmp_path / "validation" / "sad")
    report = check_image_folder(tmp_path, detect_faces=False)
    assert report.missing_labels == {"validation": ["happy"]}
    assert report.problems == ["1 label with no image in validation: happy"]


def test_clean_tree_has_no_problems(unique_images, tmp_path):
    for label in SEED_LABELS:
        (tmp_path / f"{label}_face").mkdir()
        shutil.copy(unique_images[label][0], tmp_path / f"{label}_face")
    (tmp_path / "happy_face" / ".DS_Store").write_bytes(b"\0")
    report = check_image_folder(tmp_path, detect_faces=False, strip_suffix="_face")
    assert report.splits == ["all"]
    assert report.counts == {"all": dict.fromkeys(SEED_LABELS, 1)}
    assert report.imbalance["all"].ratio == 1.0
    assert report.problems == [] and not report.has_problems
    assert report.detector is None and report.sizes["width"]["min"] > 0
    assert report.format_text().endswith("No problems found.")
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data and data["has_problems"] is False


def test_identical_files_are_read_once(unique_images, tmp_path, monkeypatch):
    calls = []
    real_read = checking.read_image
    monkeypatch.setattr(
        checking, "read_image", lambda path: calls.append(path) or real_read(path)
    )
    (tmp_path / "happy").mkdir()
    src = unique_images["happy"][0]
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        shutil.copy(src, tmp_path / "happy" / name)
    report = check_image_folder(tmp_path, detector="haar")
    assert len(calls) == 1
    assert report.faces_checked == 3 and report.detector == "haar"
    assert [g.paths for g in report.identical_groups] == [
        ["happy/a.jpg", "happy/b.jpg", "happy/c.jpg"]
    ]


def test_empty_and_unlistable_label_folders(unique_images, tmp_path, monkeypatch):
    for label in ("happy", "sad", "locked"):
        (tmp_path / label).mkdir()
    report = check_image_folder(tmp_path, detect_faces=False)
    assert report.counts == {"all": {"happy": 0, "locked": 0, "sad": 0}}
    assert report.has_problems and not report.sizes and not report.imbalance
    assert report.problems == ["3 labels with no image in all: happy, locked, sad"]

    shutil.copy(unique_images["happy"][0], tmp_path / "happy")
    shutil.copy(unique_images["sad"][0], tmp_path / "sad")
    real_iterdir = Path.iterdir

    def iterdir(self):
        if self.name == "locked":
            raise PermissionError(13, "Permission denied")
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    report = check_image_folder(tmp_path, detect_faces=False)
    assert [(e.path, e.reason) for e in report.stray_folders] == [
        ("locked", "label folder cannot be listed (Permission denied)")
    ]
    assert report.problems[0] == "1 folder not searched (their files are not used)"


def test_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_image_folder(tmp_path / "missing")
    (tmp_path / "file.jpg").write_bytes(b"x")
    with pytest.raises(NotADirectoryError):
        check_image_folder(tmp_path / "file.jpg")
    with pytest.raises(ValueError, match="no label folders"):
        check_image_folder(tmp_path)
    (tmp_path / "happy").mkdir()
    with pytest.raises(ValueError, match="unknown detector"):
        check_image_folder(tmp_path, detector="cnn")


def test_cli_exit_status_and_json(unique_images, tmp_path, capsys):
    (tmp_path / "happy").mkdir()
    shutil.copy(unique_images["happy"][0], tmp_path / "happy")
    assert main(["check", str(tmp_path), "--no-faces"]) == 0
    assert "No problems found." in capsys.readouterr().out
    (tmp_path / "happy" / "bad.jpg").write_bytes(b"\xff\xd8\xff")
    assert main(["check", str(tmp_path), "--no-faces", "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["has_problems"] and data["unreadable"][0]["path"] == "happy/bad.jpg"
    assert main(["check", str(tmp_path / "missing")]) == 2
