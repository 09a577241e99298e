"""evaluate_model and ``skemotion evaluate``: metrics, PNGs, a self-contained page.

One small real pipeline (3 classes, 4 training photos each, 48x48 crops,
random VGG16 weights) is fitted once and evaluated on the validation photos of
its 3 classes plus those of a class it does not know ("angry").
"""

from __future__ import annotations

import json
import re
import shutil

import joblib
import numpy as np
import pytest
from PIL import Image

from skemotion import (
    FaceCropper,
    GrayscaleConverter,
    evaluate_model,
    expected_calibration_error,
    load_image_folder,
    make_emotion_pipeline,
)
from skemotion.cli import main

CLASSES = ("happy", "sad", "shocked")
UNKNOWN = "angry"
#: The files evaluate_model's documentation says it writes into report_dir.
REPORT_FILES = (
    "confusion_matrix.png",
    "worst_mistakes.png",
    "reliability.png",
    "metrics.json",
    "report.html",
)
#: The note its documentation says every report carries.
TRUST_NOTE = "Loading a model file runs code stored in it: only load models you trust."


@pytest.fixture(scope="module")
def split_data(seed_dir):
    train_paths, train_labels = load_image_folder(
        seed_dir / "train", strip_suffix="_face", on_unreadable="keep"
    )
    fit_idx = np.concatenate([np.flatnonzero(train_labels == c)[:4] for c in CLASSES])
    paths, labels = load_image_folder(
        seed_dir / "validation", strip_suffix="_face", on_unreadable="keep"
    )
    keep = np.isin(labels, [*CLASSES, UNKNOWN])
    return train_paths[fit_idx], train_labels[fit_idx], paths[keep], labels[keep]


@pytest.fixture(scope="module")
def model(split_data):
    paths, labels, _, _ = split_data
    # the plumbing, not the detector, is under test: HOG looks for faces at
    # 400 px, not the default 800: a third of the cost
    pipe = make_emotion_pipeline(
        crop__size=48, crop__max_detection_side=400, encode__weights=None,
        encode__random_state=0, encode__pooling="avg",
        classify__hidden_layer_sizes=(32,),
        classify__epochs=3, classify__random_state=0, classify__learning_rate=1e-3,
    )  # fmt: skip
    return pipe.fit(paths, labels)


@pytest.fixture(scope="module")
def evaluated(model, split_data, tmp_path_factory):
    _, _, paths, labels = split_data
    folder = tmp_path_factory.mktemp("report")
    result = evaluate_model(
        model, paths, labels, folder, data_description="8 <validation> photos",
        progress=False,
    )  # fmt: skip
    proba = model.predict_proba(paths)  # independently of evaluate_model
    return result, folder, proba


def test_metrics_agree_with_predict_proba(split_data, evaluated):
    _, _, paths, labels = split_data
    result, _, proba = evaluated
    predicted = np.array(CLASSES)[proba.argmax(axis=1)]
    assert result.n_images == len(paths) == 8
    assert result.accuracy == pytest.approx(np.mean(predicted == labels))
    np.testing.assert_allclose(result.proba, proba, rtol=1e-5, atol=1e-6)
    matrix = np.asarray(result.confusion)
    assert matrix.shape == (4, 4) and matrix.sum() == len(paths)
    assert np.trace(matrix) / len(paths) == pytest.approx(result.accuracy)
    assert result.classes == [*CLASSES, UNKNOWN]
    for i, c in enumerate(result.classes):
        assert result.per_class[c]["support"] == int(np.sum(labels == c)) == 2
        assert matrix[i].sum() == 2
    assert result.weights_used == "random (seed 0)"
    text = result.format_text()
    assert f"Accuracy: {result.accuracy:.1%}" in text and "macro avg" in text
    assert all(c in text for c in result.classes)
    ece = result.expected_calibration_error
    assert f"Expected calibration error: {ece:.3f} (15 bins)" in text


