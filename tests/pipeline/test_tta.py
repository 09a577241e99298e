"""``EmotionPipeline(tta=...)`` averages the probabilities of views of each face.

The oracle is independent of the code under test: mirrored copies of the
images, written as files, predicted without ``tta``.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from skemotion import load_pretrained, predict_topk
from skemotion.preprocessing import TTA_VIEWS, crop_views


@pytest.fixture(scope="module")
def fer_faces(shared_data):
    """Eight FER2013 test faces, one or two per class, in a fixed order."""
    folder = shared_data / "fer2013" / "test"
    paths = []
    for label in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"):
        paths.extend(sorted((folder / label).glob("*.jpg"))[:1])
    paths.append(sorted((folder / "happy").glob("*.jpg"))[5])
    return [str(p) for p in paths]


@pytest.fixture(scope="module")
def mirrored(fer_faces, tmp_path_factory):
    """The same faces mirrored left to right, as PNG files (lossless)."""
    folder = tmp_path_factory.mktemp("mirrored")
    out = []
    for i, path in enumerate(fer_faces):
        target = folder / f"{i}.png"
        Image.open(path).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(target)
        out.append(str(target))
    return out


@pytest.fixture(scope="module")
def ready():
    """The ready model without its default flip averaging (tests set ``tta``)."""
    return load_pretrained(crop__detector="none", crop__progress=False, tta=None)


def test_flip_averages_the_face_and_its_mirror(ready, fer_faces, mirrored):
    plain = ready.predict_proba(fer_faces)
    mirror = ready.predict_proba(mirrored)
    flip = ready.set_params(tta="flip")
    try:
        averaged = flip.predict_proba(fer_faces)
    finally:
        ready.set_params(tta=None)
    np.testing.assert_allclose(averaged, (plain + mirror) / 2, atol=1e-5)
    assert np.abs(averaged - plain).max() > 1e-3  # the mirror did change something
    np.testing.assert_allclose(averaged.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("tta", ["flip", "crops", "crops+flip"])
def test_every_method_and_front_end_uses_the_same_average(ready, fer_faces, tta):
    ready.set_params(tta=tta)
    try:
        proba = ready.predict_proba(fer_faces)
        predicted = ready.predict(fer_faces)
        log_proba = ready.predict_log_proba(fer_faces)
        records = predict_topk(ready, fer_faces, k=1)  # crops, then model[1:]
        labels = [p.split("/")[-2] for p in fer_faces]
        score = ready.score(fer_faces, labels)
    finally:
        ready.set_params(tta=None)
    classes = np.asarray(ready.classes_)
    np.testing.assert_array_equal(predicted, classes[proba.argmax(axis=1)])
    np.testing.assert_allclose(np.exp(log_proba), proba, rtol=1e-6)
    assert [r["label"] for r in records] == list(predicted)
    np.testing.assert_allclose([r["probability"] for r in records], proba.max(axis=1),
                               atol=1e-5)  # fmt: skip
    assert score == pytest.approx(np.mean(predicted == np.asarray(labels)))


def test_views_are_what_they_say(fer_faces, ready):
    crops = ready[:2].transform(fer_faces)
    views = crop_views(crops, "crops+flip")
    assert len(views) == len(TTA_VIEWS["crops+flip"]) == 10
    np.testing.assert_array_equal(views[0], crops)
    np.testing.assert_array_equal(views[5], crops[:, :, ::-1])
    assert all(v.shape == crops.shape and v.dtype == crops.dtype for v in views)
    # a corner crop is the face a little larger: its top-left corner is the
    # crop's, its bottom-right is not
    assert not np.array_equal(views[1], crops)
    assert len({v.tobytes() for v in views}) == 10
    with pytest.raises(ValueError, match="unknown tta 'tilt'"):
        crop_views(crops, "tilt")


def test_tta_is_a_parameter_like_the_others(ready, fer_faces):
    copy = clone(ready.set_params(tta="crops"))
    ready.set_params(tta=None)
    assert copy.get_params()["tta"] == "crops"
    assert "tta='crops'" in repr(copy)
    assert ready[1:].tta is None and copy[1:].tta == "crops"
    with pytest.raises(InvalidParameterError, match="tta"):
        ready.set_params(tta="mirror").predict(fer_faces[:1])
    ready.set_params(tta=None)


def test_views_enter_before_the_encoder_of_a_keras_pipeline(tiny_model, seed_dir):
    """A pipeline with its own (TensorFlow) encoder: the views are of the gray
    crops, before the encoder; checked on crops against their mirrors."""
    photos = sorted((seed_dir / "validation" / "happy_face").iterdir())[:2]
    crops = tiny_model[:1].transform([str(p) for p in photos])
    rest = tiny_model[1:]
    plain = rest.predict_proba(crops)
    mirror = rest.predict_proba(np.ascontiguousarray(crops[:, :, ::-1]))
    rest.set_params(tta="flip")
    np.testing.assert_allclose(rest.predict_proba(crops), (plain + mirror) / 2,
                               atol=1e-5)  # fmt: skip
    assert tiny_model.tta is None  # the slice is a new pipeline
