"""EmotionClassifier: the post's dense net, and the scikeras 0.13 defects it fixes."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.utils._param_validation import InvalidParameterError

from skemotion import (
    EmotionClassifier,
    apply_temperature,
    classifier_from_arrays,
    classifier_to_arrays,
    fit_temperature,
)
from skemotion._validation import stratified_holdout

LABELS = np.array(["angry", "happy", "sad"])


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.RandomState(0)
    centers = rng.normal(0, 3, (3, 10))
    y = np.repeat(LABELS, 20)
    X = (centers[np.repeat(np.arange(3), 20)] + rng.normal(0, 1, (60, 10))).astype("f4")
    return X, y


def small(**params):
    defaults = dict(
        hidden_layer_sizes=(16,), learning_rate=1e-2, epochs=20, random_state=0
    )
    return EmotionClassifier(**{**defaults, **params})


def test_default_architecture_is_the_posts(blobs):
    X, y = blobs
    clf = EmotionClassifier(epochs=1, random_state=0).fit(X, y)
    dense = [
        layer for layer in clf.model_.layers if layer.__class__.__name__ == "Dense"
    ]
    assert [layer.units for layer in dense] == [256, 64, 16, 3]
    assert dense[-1].activation.__name__ == "softmax"
    dropouts = [
        layer.rate
        for layer in clf.model_.layers
        if layer.__class__.__name__ == "Dropout"
    ]
    assert dropouts == [0.5, 0.5, 0.5]
    opt = clf.model_.optimizer
    assert opt.__class__.__name__ == "RMSprop"
    assert float(opt.learning_rate) == pytest.approx(1e-4)
    params = EmotionClassifier().get_params()
    assert params["epochs"] == 15 and params["batch_size"] == 16
    assert params["patience"] == 3


def test_learns_separable_classes(blobs):
    X, y = blobs
    clf = small().fit(X, y)
    assert list(clf.classes_) == sorted(LABELS)
    assert np.mean(clf.predict(X) == y) > 0.9
    proba = clf.predict_proba(X)
    assert proba.shape == (60, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize("calibration", [None, "temperature"])
def test_probabilities_are_the_networks_whatever_the_batch(blobs, calibration):
    """predict_proba runs the network as one compiled call (not Keras'
    predict): the same numbers as Keras' own predict, for 1 row, a few, and
    more rows than one call takes."""
    from skemotion.classification import apply_temperature

    X, y = blobs
    clf = small(calibration=calibration).fit(X, y)
    many = np.concatenate([X] * 6)  # 360 rows: more than one compiled call
    for rows in (X[:1], X[:7], many):
        expected = clf.model_.predict(rows, verbose=0)
        expected = apply_temperature(expected, clf.temperature_)
        np.testing.assert_allclose(clf.predict_proba(rows), expected, atol=1e-6)
    with pytest.raises(ValueError, match="features"):
        clf.predict_proba(X[:, :5])


def test_regression_is_classifier_and_stratified_cv(blobs):
    """scikeras 0.13 + scikit-learn >= 1.7: is_classifier() was False, so
    cross_val_score(cv=3) used KFold: on labels sorted by class each test fold
    held one class. Now every fold holds all three."""
    assert is_classifier(EmotionClassifier())
    X, y = blobs
    order = np.argsort(y, kind="stable")

    def classes_in_fold(estimator, X, y):
        return len(set(y))

    held = cross_val_score(small(epochs=1), X[order], y[order], cv=3,
                           scoring=classes_in_fold)  # fmt: skip
    assert held.tolist() == [3, 3, 3]


def test_regression_probability_scorer_is_finite(blobs):
    # with KFold on sorted labels, test folds held unseen classes -> NaN log loss
    X, y = blobs
    scores = cross_val_score(small(epochs=5), X, y, cv=3, scoring="neg_log_loss")
    assert np.isfinite(scores).all()


def test_regression_one_sample_predict_proba_is_2d(blobs):
    X, y = blobs
    clf = small(epochs=2).fit(X, y)
    assert clf.predict_proba(X[:1]).shape == (1, 3)
    assert clf.predict(X[:1]).shape == (1,)
    binary = small(epochs=2).fit(X[:40], y[:40])
    assert binary.predict_proba(X[:1]).shape == (1, 2)


def test_regression_seeded_fit_restores_determinism(blobs):
    from tensorflow.python.framework import config

    X, y = blobs
    assert not config.is_op_determinism_enabled()
    small(epochs=1).fit(X, y)
    assert not config.is_op_determinism_enabled()
    # with determinism left on, this unseeded fit (dropout) failed
    unseeded = small(epochs=1, random_state=None).fit(X, y)
    assert unseeded.predict(X).shape == (60,)


def test_random_state_makes_fits_reproducible(blobs):
    X, y = blobs
    a = small(epochs=3).fit(X, y).predict_proba(X)
    b = small(epochs=3).fit(X, y).predict_proba(X)
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_early_stopping_on_validation_loss(blobs):
    X, y = blobs
    clf = small(epochs=200, patience=2, learning_rate=0.05).fit(X, y)
    assert "val_loss" in clf.history_
    assert len(clf.history_["loss"]) < 200
    no_val = small(epochs=3, validation_split=0.0).fit(X, y)
    assert "val_loss" not in no_val.history_ and len(no_val.history_["loss"]) == 3


def test_hold_out_is_stratified_and_refuses_to_leave_nothing():
    """The one hold-out of EmotionClassifier and VGG16FineTuner."""
    labels = np.repeat(["a", "b", "c"], 20)
    train, held_out = stratified_holdout(labels, 0.25, 0)
    assert len(train) == 45 and len(held_out) == 15
    assert sorted(np.unique(labels[held_out], return_counts=True)[1]) == [5, 5, 5]
    assert set(train).isdisjoint(held_out) and len({*train, *held_out}) == 60
    # ceil: any fraction holds at least one sample out
    assert len(stratified_holdout(labels[:7], 0.01, 0)[1]) == 1
    # a class with one sample cannot be stratified: the split is at random
    odd = np.array(["a"] * 9 + ["b"])
    train, held_out = stratified_holdout(odd, 0.2, 0)
    assert len(held_out) == 2
    with pytest.raises(ValueError, match="leaves no sample to train on"):
        stratified_holdout(labels[:1], 0.1, 0)
    assert len(stratified_holdout(labels, 0, 0)[1]) == 0


@pytest.mark.slow
def test_grid_search_clone_and_params(blobs):
    X, y = blobs
    grid = GridSearchCV(
        small(epochs=3),
        {"learning_rate": [1e-3, 1e-2], "hidden_layer_sizes": [(8,), (16, 8)]},
        cv=2,
    )
    grid.fit(X, y)
    assert set(grid.cv_results_["param_learning_rate"]) == {1e-3, 1e-2}
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    cloned = clone(small(dropout=0.1))
    assert cloned.get_params()["dropout"] == 0.1 and not hasattr(cloned, "model_")


def test_pickle_gives_identical_probabilities(blobs):
    X, y = blobs
    clf = small(epochs=3).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"optimizer": "lbfgs"}, InvalidParameterError, "'optimizer' parameter"),
        ({"dropout": 1.5}, InvalidParameterError, "'dropout' parameter"),
        ({"learning_rate": 0}, InvalidParameterError, "'learning_rate' parameter"),
        ({"epochs": 0}, InvalidParameterError, "'epochs' parameter"),
        ({"loss": "mse"}, InvalidParameterError, "'loss' parameter"),
        ({"hidden_layer_sizes": (16, 0)}, ValueError,
         r"hidden_layer_sizes must be a tuple of positive ints, got \(16, 0\)"),
    ],
)  # fmt: skip
def test_invalid_parameters(params, error, match, blobs):
    X, y = blobs
    with pytest.raises(error, match=match):
        small(**params).fit(X, y)


# ----------------------------------------------------------- calibration
def _overlapping_classes(n=600, seed=0):
    """Two classes whose features overlap: a network trained hard is overconfident."""
    rng = np.random.RandomState(seed)
    X = np.r_[rng.normal(0, 1, (n, 6)), rng.normal(0.6, 1, (n, 6))].astype("float32")
    return X, np.array(["sad"] * n + ["happy"] * n)


def _log_loss(y, proba, classes):
    index = np.searchsorted(classes, y)
    return -np.mean(np.log(np.clip(proba[np.arange(len(y)), index], 1e-12, None)))


def test_temperature_calibration_lowers_log_loss_on_new_data():
    X, y = _overlapping_classes()
    X_new, y_new = _overlapping_classes(seed=1)
    params = dict(hidden_layer_sizes=(64, 64), dropout=0.0, learning_rate=0.01,
                  batch_size=64, epochs=25, patience=None, validation_split=0.25,
                  random_state=0, progress=False)  # fmt: skip
    plain = EmotionClassifier(**params).fit(X, y)
    calibrated = EmotionClassifier(**params, calibration="temperature").fit(X, y)
    assert plain.temperature_ == 1.0
    assert calibrated.temperature_ > 1.0  # overconfident: softened
    # same network, same labels: only the probabilities change
    np.testing.assert_array_equal(calibrated.predict(X_new), plain.predict(X_new))
    classes = calibrated.classes_
    assert _log_loss(y_new, calibrated.predict_proba(X_new), classes) < _log_loss(
        y_new, plain.predict_proba(X_new), classes
    )


def test_temperature_calibration_needs_a_hold_out():
    X, y = _overlapping_classes(n=20)
    clf = EmotionClassifier(calibration="temperature", validation_split=0)
    with pytest.raises(ValueError, match="validation_split above 0"):
        clf.fit(X, y)


def test_apply_temperature_matches_scaled_logits():
    rng = np.random.RandomState(0)
    logits = rng.normal(0, 3, (5, 4))
    softmax = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    scaled = np.exp(logits / 2.5) / np.exp(logits / 2.5).sum(1, keepdims=True)
    np.testing.assert_allclose(apply_temperature(softmax, 2.5), scaled, rtol=1e-5)
    np.testing.assert_allclose(apply_temperature(softmax, 1.0), softmax, rtol=1e-6)


def test_fit_temperature_recovers_a_known_temperature():
    rng = np.random.RandomState(0)
    logits = rng.normal(0, 6, (5000, 5))
    truth = np.exp(logits / 3.0) / np.exp(logits / 3.0).sum(1, keepdims=True)
    codes = np.array([rng.choice(5, p=p) for p in truth])
    assert abs(fit_temperature(logits, codes) - 3.0) < 0.2


def test_a_classifier_survives_arrays_and_json(tmp_path):
    X, y = _overlapping_classes(n=100)
    clf = EmotionClassifier(
        hidden_layer_sizes=(8,),
        epochs=3,
        random_state=0,
        calibration="temperature",
        progress=False,
    ).fit(X, y)
    record, arrays = classifier_to_arrays(clf)
    (tmp_path / "head.json").write_text(json.dumps(record))
    np.savez(tmp_path / "head.npz", **arrays)
    with np.load(tmp_path / "head.npz", allow_pickle=False) as stored:
        back = classifier_from_arrays(
            json.loads((tmp_path / "head.json").read_text()), dict(stored)
        )
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), atol=1e-6)
    assert back.temperature_ == clf.temperature_
    assert list(back.classes_) == ["happy", "sad"]
    arrays["weight_0"] = arrays["weight_0"][:3]
    with pytest.raises(ValueError, match="do not fit the record's network"):
        classifier_from_arrays(record, arrays)


class _RecordsKerasFit:
    """Wraps ``keras.Model.fit`` to note the arguments Keras was given."""

    def __init__(self, monkeypatch):
        import keras

        self.calls: list[dict] = []
        original = keras.Model.fit

        def fit(model, *args, **kwargs):
            self.calls.append(kwargs)
            return original(model, *args, **kwargs)

        monkeypatch.setattr(keras.Model, "fit", fit)


def _rows(data) -> list[np.ndarray]:
    """The arrays of rows a dataset of batches gives, in the order it gives
    them (one pass: one epoch)."""
    batches = [[np.asarray(t) for t in batch] for batch in data]
    return [np.concatenate(parts) for parts in zip(*batches, strict=True)]


def test_shuffle_is_honoured(blobs, monkeypatch):
    """shuffle=False gives Keras the training rows in one order every epoch,
    shuffle=True in a new order each epoch, and it changes what is learnt:
    two seeded fits that differ only in shuffle give different weights."""
    X, y = blobs
    keras_fit = _RecordsKerasFit(monkeypatch)
    kept = small(shuffle=False, epochs=3, patience=None).fit(X, y)
    mixed = small(shuffle=True, epochs=3, patience=None).fit(X, y)
    in_order, shuffled = (call["x"] for call in keras_fit.calls)
    first, second = _rows(in_order)[0], _rows(in_order)[0]
    np.testing.assert_array_equal(first, second)
    one, other = _rows(shuffled)[0], _rows(shuffled)[0]
    assert not np.array_equal(one, other) and not np.array_equal(one, first)
    np.testing.assert_array_equal(np.sort(one, axis=0), np.sort(first, axis=0))
    assert not np.allclose(kept.predict_proba(X), mixed.predict_proba(X))
    again = small(shuffle=False, epochs=3, patience=None).fit(X, y)
    np.testing.assert_allclose(again.predict_proba(X), kept.predict_proba(X))


def test_validation_batch_size_and_fit_keywords_reach_keras(blobs, monkeypatch):
    X, y = blobs
    keras_fit = _RecordsKerasFit(monkeypatch)
    seen = []

    import keras

    class Epochs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(epoch)

    clf = small(validation_batch_size=7, validation_split=0.25, epochs=4,
                patience=None)  # fmt: skip
    clf.fit(X, y, validation_freq=2, callbacks=[Epochs()])
    held_out = keras_fit.calls[-1]["validation_data"]
    assert [len(batch[0]) for batch in held_out] == [7, 7, 1]  # 15 rows
    # validation_freq=2: the hold-out is scored on epochs 2 and 4 only
    assert len(clf.history_["loss"]) == 4 and len(clf.history_["val_loss"]) == 2
    assert seen == [0, 1, 2, 3]  # the callback given to fit ran
    # a fit__ parameter is routed to Keras' fit as well
    routed = small(epochs=4, patience=None, fit__validation_freq=4).fit(X, y)
    assert len(routed.history_["val_loss"]) == 1


def test_large_data_reach_keras_as_arrays_with_the_settings(blobs, monkeypatch):
    """Rows over the size that fit gives Keras as datasets of its own go to
    Keras as arrays, with shuffle and validation_batch_size for it to honour."""
    from skemotion.classification import _keras_data

    X, y = blobs
    monkeypatch.setattr(_keras_data, "LEAN_DATA_BYTES", 0)
    keras_fit = _RecordsKerasFit(monkeypatch)
    clf = small(shuffle=False, validation_batch_size=7, epochs=2, patience=None)
    clf.fit(X.astype(np.float64), y)
    call = keras_fit.calls[-1]
    assert isinstance(call["x"], np.ndarray) and call["x"].dtype == np.float32
    assert call["shuffle"] is False and call["validation_batch_size"] == 7
    X_val, _ = call["validation_data"]
    assert len(X_val) + len(call["x"]) == len(X)
    assert len(clf.history_["val_loss"]) == 2


@pytest.mark.parametrize("name", ["validation_split", "validation_data", "x"])
def test_fit_refuses_keywords_that_are_its_own(blobs, name):
    X, y = blobs
    with pytest.raises(TypeError, match=f"fit\\(\\) does not take {name}"):
        small(epochs=1).fit(X, y, **{name: 0.5})


def test_weightless_rows_are_left_out_and_weights_not_changed(blobs):
    """Rows of weight 0 are as if absent (the hold-out included), and the
    caller's weights come back unchanged (scikeras scales them in place)."""
    X, y = blobs
    weights = np.ones(len(y))
    weights[::5] = 0
    given = weights.copy()
    params = dict(class_weight="balanced", epochs=3, patience=None)
    weighted = small(**params).fit(X, y, sample_weight=weights)
    np.testing.assert_array_equal(weights, given)
    keep = weights != 0
    dropped = small(**params).fit(X[keep], y[keep], sample_weight=weights[keep])
    np.testing.assert_allclose(
        weighted.predict_proba(X), dropped.predict_proba(X), rtol=1e-5, atol=1e-6
    )


