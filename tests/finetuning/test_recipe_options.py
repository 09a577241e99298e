"""VGG16FineTuner's recipe choices for issue 29's probes: random crops and
test-time crops, random erasing, mixup and CutMix, weight decay, the plateau
and one-cycle schedules, logit adjustment, the moving average of the weights,
and their checkpoints.

Tiny random 48x48 images: what is checked is what each choice computes and
that a run using them all resumes exactly, not what they learn.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from skemotion import VGG16FineTuner, augment_faces, preprocess_images
from skemotion.finetuning._augment import mix_batch, predict_views
from skemotion.finetuning._checkpoints import run_fingerprint
from skemotion.finetuning._fit import _loss, _optimizer
from skemotion.finetuning._settings import TuningSettings
from skemotion.finetuning._training import plateau_callback, warmup_schedule

SIZE = 48
#: Every new choice at once (the plateau needs the hold-out of ``_tuner``).
EVERYTHING = dict(
    random_crop=40, random_erasing=0.5, mixup_alpha=0.4, cutmix_alpha=1.0,
    optimizer="sgd", weight_decay=1e-3, lr_schedule="plateau", plateau_patience=1,
    logit_adjustment=1.0, ema_decay=0.9,
)  # fmt: skip


@pytest.fixture(scope="module")
def tiny():
    """24 random 48x48 gray images (3 channels), 3 classes, uneven."""
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, size=(24, SIZE, SIZE, 1), dtype=np.uint8)
    y = np.array(["angry"] * 12 + ["happy"] * 8 + ["disgust"] * 4)
    return np.repeat(gray, 3, axis=3), y


def _tuner(**params) -> VGG16FineTuner:
    base = dict(
        weights=None, trainable_blocks=1, hidden_layer_sizes=(16,), epochs=2,
        batch_size=8, validation_split=0.25, augment_copies=1, random_state=0,
        progress=False,
    )  # fmt: skip
    base.update(params)
    return VGG16FineTuner(**base)


def _settings(**params) -> TuningSettings:
    return TuningSettings.from_params(_tuner(**params).get_params())


def _ramp(n=4, size=32) -> np.ndarray:
    """Images whose pixel value is 4x its column: crops show as ramps."""
    row = 4.0 * np.arange(size, dtype=np.float32)
    return np.broadcast_to(row[None, None, :, None], (n, size, size, 3)).copy()


def _left_edge(image: np.ndarray, scale: float) -> float:
    """Where a window of a ``_ramp`` image starts (pixel 1 of the window,
    resized by ``1 / scale``, shows column ``left + 1.5 * scale - 0.5``)."""
    return float(image[5, 1, 0]) / 4.0 - (1.5 * scale - 0.5)


# --- augmentation ----------------------------------------------------------


def test_random_crop_is_a_window_resized_back():
    still = dict(flip=False, shift=0, rotation=0, zoom=0, brightness=0)
    images = _ramp()
    # a window as large as the image: the image itself
    same = augment_faces(images, np.random.default_rng(0), crop=32, **still)
    np.testing.assert_allclose(same, images, atol=1e-3)
    out = augment_faces(images, np.random.default_rng(0), crop=24, **still)
    again = augment_faces(images, np.random.default_rng(0), crop=24, **still)
    np.testing.assert_array_equal(out, again)
    lefts = []
    for image in out:
        # each row a ramp 24/32 as steep, starting at the window's left edge
        slope = np.diff(image[5, 2:-2, 0])
        np.testing.assert_allclose(slope, 4.0 * 24 / 32, atol=1e-3)
        lefts.append(_left_edge(image, 24 / 32))
        rows_alike = np.broadcast_to(image[:1], image.shape)
        np.testing.assert_allclose(image, rows_alike, atol=1e-3)
    assert all(0 <= left <= 8 + 1e-3 for left in lefts)
    assert len({round(left, 2) for left in lefts}) > 1  # random places


def test_random_erasing_paints_one_gray_rectangle():
    images = np.zeros((6, 32, 32, 3), np.float32)
    still = dict(flip=False, shift=0, rotation=0, zoom=0, brightness=0)
    out = augment_faces(images, np.random.default_rng(0), erasing=1.0,
                        erasing_area=(0.25, 0.25), **still)  # fmt: skip
    for image in out:
        np.testing.assert_array_equal(image[..., 0], image[..., 2])  # gray
        rows, cols = np.nonzero(image[..., 0])
        height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
        assert abs(height * width - 0.25 * 32 * 32) <= 0.05 * 32 * 32
        assert (image[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] > 0
                ).mean() > 0.95  # fmt: skip
    never = augment_faces(images, np.random.default_rng(0), erasing=0.0, **still)
    np.testing.assert_array_equal(never, images)


def test_mixup_blends_inputs_targets_and_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 6, 6, 2)).astype(np.float32)
    targets = np.eye(8, dtype=np.float32)  # each image its own class
    weights = np.arange(1, 9, dtype=np.float32)
    same = mix_batch(x, targets, weights, np.random.default_rng(1))
    assert same[0] is x
    mixed, blend, w = mix_batch(x, targets, weights, np.random.default_rng(1),
                                mixup_alpha=0.4)  # fmt: skip
    np.testing.assert_allclose(blend.sum(axis=1), 1.0, rtol=1e-6)
    lam = None
    for i in range(8):
        others = [j for j in np.flatnonzero(blend[i]) if j != i]
        if not others:  # its own partner
            np.testing.assert_allclose(mixed[i], x[i], rtol=1e-6)
            continue
        partner = others[0]
        assert lam is None or np.isclose(blend[i, i], lam)  # one lam per batch
        lam = blend[i, i]
        np.testing.assert_allclose(
            mixed[i], lam * x[i] + (1 - lam) * x[partner], rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(
            w[i], lam * weights[i] + (1 - lam) * weights[partner], rtol=1e-5
        )


def test_cutmix_pastes_a_rectangle_and_blends_targets_by_area():
    x = np.repeat(np.arange(8, dtype=np.float32), 10 * 10).reshape(8, 10, 10, 1)
    targets = np.eye(8, dtype=np.float32)
    weights = np.ones(8, np.float32)
    for seed in range(5):
        mixed, blend, _ = mix_batch(
            x, targets, weights, np.random.default_rng(seed), cutmix_alpha=1.0
        )
        for i in range(8):  # fmt: skip
            own = (mixed[i] == i).mean()  # the share of its own pixels
            np.testing.assert_allclose(blend[i, i], own if own < 1 else 1.0)
            np.testing.assert_allclose(blend[i].sum(), 1.0, rtol=1e-6)


def test_predict_views_are_the_centre_and_the_corners():
    images = _ramp(n=2)
    assert predict_views(images, None, crops=True)[0] is images
    views = predict_views(images, 24, crops=True)
    assert len(views) == 5 and len(predict_views(images, 24, crops=False)) == 1
    # ramps starting at the centre (4), the left (0) and the right (8) edges
    starts = [_left_edge(v[0], 24 / 32) for v in views]
    np.testing.assert_allclose(starts, [4, 0, 8, 0, 8], atol=1e-3)


# --- optimisation ----------------------------------------------------------


def test_onecycle_and_plateau_schedules():
    one = warmup_schedule(1.0, warmup_steps=5, total_steps=100, kind="onecycle")
    np.testing.assert_allclose(float(one(0)), 1 / 25, rtol=1e-5)
    np.testing.assert_allclose(float(one(30)), 1.0, rtol=1e-5)
    np.testing.assert_allclose(float(one(100)), 1 / 25e4, rtol=1e-3)
    assert float(one(15)) < float(one(29)) and float(one(40)) > float(one(90))
    import keras

    scale = keras.Variable(1.0, trainable=False)
    plateau = warmup_schedule(0.1, warmup_steps=2, total_steps=100,
                              kind="plateau", scale=scale)  # fmt: skip
    np.testing.assert_allclose(float(plateau(0)), 0.05, rtol=1e-6)
    np.testing.assert_allclose(float(plateau(50)), 0.1, rtol=1e-6)
    callback = plateau_callback(scale, factor=0.5, patience=2, state=None)
    for epoch, val_loss in enumerate([1.0, 0.9, 0.95, 0.91, 0.8, 0.85]):
        callback.on_epoch_end(epoch, {"val_loss": val_loss})
    np.testing.assert_allclose(float(plateau(50)), 0.05, rtol=1e-6)  # one plateau
    assert callback.state == {"scale": 0.5, "best": 0.8, "wait": 1}
    # a resumed callback sets the schedule's scale from its saved state
    scale.assign(1.0)
    plateau_callback(scale, factor=0.5, patience=2,
                     state={"scale": 0.25, "best": 0.7, "wait": 0})  # fmt: skip
    np.testing.assert_allclose(float(plateau(50)), 0.025, rtol=1e-6)


def test_weight_decay_and_moving_average_reach_the_optimizer():
    schedule = warmup_schedule(1e-3, warmup_steps=1, total_steps=10)
    plain = _optimizer(_settings(), schedule)
    assert plain.weight_decay is None and not plain.use_ema
    assert _optimizer(_settings(optimizer="adamw"), schedule).weight_decay == 0.004
    assert not _optimizer(_settings(optimizer="adamw", weight_decay=0), schedule
                          ).weight_decay  # fmt: skip
    decayed = _optimizer(_settings(optimizer="sgd", weight_decay=1e-4,
                                   ema_decay=0.99), schedule)  # fmt: skip
    assert decayed.weight_decay == 1e-4 and decayed.nesterov
    assert decayed.use_ema and decayed.ema_momentum == 0.99
    assert decayed.learning_rate is not None  # the schedule, kept
    import keras

    dense = keras.layers.Dense(2)
    dense.build((None, 3))
    assert decayed._use_weight_decay(dense.kernel)
    assert not decayed._use_weight_decay(dense.bias)


def test_logit_adjusted_loss():
    import keras

    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(3), size=5).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1]]
    prior = np.array([0.6, 0.3, 0.1])
    plain = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(y, proba)
    # an even prior shifts every logit alike: the loss of the softmax itself
    even = _loss(_settings(logit_adjustment=1.0), np.ones(3) / 3)(y, proba)
    np.testing.assert_allclose(float(even), float(plain), rtol=1e-5)
    adjusted = _loss(_settings(logit_adjustment=1.0), prior)(y, proba)
    shifted = np.log(proba) + np.log(prior)
    expected = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=0.1)(y, shifted)  # fmt: skip
    np.testing.assert_allclose(float(adjusted), float(expected), rtol=1e-5)


# --- the estimator ---------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [{"random_crop": 0}, {"random_erasing": 1.5}, {"erasing_area": 0.3},
     {"mixup_alpha": -1.0}, {"cutmix_alpha": "big"}, {"weight_decay": -0.1},
     {"lr_schedule": "step"}, {"plateau_factor": 1.0}, {"plateau_patience": 0},
     {"logit_adjustment": -1.0}, {"ema_decay": 1.0}, {"crop_tta": "yes"}],
)  # fmt: skip
def test_invalid_new_parameters_are_refused_at_fit(tiny, params):
    X, y = tiny
    with pytest.raises(InvalidParameterError):
        _tuner(**params).fit(X, y)


@pytest.mark.parametrize(
    ("params", "match"),
    [({"lr_schedule": "plateau", "validation_split": 0}, "validation_split > 0"),
     ({"crop_tta": True}, "set random_crop"),
     ({"erasing_area": (0.5, 0.2)}, "erasing_area"),
     ({"erasing_area": (0.0, 0.2)}, "erasing_area"),
     ({"random_crop": 60}, "larger than the 48x48")],
)  # fmt: skip
def test_recipes_that_cannot_run_are_refused_at_fit(tiny, params, match):
    X, y = tiny
    with pytest.raises(ValueError, match=match):
        _tuner(**params).fit(X, y)


def test_new_parameters_at_their_defaults_keep_old_checkpoints():
    """A checkpoint written before the new parameters existed resumes."""
    params = _tuner().get_params()
    old = {k: v for k, v in params.items()
           if k not in EVERYTHING | {"erasing_area": 0, "cutmix_alpha": 0,
                                      "plateau_factor": 0, "crop_tta": 0}}  # fmt: skip
    common = dict(
        seed=0,
        weights_key="k",
        classes=["a", "b"],
        precision="float32",
        images=np.zeros((2, 4, 4, 3), np.uint8),
        codes=np.array([0, 1]),
    )
    assert run_fingerprint(params, **common) == run_fingerprint(
        old | {"lr_schedule": "cosine", "optimizer": "adam"}, **common)  # fmt: skip
    assert run_fingerprint(params, **common) != run_fingerprint(
        params | {"random_crop": 40}, **common)  # fmt: skip
    # test-time crops change no training: the same run
    assert run_fingerprint(params | {"crop_tta": True}, **common) == (
        run_fingerprint(params, **common))  # fmt: skip


@pytest.mark.slow
def test_test_time_crops_average_the_windows(tiny):
    X, y = tiny
    tuner = _tuner(epochs=1, random_crop=40).fit(X, y)
    assert tuner.crop_size_ == 40

    def network(views, flip=False):
        out = []
        for view in views:
            x = preprocess_images(view, tuner.preprocessing_)
            out.append(tuner.model_.predict(x, verbose=0))
            if flip:
                out.append(tuner.model_.predict(x[:, :, ::-1], verbose=0))
        return np.mean(out, axis=0)

    sample = X[:5]
    centre = network(predict_views(sample, 40, crops=False))
    np.testing.assert_allclose(tuner.predict_proba(sample), centre, atol=1e-5)
    tuner.set_params(crop_tta=True)
    five = network(predict_views(sample, 40, crops=True))
    np.testing.assert_allclose(tuner.predict_proba(sample), five, atol=1e-5)
    tuner.set_params(flip_tta=True)
    ten = network(predict_views(sample, 40, crops=True), flip=True)
    np.testing.assert_allclose(tuner.predict_proba(sample), ten, atol=1e-5)
    plain = _tuner(epochs=1).fit(X, y).set_params(crop_tta=True)
    with pytest.raises(ValueError, match="trained with random_crop"):
        plain.predict_proba(sample)


@pytest.mark.slow
def test_the_moving_average_is_the_network_kept(tiny):
    X, y = tiny
    tuner = _tuner(ema_decay=0.5, validation_split=0).fit(X, y)
    trained = tuner.model_.get_layer("trained")
    optimizer = trained.optimizer
    for variable, average in zip(optimizer._trainable_variables,
                                 optimizer._model_variables_moving_average,
                                 strict=True):  # fmt: skip
        np.testing.assert_array_equal(variable.numpy(), average.numpy())
    plain = _tuner(validation_split=0).fit(X, y)
    assert not np.allclose(tuner.predict_proba(X), plain.predict_proba(X))


@pytest.mark.slow
@pytest.mark.parametrize("cache_frozen", [True, False])
def test_every_new_choice_resumes_where_it_stopped(tiny, tmp_path, interrupted_fit,
                                                   cache_frozen):  # fmt: skip
    X, y = tiny
    params = dict(EVERYTHING, epochs=3, cache_frozen=cache_frozen, crop_tta=True)
    uninterrupted = _tuner(**params).fit(X, y)

    checkpoint = tmp_path / "ckpt"
    interrupted_fit(_tuner(**params, checkpoint_dir=checkpoint), X, y)
    import json

    record = json.loads((checkpoint / "state.json").read_text())
    assert set(record["plateau"]) == {"scale", "best", "wait"}

    resumed = _tuner(**params, checkpoint_dir=checkpoint).fit(X, y)
    assert resumed.resumed_from_epoch_ == 2 and len(resumed.epoch_seconds_) == 1
    for key in ("loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(
            resumed.history_[key], uninterrupted.history_[key], rtol=1e-4
        )
    np.testing.assert_allclose(
        resumed.predict_proba(X), uninterrupted.predict_proba(X), rtol=1e-3, atol=1e-5
    )
