"""The whole pipeline on real images of the original post's data set."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.model_selection import GridSearchCV, cross_val_score

from skemotion import (
    BadImagesError,
    EmotionClassifier,
    VGG16Encoder,
    load_image_folder,
    make_emotion_pipeline,
)

PER_CLASS = 5


def small_pipeline(**params):
    defaults = dict(
        crop__size=48,
        # the plumbing, not the detector, is under test: HOG looks for faces at
        # 400 px, not the default 800: a third of the cost
        crop__max_detection_side=400,
        encode__weights=None,
        encode__random_state=0,
        encode__pooling="avg",
        classify__hidden_layer_sizes=(32,),
        classify__epochs=3,
        classify__random_state=0,
    )
    return make_emotion_pipeline(**{**defaults, **params})


@pytest.fixture(scope="module")
def seed_sample(seed_dir):
    """PER_CLASS training images of each of the six classes."""
    paths, labels = load_image_folder(seed_dir / "train", strip_suffix="_face")
    keep = np.concatenate(
        [np.flatnonzero(labels == c)[:PER_CLASS] for c in np.unique(labels)]
    )
    return paths[keep], labels[keep]


@pytest.fixture(scope="module")
def fitted(seed_sample):
    paths, labels = seed_sample
    return small_pipeline().fit(paths, labels)


def test_load_image_folder_labels_from_folders(seed_dir):
    paths, labels = load_image_folder(seed_dir / "train")
    assert sorted(set(labels)) == [
        f"{c}_face" for c in ["angry", "disgust", "happy", "sad", "scared", "shocked"]
    ]
    counts = {c: int(np.sum(labels == c)) for c in set(labels)}
    assert counts["scared_face"] == 58 and counts["happy_face"] == 59
    stripped = load_image_folder(seed_dir / "train", strip_suffix="_face")[1]
    assert set(stripped) == {"angry", "disgust", "happy", "sad", "scared", "shocked"}
    mapped = load_image_folder(
        seed_dir / "validation", strip_suffix="_face", label_map={"scared": "fear"}
    )[1]
    assert "fear" in set(mapped) and "scared" not in set(mapped)
    assert len(paths) == len(labels) == 353


def test_load_image_folder_fer2013_seven_classes(shared_data):
    _, labels = load_image_folder(shared_data / "fer2013" / "test")
    assert len(set(labels)) == 7 and "neutral" in set(labels)


def test_load_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image_folder(tmp_path / "nope")
    (tmp_path / "happy").mkdir()
    (tmp_path / "happy" / "README.txt").write_text("not an image")
    with pytest.raises(ValueError, match="no images found"):
        load_image_folder(tmp_path)


def test_steps_and_parameters():
    pipe = make_emotion_pipeline(crop__size=(64, 64), classify__learning_rate=1e-3)
    assert [name for name, _ in pipe.steps] == ["crop", "gray", "encode", "classify"]
    params = pipe.get_params()
    assert params["crop__size"] == (64, 64)
    assert params["classify__learning_rate"] == 1e-3
    assert params["encode__weights"] == "fer2013"  # the packaged face encoder
    assert is_classifier(pipe)
    defaults = make_emotion_pipeline().get_params()
    assert defaults["crop__size"] == (48, 48)  # the packaged encoder's input
    with pytest.raises(ValueError):
        make_emotion_pipeline(crop__nonsense=1)


def test_fit_predict_on_real_images(fitted, seed_sample):
    paths, labels = seed_sample
    proba = fitted.predict_proba(paths[:7])
    assert proba.shape == (7, 6)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert set(fitted.predict(paths)) <= set(labels)
    assert list(fitted.classes_) == sorted(set(labels))
    assert fitted.predict_proba(paths[:1]).shape == (1, 6)
    assert len(fitted[:-1].get_feature_names_out()) == 512


@pytest.mark.slow
def test_cross_val_score_is_stratified(seed_sample):
    """cv=3 on the pipeline folds by class: each test fold holds every class.

    The labels come sorted by class, so plain KFold would give each test fold
    two classes only; the scorer reports what each fold held.
    """
    paths, labels = seed_sample
    assert list(labels) == sorted(labels)
    pipe = small_pipeline()

    def classes_in_fold(estimator, X, y):
        return len(set(y))

    held = cross_val_score(pipe, paths, labels, cv=3, scoring=classes_in_fold)
    assert held.tolist() == [6, 6, 6]
    log_loss = cross_val_score(pipe, paths, labels, cv=3, scoring="neg_log_loss")
    assert np.isfinite(log_loss).all()


@pytest.mark.slow
def test_grid_search_over_any_step(seed_sample):
    paths, labels = seed_sample
    grid = GridSearchCV(
        small_pipeline(),
        {"crop__size": [32, 40], "classify__learning_rate": [1e-4, 1e-3]},
        cv=2,
    )
    grid.fit(paths, labels)
    assert len(grid.cv_results_["params"]) == 4
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    # the chosen crop size reached the encoder of the refitted pipeline
    size = grid.best_params_["crop__size"]
    assert grid.best_estimator_.named_steps["encode"].input_shape_ == (size, size, 3)
    # a pipeline fitted by hand with the best parameters predicts the same
    by_hand = small_pipeline().set_params(**grid.best_params_).fit(paths, labels)
    np.testing.assert_allclose(grid.predict_proba(paths[:4]),
                               by_hand.predict_proba(paths[:4]), rtol=1e-4,
                               atol=1e-5)  # fmt: skip


def test_clone_is_unfitted_copy(fitted):
    copy = clone(fitted)
    assert copy.get_params()["crop__size"] == 48
    assert not hasattr(copy.named_steps["classify"], "model_")
    assert not hasattr(copy.named_steps["encode"], "model_")


@pytest.mark.parametrize("weights", ["random", "file"])
def test_joblib_roundtrip_identical_probabilities(
    weights, seed_sample, fitted, tmp_path
):
    paths, labels = seed_sample
    if weights == "random":
        pipe = fitted
    else:
        weights_file = tmp_path / "encoder.weights.h5"
        fitted.named_steps["encode"].model_.save_weights(weights_file)
        pipe = small_pipeline(encode__weights=str(weights_file)).fit(paths, labels)
    before = pipe.predict_proba(paths[:6])
    joblib.dump(pipe, tmp_path / "model.joblib")
    if weights == "file":
        weights_file.unlink()  # the saved model must not need the file any more
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(paths[:6]), before)
    assert list(loaded.classes_) == list(pipe.classes_)


def test_bad_paths_fail_before_any_keras_work(
    fitted, seed_sample, tmp_path, monkeypatch
):
    paths, _ = seed_sample
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("shopping list")
    missing = tmp_path / "gone.png"

    def must_not_run(*args, **kwargs):
        raise AssertionError("Keras work started before the bad paths were reported")

    monkeypatch.setattr(VGG16Encoder, "transform", must_not_run)
    monkeypatch.setattr(VGG16Encoder, "encode", must_not_run)  # streamed path
    monkeypatch.setattr(EmotionClassifier, "predict_proba", must_not_run)
    with pytest.raises(ValueError) as info:
        fitted.predict([paths[0], str(missing), paths[1], str(not_image)])
    assert isinstance(info.value, BadImagesError)
    assert str(missing) in str(info.value) and "does not exist" in str(info.value)
    assert str(not_image) in str(info.value) and "not an image" in str(info.value)
    unfitted = small_pipeline()
    monkeypatch.setattr(VGG16Encoder, "fit", must_not_run)
    with pytest.raises(BadImagesError, match=r"gone\.png"):
        unfitted.fit([paths[0], str(missing)], ["happy", "sad"])


def test_streaming_fit_validates_like_pipeline(seed_sample):
    """The streamed fit runs in scikit-learn's fit context: parameters are
    validated, and ``transform_input`` without metadata routing is refused
    as by a plain Pipeline (it was silently ignored)."""
    from sklearn.utils._param_validation import InvalidParameterError

    paths, labels = seed_sample
    with pytest.raises(InvalidParameterError, match="chunk_size"):
        small_pipeline(chunk_size=0).fit(paths, labels)
    routed = small_pipeline().set_params(transform_input=["sample_weight"])
    with pytest.raises(ValueError, match="metadata routing"):
        routed.fit(paths, labels)


def test_predict_like_methods_share_one_streamed_path(fitted, seed_sample):
    """predict, predict_proba and score all give what the final step gives on
    the streamed features."""
    paths, labels = seed_sample
    features = fitted[:-1].transform(paths)
    final = fitted[-1]
    np.testing.assert_allclose(
        fitted.predict_proba(paths), final.predict_proba(features)
    )
    assert list(fitted.predict(paths)) == list(final.predict(features))
    weights = np.linspace(0.5, 1.5, len(paths))
    assert fitted.score(paths, labels, sample_weight=weights) == pytest.approx(
        final.score(features, labels, sample_weight=weights)
    )