def test_temperature_is_fitted_on_the_rows_training_held_out(blobs, monkeypatch):
    """One hold-out: the rows Keras validated on are the rows the temperature
    was fitted on (it used to travel between methods on the instance)."""
    X, y = blobs
    keras_fit = _RecordsKerasFit(monkeypatch)
    clf = small(calibration="temperature", validation_split=0.2, epochs=2)
    clf.fit(X, y)
    X_val, _ = _rows(keras_fit.calls[-1]["validation_data"])
    _, held_out = stratified_holdout(y, 0.2, 0)
    np.testing.assert_array_equal(X_val, X[held_out])
    assert "_last_holdout" not in vars(clf)


def test_zero_class_weight_is_refused(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="class_weight's weights must be numbers"):
        small(class_weight={"sad": 0, "happy": 1, "angry": 1}).fit(X, y)


def test_run_eagerly_reaches_the_network(blobs):
    X, y = blobs
    assert small(epochs=1, run_eagerly=True).fit(X, y).model_.run_eagerly
    assert not small(epochs=1).fit(X, y).model_.run_eagerly


def test_repr_shows_what_differs_from_the_defaults():
    """As scikit-learn's estimators print: the changed parameters only, in a
    pipeline too (scikeras listed all of them, build_fn=None and the rest)."""
    from skemotion import make_emotion_pipeline

    assert repr(EmotionClassifier()) == "EmotionClassifier()"
    assert repr(EmotionClassifier(epochs=3, shuffle=False)) == (
        "EmotionClassifier(epochs=3, shuffle=False)"
    )
    pipe = make_emotion_pipeline(classify__dropout=0.2)
    shown = repr(pipe)
    assert "EmotionClassifier(dropout=0.2)" in shown
    for default in ("build_fn", "callbacks", "warm_start", "model=None"):
        assert default not in shown
    # every parameter still round-trips through get_params and clone
    from sklearn.base import clone

    assert (
        clone(EmotionClassifier(callbacks=[], fit__epochs=2)).get_params()[
            "fit__epochs"
        ]
        == 2
    )


def test_one_class_is_refused_before_training(blobs):
    """A classifier fitted on one class would say it for every face, sure of
    it: fit refuses, naming the class, as the fine-tuner does (the rows of
    weight 0 are left out first)."""
    from skemotion import VGG16FineTuner

    X, y = blobs
    happy = y == "happy"
    only_happy = r"2 classes .* the 20 labels hold one class only: 'happy'"
    with pytest.raises(ValueError, match=only_happy):
        small(epochs=1).fit(X[happy], y[happy])
    only_happy_weighs = happy.astype(float)
    with pytest.raises(ValueError, match="labels hold one class only: 'happy'"):
        small(epochs=1).fit(X, y, sample_weight=only_happy_weighs)
    faces = np.zeros((4, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="the 4 labels hold one class only: 'sad'"):
        VGG16FineTuner(epochs=1).fit(faces, ["sad"] * 4)