def test_calibration_agrees_with_predict_proba(split_data, evaluated):
    _, _, _, labels = split_data
    result, _, proba = evaluated
    predicted = np.array(CLASSES)[proba.argmax(axis=1)]
    # the model does not know "angry": its images are wrong, as they are if
    # labelled with any class but the predicted one
    relabelled = [
        next(c for c in CLASSES if c != p) if y == UNKNOWN else y
        for y, p in zip(labels, predicted, strict=True)
    ]
    expected = expected_calibration_error(relabelled, proba, CLASSES)
    assert result.expected_calibration_error == pytest.approx(expected, abs=1e-6)
    assert 0.0 < result.expected_calibration_error <= 1.0
    bins = result.reliability
    assert bins.n_bins == 15 and bins.n_samples == result.n_images
    filled = bins.counts > 0
    right = np.sum(bins.accuracy[filled] * bins.counts[filled])
    assert right == pytest.approx(result.n_correct)
    confidence = np.sum(bins.mean_confidence[filled] * bins.counts[filled])
    assert confidence == pytest.approx(proba.max(axis=1).sum(), rel=1e-5)


def test_unknown_label_is_handled(evaluated):
    result, _, _ = evaluated
    assert result.unknown_labels == [UNKNOWN]
    assert result.model_classes == list(CLASSES)
    assert result.per_class[UNKNOWN] == {
        "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2, "known": False,
    }  # fmt: skip
    matrix = np.asarray(result.confusion)
    assert matrix[:, 3].sum() == 0  # never predicted
    assert sum(m["true"] == UNKNOWN for m in result.mistakes) == 2
    assert f"{UNKNOWN}*" in result.format_text()


def test_mistakes_sorted_by_wrong_confidence(split_data, evaluated):
    _, _, paths, labels = split_data
    result, _, proba = evaluated
    predicted = np.array(CLASSES)[proba.argmax(axis=1)]
    assert len(result.mistakes) == int(np.sum(predicted != labels)) >= 2
    confidences = [m["predicted"][0][1] for m in result.mistakes]
    assert confidences == sorted(confidences, reverse=True)
    by_path = {str(p): i for i, p in enumerate(paths)}
    for mistake in result.mistakes:
        i = by_path[mistake["path"]]
        assert mistake["true"] == labels[i] != mistake["predicted"][0][0]
        assert len(mistake["predicted"]) == 2
        top = np.sort(proba[i])[::-1][:2]
        got = [p for _, p in mistake["predicted"]]
        np.testing.assert_allclose(got, top, rtol=1e-5)


def test_progress_parameters_are_restored(model, evaluated):
    params = model.get_params()
    assert params["crop__progress"] is None and params["encode__progress"] is None


def test_report_files(evaluated):
    result, folder, _ = evaluated
    assert sorted(p.name for p in folder.iterdir()) == sorted(REPORT_FILES)
    assert sorted(result.files) == sorted(REPORT_FILES)
    assert "reliability.png" in REPORT_FILES
    for name in ("confusion_matrix.png", "worst_mistakes.png", "reliability.png"):
        with Image.open(folder / name) as png:
            assert png.format == "PNG" and png.width >= 300 and png.height >= 200
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(result.to_dict()))
    assert metrics["accuracy"] == pytest.approx(result.accuracy)
    assert metrics["confusion"] == result.confusion
    assert metrics["expected_calibration_error"] == pytest.approx(
        result.expected_calibration_error
    )
    bins = metrics["reliability"]
    assert bins["n_bins"] == 15 and len(bins["edges"]) == 16
    assert sum(bins["counts"]) == result.n_images
    assert bins["counts"] == result.reliability.counts.tolist()
    assert bins["expected_calibration_error"] == metrics["expected_calibration_error"]
    for count, acc in zip(bins["counts"], bins["accuracy"], strict=True):
        assert (acc is None) == (count == 0)
    assert metrics["mistakes"][0]["predicted"][0][1] == pytest.approx(
        result.mistakes[0]["predicted"][0][1]
    )


