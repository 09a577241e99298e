"""predict_topk, the command line's output formats, --all-faces and --annotate."""

from __future__ import annotations

import csv
import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from skemotion import (
    BadImagesError,
    FaceCropper,
    UnreadableImagesWarning,
    load_image_folder,
    make_emotion_pipeline,
    predict_topk,
)
from skemotion.cli import main
from skemotion.prediction import RECORD_FIELDS


@pytest.fixture(scope="module")
def model(seed_dir):
    paths, labels = load_image_folder(
        seed_dir / "train", strip_suffix="_face", on_unreadable="keep"
    )
    keep = np.concatenate([np.flatnonzero(labels == c)[:3] for c in ("happy", "sad")])
    pipe = make_emotion_pipeline(
        crop__size=48, encode__weights=None, encode__random_state=0,
        encode__pooling="avg", classify__epochs=2, classify__random_state=0,
    )  # fmt: skip
    return pipe.fit(paths[keep], labels[keep])


@pytest.fixture(scope="module")
def model_file(model, tmp_path_factory):
    from skemotion import save_model

    return save_model(model, tmp_path_factory.mktemp("m") / "model.joblib")


@pytest.fixture(scope="module")
def photos(face_count_dir):
    return {
        "one": str(face_count_dir / "single_face" / "facerec_obama.jpg"),
        "two": str(face_count_dir / "multi_face" / "facerec_two_people.jpg"),
        "many": str(face_count_dir / "multi_face" / "dlib_bald_guys.jpg"),
        "none": str(face_count_dir / "no_face" / "skimage_coffee.png"),
    }


def test_records_are_tidy_and_match_predict_proba(model, photos):
    paths = [photos["one"], photos["none"]]
    records = predict_topk(model, paths, k=2)
    assert len(records) == 4
    assert all(tuple(r) == RECORD_FIELDS for r in records)
    proba = model.predict_proba(paths)
    for i, path in enumerate(paths):
        mine = [r for r in records if r["path"] == path]
        assert [r["rank"] for r in mine] == [1, 2]
        best = model.classes_[np.argmax(proba[i])]
        assert mine[0]["label"] == best
        assert mine[0]["probability"] == pytest.approx(proba[i].max(), rel=1e-5)
    # no face found: the whole image was used, and the box says so
    h, w = np.asarray(Image.open(photos["none"])).shape[:2]
    assert next(r["box"] for r in records if r["path"] == photos["none"]) == [
        0,
        0,
        w,
        h,
    ]


def test_all_faces_labels_each_face(model, photos):
    boxes = FaceCropper().detect([photos["two"], photos["many"]])
    records = predict_topk(model, [photos["two"], photos["many"]], k=1, all_faces=True)
    for path, found in zip([photos["two"], photos["many"]], boxes, strict=True):
        mine = [r for r in records if r["path"] == path]
        assert len(found) >= 2
        assert [r["face"] for r in mine] == list(range(1, len(found) + 1))
        assert [r["box"] for r in mine] == found.tolist()
        assert all(r["face_found"] is True for r in mine)
    single = predict_topk(model, [photos["two"]], k=1)
    assert len(single) == 1 and single[0]["box"] == boxes[0][0].tolist()


