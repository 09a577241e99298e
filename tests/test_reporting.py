"""evaluate_model and ``skemotion evaluate``: metrics, PNGs, a self-contained page."""

from __future__ import annotations

import json
import re
import shutil

import joblib
import numpy as np
import pytest
from PIL import Image

from skemotion import evaluate_model, load_image_folder, make_emotion_pipeline
from skemotion.cli import main

CLASSES = ("happy", "sad", "shocked")


@pytest.fixture(scope="module")
def split_data(seed_dir):
    paths, labels = load_image_folder(seed_dir / "train", strip_suffix="_face")
    fit_idx = np.concatenate([np.flatnonzero(labels == c)[:4] for c in CLASSES])
    eval_idx = np.concatenate([np.flatnonzero(labels == c)[30:34] for c in CLASSES])
    return paths[fit_idx], labels[fit_idx], paths[eval_idx], labels[eval_idx]


@pytest.fixture(scope="module")
def model(split_data):
    paths, labels, _, _ = split_data
    pipe = make_emotion_pipeline(
        crop__size=48, encode__weights=None, encode__random_state=0,
        encode__pooling="avg", classify__epochs=3, classify__random_state=0,
        classify__learning_rate=1e-3,
    )  # fmt: skip
    return pipe.fit(paths, labels)


@pytest.fixture(scope="module")
def evaluated(model, split_data, tmp_path_factory):
    _, _, paths, labels = split_data
    folder = tmp_path_factory.mktemp("report")
    result = evaluate_model(model, paths, labels, folder, data_description="12 photos")
    return result, folder


def test_metrics_agree_with_predict_proba(model, split_data, evaluated):
    _, _, paths, labels = split_data
    result, _ = evaluated
    predicted = model.classes_[model.predict_proba(paths).argmax(axis=1)]
    assert result.accuracy == pytest.approx(np.mean(predicted == labels))
    matrix = np.asarray(result.confusion)
    assert matrix.sum() == len(paths) == result.n_images
    assert np.trace(matrix) / matrix.sum() == pytest.approx(result.accuracy)
    for c in CLASSES:
        assert result.per_class[c]["support"] == int(np.sum(labels == c))
    assert len(result.mistakes) == int(np.sum(predicted != labels))
    confidences = [m["predicted"][0][1] for m in result.mistakes]
    assert confidences == sorted(confidences, reverse=True)
    assert all(m["predicted"][0][0] != m["true"] for m in result.mistakes)
    assert result.weights_used == "random (seed 0)"
    assert "Accuracy:" in result.format_text()


def test_report_files(evaluated):
    result, folder = evaluated
    assert sorted(p.name for p in folder.iterdir()) == [
        "confusion_matrix.png", "metrics.json", "report.html", "worst_mistakes.png",
    ]  # fmt: skip
    for name in ("confusion_matrix.png", "worst_mistakes.png"):
        with Image.open(folder / name) as png:
            assert png.format == "PNG" and png.width >= 300 and png.height >= 150
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(result.accuracy)
    assert metrics["confusion"] == result.confusion


def test_html_page_is_a_self_contained_model_card(evaluated):
    result, folder = evaluated
    page = (folder / "report.html").read_text()
    assert f"Accuracy {result.accuracy:.1%}" in page
    assert "random (seed 0)" in page and "12 photos" in page
    assert all(c in page for c in CLASSES)
    assert page.count('src="data:image/png;base64,') == 2
    assert "classify__learning_rate" in page and "crop__size" in page
    assert "only load models you trust" in page
    assert not re.search(r"(src|href)=\"https?://", page)


def test_unknown_labels_and_no_mistakes(model, split_data, tmp_path):
    _, _, paths, _ = split_data
    predicted = model.predict(paths[:3])
    perfect = evaluate_model(model, paths[:3], predicted, tmp_path / "perfect")
    assert perfect.accuracy == 1.0 and perfect.mistakes == []
    assert (tmp_path / "perfect" / "worst_mistakes.png").is_file()
    odd = evaluate_model(model, paths[:3], ["happy", "sad", "neutral"])
    assert "neutral" in odd.classes and odd.per_class["neutral"]["recall"] == 0.0


def test_cli_evaluate(model, split_data, seed_dir, tmp_path, capsys):
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
    assert (report / "report.html").is_file()
    assert main([*argv, "--strip-suffix", "_face", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_images"] == 6
