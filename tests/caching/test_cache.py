"""The feature cache: each unique image detected, cropped and encoded once."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

import skemotion.feature_extraction._encoder as encoder_module
import skemotion.preprocessing._face_cropping as cropping_module
from skemotion import FeatureCache, load_image_folder, make_emotion_pipeline


@pytest.fixture(scope="module")
def sample(seed_dir):
    paths, labels = load_image_folder(
        seed_dir / "train", strip_suffix="_face", on_unreadable="keep"
    )
    keep = np.concatenate(
        [np.flatnonzero(labels == c)[:6] for c in ("happy", "sad", "shocked")]
    )
    return paths[keep], labels[keep]


@pytest.fixture
def work(monkeypatch):
    """Counts face detections and images pushed through VGG16."""
    counts = {"detected": 0, "encoded": 0}
    detect, preprocess = (
        cropping_module.detect_faces,
        encoder_module.preprocess_images,
    )

    def counting_detect(image, *args, **kwargs):
        counts["detected"] += 1
        return detect(image, *args, **kwargs)

    def counting_preprocess(batch, method="caffe"):
        counts["encoded"] += len(batch)
        return preprocess(batch, method)

    monkeypatch.setattr(cropping_module, "detect_faces", counting_detect)
    monkeypatch.setattr(encoder_module, "preprocess_images", counting_preprocess)
    return counts


def pipeline(memory, **params):
    # the plumbing, not the detector, is under test: HOG looks for faces at
    # 400 px, not the default 800: a third of the cost
    defaults = dict(crop__size=32, crop__max_detection_side=400,
                    encode__weights=None, encode__random_state=0,
                    encode__pooling="avg", classify__epochs=2,
                    classify__random_state=0)  # fmt: skip
    return make_emotion_pipeline(memory=memory, **{**defaults, **params})


@pytest.mark.slow
def test_grid_search_encodes_each_image_once(sample, work, tmp_path):
    paths, labels = sample
    cache = FeatureCache(tmp_path / "cache")
    grid = {"classify__learning_rate": [1e-4, 1e-3],
            "classify__hidden_layer_sizes": [(8,), (16,)]}  # fmt: skip
    GridSearchCV(pipeline(cache), grid, cv=3).fit(paths, labels)
    n = len(paths)
    # 4 candidates x 3 folds (+ refit) would be 13 passes without the cache
    assert work == {"detected": n, "encoded": n}
    assert len(list((tmp_path / "cache" / "crop").rglob("*.npz"))) == n
    assert len(list((tmp_path / "cache" / "vgg16").rglob("*.npz"))) == n
    # a second run of the same search starts warm: no detection, no encoding
    work.update(detected=0, encoded=0)
    GridSearchCV(pipeline(str(tmp_path / "cache")), grid, cv=3).fit(paths, labels)
    assert work == {"detected": 0, "encoded": 0}


def test_cached_features_equal_uncached(sample, tmp_path):
    paths, _ = sample
    plain = pipeline(None)[:-1].fit_transform(paths)
    cold = pipeline(tmp_path)[:-1].fit_transform(paths)
    warm = pipeline(tmp_path)[:-1].fit_transform(paths)
    np.testing.assert_array_equal(cold, plain)
    np.testing.assert_array_equal(warm, plain)


@pytest.mark.parametrize(
    "change",
    [{"crop__size": 40}, {"crop__margin": 0.4}, {"encode__random_state": 1},
     {"encode__pooling": "max"}, {"crop__detector": "haar"}],
)  # fmt: skip
def test_changed_parameters_miss_the_cache(change, sample, work, tmp_path):
    paths, _ = sample
    paths = paths[:4]
    base = {"crop__size": 64}  # at 64 px VGG16 ends on 2x2: avg and max differ
    before = pipeline(tmp_path, **base)[:-1].fit_transform(paths)
    work.update(detected=0, encoded=0)
    after = pipeline(tmp_path, **{**base, **change})[:-1].fit_transform(paths)
    counted = dict(work)
    expected = pipeline(None, **{**base, **change})[:-1].fit_transform(paths)
    np.testing.assert_array_equal(after, expected)  # never stale
    assert not np.array_equal(after, before)
    crop_changed = any(name.startswith("crop__") for name in change)
    assert counted["detected"] == (4 if crop_changed else 0)
    # encoding is keyed by the crop's pixels: a crop that came out identical
    # (an image with no face is used whole, whatever the margin) may hit
    assert 1 <= counted["encoded"] <= 4
    if not crop_changed:
        assert counted["encoded"] == 4


def test_weights_file_is_keyed_by_content(sample, tmp_path, work):
    paths, _ = sample
    seeded = pipeline(None)[:-1].fit(paths[:2])
    weights = tmp_path / "w.weights.h5"
    seeded.named_steps["encode"].model_.save_weights(weights)
    first = pipeline(tmp_path / "c", encode__weights=str(weights))[:-1]
    first.fit_transform(paths[:3])
    other = pipeline(None, encode__random_state=7)[:-1].fit(paths[:2])
    other.named_steps["encode"].model_.save_weights(weights)  # same path, new bytes
    work.update(detected=0, encoded=0)
    again = pipeline(tmp_path / "c", encode__weights=str(weights))[:-1]
    features = again.fit_transform(paths[:3])
    assert work["encoded"] == 3
    np.testing.assert_array_equal(features, other.transform(paths[:3]))


def test_unseeded_weights_are_not_cached(sample, tmp_path):
    paths, _ = sample
    pipeline(tmp_path, encode__random_state=None)[:-1].fit_transform(paths[:2])
    assert not (tmp_path / "vgg16").exists()
    assert len(list((tmp_path / "crop").rglob("*.npz"))) == 2


def test_same_content_elsewhere_hits(sample, tmp_path, work):
    paths, _ = sample
    copy = tmp_path / "renamed.jpg"
    shutil.copy(paths[0], copy)
    pipeline(tmp_path / "c")[:-1].fit_transform(paths[:1])
    work.update(detected=0, encoded=0)
    pipeline(tmp_path / "c")[:-1].fit_transform([copy])
    assert work == {"detected": 0, "encoded": 0}