def test_html_page_is_a_self_contained_model_card(evaluated):
    result, folder, _ = evaluated
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert f"Accuracy {result.accuracy:.1%}" in page
    ece = f"{result.expected_calibration_error:.3f}"
    assert re.search(
        rf"Accuracy {re.escape(f'{result.accuracy:.1%}')}<span[^>]*>expected "
        rf"calibration error <strong>{ece}</strong> \(15 bins\)",
        page,
    )
    assert "<h2>Calibration</h2>" in page and 'alt="Reliability diagram"' in page
    assert "random (seed 0)" in page
    assert "8 &lt;validation&gt; photos" in page  # escaped
    assert all(c in page for c in (*CLASSES, UNKNOWN))
    assert page.count('src="data:image/png;base64,') == 3
    assert ">crop__size<" in page and ">classify__learning_rate<" in page
    assert ">memory<" not in page  # only the steps' parameters
    assert TRUST_NOTE in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page)
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower() and "<link" not in page.lower()


def test_images_without_a_face_are_said(model, split_data, face_count_dir, tmp_path):
    """An image in which no face was found is classified whole: the result,
    its text, metrics.json and the page say which, and each mistake says it."""
    _, _, paths, labels = split_data
    images = [*paths[:3], str(face_count_dir / "no_face" / "skimage_coffee.png")]
    found = [len(b) > 0 for b in model.named_steps["crop"].detect(images)]
    assert found[-1] is False and any(found)
    result = evaluate_model(model, images, [*labels[:3], "sad"], tmp_path,
                            n_worst=2, progress=False)  # fmt: skip
    assert result.face_found.tolist() == found
    missing = [p for p, f in zip(images, found, strict=True) if not f]
    assert result.no_face == missing
    # the probabilities are what the model's predict_proba gives
    np.testing.assert_allclose(result.proba, model.predict_proba(images),
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    for mistake in result.mistakes:
        assert mistake["face_found"] is found[images.index(mistake["path"])]
    said = f"No face found in {len(missing)} of 4 images: the whole image was"
    assert f"{said} classified" in result.format_text()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["no_face"] == missing
    assert all("face_found" in m for m in metrics["mistakes"])
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert f"No face found in <strong>{len(missing)}</strong> of 4 images" in page


class _StubModel:
    """A fitted classifier of paths: fixed probabilities, counts its calls."""

    classes_ = np.array(["happy", "sad"])

    def __init__(self, proba):
        self.proba = np.asarray(proba, dtype=float)
        self.calls = 0

    def predict_proba(self, paths):
        self.calls += 1
        return self.proba[: len(paths)]

    def get_params(self, deep=True):
        return {"encode__weights": "<script>alert(1)</script>", "memory": None}


def test_no_mistakes_stub_model(split_data, tmp_path):
    _, _, paths, _ = split_data
    stub = _StubModel([[0.9, 0.1], [0.2, 0.8]])
    result = evaluate_model(stub, paths[:2], ["happy", "sad"], tmp_path)
    assert stub.calls == 1
    assert (
        result.accuracy == 1.0 and result.mistakes == [] and result.unknown_labels == []
    )
    assert result.weights_used is None
    assert result.face_found is None and result.to_dict()["no_face"] is None
    # both right: (|1 - 0.9| + |1 - 0.8|) / 2, whatever the bins
    assert result.expected_calibration_error == pytest.approx(0.15)
    with Image.open(tmp_path / "worst_mistakes.png") as png:
        assert png.width >= 300
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script" not in page


def test_stub_model_mistakes_and_validation(split_data, tmp_path):
    _, _, paths, _ = split_data
    stub = _StubModel([[0.6, 0.4], [0.95, 0.05], [0.3, 0.7]])
    result = evaluate_model(
        stub, paths[:3], ["sad", "sad", "fear"], tmp_path, top_k=1, n_worst=1
    )
    assert stub.calls == 1
    assert [m["predicted"] for m in result.mistakes] == [
        [["happy", 0.95]], [["sad", 0.7]], [["happy", 0.6]],
    ]  # fmt: skip
    assert result.classes == ["happy", "sad", "fear"]
    assert result.confusion == [[0, 0, 0], [2, 0, 0], [0, 1, 0]]
    # all wrong ("fear" is not a class): the mean confidence
    assert result.expected_calibration_error == pytest.approx((0.6 + 0.95 + 0.7) / 3)
    # as classification_report: labels that are true or predicted
    assert result.macro["recall"] == pytest.approx(0.0)
    assert (tmp_path / "worst_mistakes.png").is_file()
    with pytest.raises(ValueError, match="3 paths but 2 labels"):
        evaluate_model(stub, paths[:3], ["sad", "sad"])
    with pytest.raises(ValueError, match="top_k"):
        evaluate_model(stub, paths[:3], ["sad"] * 3, top_k=0)
    with pytest.raises(ValueError, match="predict_proba"):
        evaluate_model(object(), paths[:3], ["sad"] * 3)
    with pytest.raises(ValueError, match="calibration_bins"):
        evaluate_model(stub, paths[:3], ["sad"] * 3, calibration_bins=0)
    coarse = evaluate_model(stub, paths[:3], ["sad"] * 3, calibration_bins=1)
    assert coarse.reliability.n_bins == 1
    assert "Expected calibration error: 0.417 (1 bin)" in coarse.format_text()


class _RecordingGray(GrayscaleConverter):
    """The gray step, keeping a copy of every batch it is given."""

    def transform(self, X):
        self.batches_.append(np.array(X))
        return super().transform(X)


def test_mistakes_figure_shows_what_the_model_saw(split_data, face_count_dir, tmp_path):
    _, _, paths, _ = split_data
    no_face = face_count_dir / "no_face" / "skimage_brick.png"
    images = [*paths[:3], str(no_face)]
    # settings the model's crop depends on, far from their defaults
    crop = FaceCropper(size=40, margin=0.5, align=True, progress=False)
    gray = _RecordingGray().fit(np.zeros((1, 40, 40, 3), dtype=np.uint8))
    gray.batches_ = []
    stub = _StubModel([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4]])
    stub.named_steps = {"crop": crop, "gray": gray}  # as a Pipeline has them
    result = evaluate_model(stub, images, ["sad"] * 4, tmp_path, progress=False)
    shown = [m["path"] for m in result.mistakes]
    assert sorted(shown) == sorted(images)
    # the figure's images are the model's own crops, every setting applied,
    # handed to its gray step: exactly what the encoder was given
    expected = crop.transform(shown)
    np.testing.assert_array_equal(np.concatenate(gray.batches_), expected)
    # and the settings matter for these photos
    for other in (
        FaceCropper(size=40, margin=0.5, progress=False),  # no align
        FaceCropper(size=40, align=True, progress=False),  # the default margin
    ):
        assert not np.array_equal(other.transform(shown), expected)
    with Image.open(tmp_path / "worst_mistakes.png") as png:
        assert png.width >= 300