def test_no_face_is_said_in_every_format(model, model_file, photos, capsys):
    """A photo in which no face is found is classified whole, and every output
    says so: the records, text (with and without --all-faces), JSON, CSV."""
    none, one = photos["none"], photos["one"]
    detected = FaceCropper().detect([none, one])
    assert [len(b) for b in detected] == [0, 1]  # the photos are what they say
    h, w = np.asarray(Image.open(none)).shape[:2]
    records = predict_topk(model, [none, one], k=2)
    assert [(r["path"], r["face"], r["face_found"]) for r in records] == [
        (none, 1, False), (none, 1, False), (one, 1, True), (one, 1, True),
    ]  # fmt: skip
    assert records[0]["box"] == [0, 0, w, h]
    assert records[2]["box"] == detected[1][0].tolist()

    argv = ["predict", "--model", str(model_file), none, one]
    assert main(argv) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith(f"{none} [no face found: whole image]: ")
    assert text[1].startswith(f"{one}: ") and "no face" not in text[1]
    assert main([*argv, "--all-faces"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith(f"{none} [no face found: whole image at 0,0,{w},{h}]: ")
    box = ",".join(map(str, detected[1][0]))
    assert text[1].startswith(f"{one} [face 1 at {box}]: ")

    assert main([*argv, "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["face"], r["face_found"]) for r in rows] == [
        (1, False), (1, False), (1, True), (1, True)
    ]  # fmt: skip
    assert main([*argv, "--format", "csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert list(table[0]) == list(RECORD_FIELDS)
    assert [(r["path"], r["face"], r["face_found"]) for r in table] == [
        (none, "1", "false"), (none, "1", "false"), (one, "1", "true"),
        (one, "1", "true"),
    ]  # fmt: skip
    assert table[0]["box"] == f"0 0 {w} {h}"


def test_bad_files_raise_or_become_error_records(model, photos, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("no image here")
    with pytest.raises(BadImagesError, match=r"bad\.jpg"):
        predict_topk(model, [photos["one"], str(bad)])
    records = predict_topk(model, [photos["one"], str(bad), photos["none"]],
                           skip_bad=True)  # fmt: skip
    assert [r["path"] for r in records] == [photos["one"]] * 2 + [str(bad)] + [
        photos["none"]
    ] * 2
    error = records[2]
    assert error["label"] is None and "not an image" in error["error"]


def test_cli_json_and_csv(model_file, photos, tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    args = [
        "predict",
        "--model",
        str(model_file),
        photos["one"],
        str(bad),
        photos["none"],
    ]
    assert main([*args, "--format", "json"]) == 1
    out = capsys.readouterr()
    rows = [json.loads(line) for line in out.out.splitlines()]
    assert [r["path"] for r in rows] == [photos["one"]] * 2 + [str(bad)] + [
        photos["none"]
    ] * 2
    assert rows[2]["error"] and rows[0]["error"] is None
    assert rows[2]["face"] is None and rows[2]["face_found"] is None  # not known
    assert f"{bad}: error:" in out.err
    assert main([*args, "--format", "csv", "--top-k", "1"]) == 1
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["path"] for r in table] == [photos["one"], str(bad), photos["none"]]
    assert table[0]["rank"] == "1" and float(table[0]["probability"]) > 0.5
    assert table[1]["error"] and table[1]["label"] == ""
    assert table[1]["face_found"] == ""


def test_cli_all_faces_and_annotate(model_file, photos, tmp_path, capsys):
    out_dir = tmp_path / "annotated"
    code = main(["predict", "--model", str(model_file), photos["two"], photos["none"],
                 "--all-faces", "--annotate", str(out_dir)])  # fmt: skip
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    n_faces = len(FaceCropper().detect([photos["two"]])[0])
    assert sum("[face " in line for line in lines if photos["two"] in line) == n_faces
    written = sorted(p.name for p in out_dir.iterdir())
    assert written == ["facerec_two_people.png", "skimage_coffee.png"]
    original = np.asarray(Image.open(photos["two"]).convert("RGB"))
    annotated = np.asarray(Image.open(out_dir / "facerec_two_people.png"))
    assert annotated.shape == original.shape
    changed = np.any(annotated != original, axis=2)
    assert 0.001 < changed.mean() < 0.5  # boxes and labels drawn, photo kept
    # the face box outline is drawn in gold on the box's top edge
    left, top, right, _ = FaceCropper().detect([photos["two"]])[0][0]
    edge = annotated[top, left:right]
    assert np.mean(np.all(edge == (255, 215, 0), axis=1)) > 0.5


def test_training_folders_leave_out_unreadable_files(seed_dir, tmp_path):
    for label in ("happy_face", "sad_face"):
        (tmp_path / label).mkdir()
        for src in sorted((seed_dir / "train" / label).iterdir())[:2]:
            shutil.copy(src, tmp_path / label / src.name)
    truncated = tmp_path / "sad_face" / "truncated.jpg"
    truncated.write_bytes((tmp_path / "sad_face" / src.name).read_bytes()[:500])
    (tmp_path / "happy_face" / "empty.png").write_bytes(b"")
    with pytest.warns(UnreadableImagesWarning) as caught:
        paths, labels = load_image_folder(tmp_path)
    message = str(caught[0].message)
    assert "truncated.jpg" in message and "empty.png" in message
    assert len(paths) == len(labels) == 4
    assert all("truncated" not in p and "empty" not in p for p in paths)
    assert list(labels) == ["happy_face"] * 2 + ["sad_face"] * 2
    with pytest.raises(BadImagesError):
        load_image_folder(tmp_path, on_unreadable="raise")
    assert len(load_image_folder(tmp_path, on_unreadable="keep")[0]) == 6
