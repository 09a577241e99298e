"""The one model resolver (``resolve_model``) and the one way to find a cropper."""

from __future__ import annotations

import hashlib

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from skemotion import predict_topk
from skemotion.exceptions import ModelFileError, ModelVersionWarning
from skemotion.prediction import READY_MODEL_NAME, resolve_model
from skemotion.preprocessing import FaceCropper, GrayscaleConverter, pipeline_cropper


def test_no_model_is_the_ready_model():
    resolved = resolve_model(None)
    assert resolved.source == "ready" and resolved.path is None
    assert resolved.name == READY_MODEL_NAME
    assert list(resolved.model.classes_) == [
        "angry", "disgust", "fear", "happy", "neutral", "sad", "surprise",
    ]  # fmt: skip
    assert resolved.digest().startswith("ready-")
    assert resolved.digest() == resolve_model().digest()


def test_a_path_is_a_model_file(tiny_model_file, tiny_model):
    resolved = resolve_model(tiny_model_file)
    assert resolved.source == "file"
    assert resolved.path == str(tiny_model_file)
    assert resolved.name == tiny_model_file.name
    assert list(resolved.model.classes_) == list(tiny_model.classes_)
    expected = hashlib.sha256(tiny_model_file.read_bytes()).hexdigest()
    assert expected in resolved.digest()


def test_a_file_that_is_not_an_emotion_pipeline_is_refused(tmp_path):
    path = tmp_path / "other.joblib"
    joblib.dump(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), path)
    # a file save_model did not write says so first (no version record)
    with (
        pytest.warns(ModelVersionWarning, match="no version record"),
        pytest.raises(
            ModelFileError, match="does not start with a FaceCropper"
        ) as info,
    ):
        resolve_model(path)
    assert "other.joblib" in str(info.value)


def test_a_pipeline_is_itself_and_must_start_with_a_cropper(tiny_model):
    resolved = resolve_model(tiny_model)
    assert resolved.model is tiny_model and resolved.source == "pipeline"
    assert resolved.digest().startswith("pickle:")
    with pytest.raises(ValueError, match="first step is a FaceCropper, got a Pipeline"):
        resolve_model(Pipeline([("gray", GrayscaleConverter())]))


def test_the_cropper_is_found_by_what_it_is_not_by_its_name(tiny_model, seed_dir):
    """A pipeline whose steps have other names predicts through the same path."""
    renamed = Pipeline(
        [(f"step{i}", step) for i, (_, step) in enumerate(tiny_model.steps)]
    )
    assert pipeline_cropper(renamed) is tiny_model.steps[0][1]
    assert pipeline_cropper(tiny_model[1:]) is None
    assert pipeline_cropper(FaceCropper()) is None
    photos = [
        str(p) for p in sorted((seed_dir / "validation" / "happy_face").iterdir())
    ]
    ours = predict_topk(tiny_model, photos, k=2)
    theirs = predict_topk(renamed, photos, k=2)
    assert [r["label"] for r in theirs] == [r["label"] for r in ours]
    np.testing.assert_allclose([r["probability"] for r in theirs],
                               [r["probability"] for r in ours], rtol=1e-6)  # fmt: skip