def test_cli_evaluate(model, seed_dir, tmp_path, capsys):
    model_file = tmp_path / "model.joblib"
    joblib.dump(model, model_file)
    for label in CLASSES:
        folder = tmp_path / "data" / "validation" / f"{label}_face"
        folder.mkdir(parents=True)
        for src in sorted((seed_dir / "train" / f"{label}_face").iterdir())[40:42]:
            shutil.copy(src, folder)
    argv = ["evaluate", str(model_file), str(tmp_path / "data")]
    assert main(argv) == 2  # folder names are not the model's classes
    assert "--strip-suffix" in capsys.readouterr().err
    report = tmp_path / "report"
    code = main([*argv, "--strip-suffix", "_face", "--report", str(report), "-q"])
    assert code == 0
    out = capsys.readouterr().out
    assert "on 6 images from" in out and "validation" in out
    assert re.search(r"^Expected calibration error: \d\.\d{3} \(15 bins\)$", out, re.M)
    assert (report / "report.html").is_file()
    assert main([*argv, "--strip-suffix", "_face", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_images"] == 6
    assert 0.0 <= data["expected_calibration_error"] <= 1.0


def test_mistakes_figure_shows_each_faces_saliency_map(evaluated):
    """Beside each gray face, the same face with its map (coloured) over it."""
    result, folder, _ = evaluated
    assert result.mistakes
    with Image.open(folder / "worst_mistakes.png") as png:
        pixels = np.asarray(png.convert("RGB"), dtype=int)
    coloured = np.abs(pixels[..., 0] - pixels[..., 2]) > 80  # faces are gray
    assert coloured.mean() > 0.002
    shown = min(len(result.mistakes), 12)
    # the map's colours sit right of the faces' middle, in each panel
    columns = np.flatnonzero(coloured.any(axis=0))
    assert len(columns) > 20 * min(shown, 4)
