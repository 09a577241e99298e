"""VGG16FineTuner: fine-tuning, frozen-activation cache, checkpoints, export.

Real FER2013 face crops (detector "none"), resized to 32x32 so that a few
epochs of VGG16 take seconds on two CPU cores.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.utils._param_validation import InvalidParameterError

from skemotion import (
    CheckpointError,
    FaceCropper,
    GrayscaleConverter,
    VGG16Encoder,
    VGG16FineTuner,
    augment_faces,
    load_image_folder,
    make_emotion_pipeline,
    make_finetune_pipeline,
    preprocess_images,
    read_weights_info,
)
from skemotion.cli import main

CLASSES = ("angry", "happy", "surprise")
SIZE = 32


@pytest.fixture(scope="module")
def fer_paths(shared_data: Path):
    paths, labels = load_image_folder(
        shared_data / "fer2013" / "train", on_unreadable="keep"
    )
    keep = [i for c in CLASSES for i in np.flatnonzero(labels == c)[:8]]
    return paths[keep], labels[keep]


@pytest.fixture(scope="module")
def faces(fer_paths):
    """24 real gray face crops, 32x32x3 uint8, and their labels."""
    paths, labels = fer_paths
    crops = FaceCropper(detector="none", size=SIZE, progress=False).transform(paths)
    return GrayscaleConverter().fit_transform(crops), labels


def _tuner(**params) -> VGG16FineTuner:
    base = dict(
        weights=None, trainable_blocks=1, hidden_layer_sizes=(16,), epochs=2,
        batch_size=8, validation_split=0.25, augment_copies=1, random_state=0,
        progress=False,
    )  # fmt: skip
    base.update(params)
    return VGG16FineTuner(**base)


def _layer_weights(weights_file: Path, name: str) -> list[np.ndarray]:
    encoder = VGG16Encoder(weights=weights_file, pooling="max").fit(
        np.zeros((1, SIZE, SIZE, 3), np.uint8)
    )
    return encoder.model_.get_layer(name).get_weights()


def test_fit_predict_labels_come_from_the_data(faces):
    X, y = faces
    tuner = _tuner().fit(X, y)
    assert list(tuner.classes_) == sorted(CLASSES)
    proba = tuner.predict_proba(X[:5])
    assert proba.shape == (5, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert set(tuner.predict(X)) <= set(CLASSES)
    assert len(tuner.history_["loss"]) == tuner.n_epochs_ == 2
    assert len(tuner.history_["val_loss"]) == 2
    assert tuner.weights_used_ == "random He (seed 0)"
    assert tuner.frozen_cache_seconds_ > 0  # blocks 1-4 frozen and cached
    assert is_classifier(tuner)
    # from random weights: batch norm, per-image standardisation, lr 1e-3
    assert tuner.batch_norm_ and tuner.preprocessing_ == "standardize"
    assert tuner.learning_rate_ == 1e-3
    assert tuner.n_heldout_ == 6 and tuner.n_training_images_ == 18


def test_image_native_estimator_contract(faces):
    """What parametrize_with_checks cannot run on 4-D image input."""
    X, y = faces
    tuner = _tuner(epochs=1)
    params = tuner.get_params()
    with pytest.raises(NotFittedError):
        tuner.predict(X)
    assert tuner.fit(X, y) is tuner
    assert tuner.get_params() == params
    proba = tuner.predict_proba(X)
    np.testing.assert_allclose(tuner.predict_proba(X[3:7]), proba[3:7], atol=1e-5)
    again = clone(tuner).fit(X, y).predict_proba(X)  # seeded: the same model
    np.testing.assert_allclose(again, proba, atol=1e-5)
    with pytest.raises(ValueError, match="fitted on 32x32"):
        tuner.predict(np.zeros((1, 40, 40, 3), np.uint8))
    with pytest.raises(ValueError, match="one label per image"):
        clone(tuner).fit(X, y[:-1])


@pytest.mark.slow
def test_export_changes_only_the_trained_blocks(faces, tmp_path):
    X, y = faces
    start = tmp_path / "start.weights.h5"
    encoder = VGG16Encoder(weights=None, pooling="max", random_state=0)
    encoder.fit(X[:1]).model_.save_weights(start)
    tuned = _tuner(trainable_blocks=2, learning_rate=1e-3, random_init="glorot",
                   batch_norm=False)  # fmt: skip
    exported = tuned.fit(X, y).export_weights(tmp_path / "adapted.weights.h5")
    assert tuned.weights_used_ == "random (seed 0)"  # VGG16Encoder's own draw
    for frozen in ("block1_conv1", "block3_conv3"):
        for a, b in zip(
            _layer_weights(start, frozen), _layer_weights(exported, frozen), strict=True
        ):
            np.testing.assert_array_equal(a, b)
    for trained in ("block4_conv1", "block5_conv3"):
        kernel_start = _layer_weights(start, trained)[0]
        kernel_tuned = _layer_weights(exported, trained)[0]
        assert not np.allclose(kernel_start, kernel_tuned)
    # "he" rescales the same draw: sqrt((fan_in + fan_out) / fan_in), and the
    # first layer to the 0-255 input range when inputs are "caffe"-scaled
    he = _tuner(epochs=1, trainable_blocks=1, preprocessing="caffe").fit(X, y)
    he_file = he.export_weights(tmp_path / "he.weights.h5")
    for name, factor in (("block1_conv1", np.sqrt((27 + 576) / 27) / 64),
                         ("block2_conv2", np.sqrt(2))):  # fmt: skip
        np.testing.assert_allclose(
            _layer_weights(he_file, name)[0],
            _layer_weights(start, name)[0] * factor, rtol=1e-5,
        )  # fmt: skip


@pytest.mark.parametrize("batch_norm", [True, False])
@pytest.mark.slow
def test_exported_file_is_plain_vgg16_computing_the_trained_features(
    faces, tmp_path, batch_norm
):
    """Keras' own VGG16 loads the file and computes what the tuned blocks
    computed (batch norm folded into the convolutions), from the
    preprocessing the file names."""
    import keras

    X, y = faces
    tuner = _tuner(trainable_blocks=2, batch_norm=batch_norm, precision="float32",
                   learning_rate=1e-3).fit(X, y)  # fmt: skip
    exported = tuner.export_weights(tmp_path / "adapted.weights.h5")
    info = read_weights_info(exported)
    assert info.batch_norm_folded is batch_norm
    assert info.preprocessing == tuner.preprocessing_ == "standardize"
    plain = keras.applications.VGG16(
        include_top=False, weights=None, input_shape=(SIZE, SIZE, 3)
    )
    plain.load_weights(exported)
    x = preprocess_images(X[:6], info.preprocessing)
    got = np.asarray(plain.predict(x, verbose=0)).reshape(6, -1)
    # the tuned network itself, layer by layer up to its last block
    whole = tuner.model_
    expected = whole.get_layer("frozen")(x, training=False)
    for layer in whole.get_layer("trained").layers[1:]:
        expected = layer(expected, training=False)
        if layer.name == "block5_pool":
            break
    expected = np.asarray(expected).reshape(6, -1)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * scale)
    # and VGG16Encoder applies the file's preprocessing by itself
    features = VGG16Encoder(weights=exported, pooling="flatten",
                            precision="float32").fit_transform(X[:6])  # fmt: skip
    np.testing.assert_allclose(features, got, rtol=1e-4, atol=1e-4 * scale)


def test_standard_pipeline_on_adapted_weights(fer_paths, faces, tmp_path):
    X, y = faces
    weights_file = _tuner().fit(X, y).export_weights(tmp_path / "a.weights.h5")
    paths, labels = fer_paths
    pipe = make_emotion_pipeline(
        crop__detector="none", crop__size=SIZE, crop__progress=False,
        encode__weights=str(weights_file), encode__pooling="avg",
        encode__progress=False, classify__epochs=1, classify__random_state=0,
        classify__progress=False,
    )  # fmt: skip
    pipe.fit(paths, labels)
    assert pipe.named_steps["encode"].weights_used_.startswith(f"file {weights_file}")
    proba = pipe.predict_proba(paths[:3])
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    weights_file.unlink()  # the fitted pipeline keeps the values, not the file
    reloaded = joblib.load(tmp_path / "pipe.joblib")
    np.testing.assert_array_equal(reloaded.predict_proba(paths[:3]), proba)


@pytest.mark.slow
def test_cached_frozen_activations_train_like_uncached(faces):
    """Without augmentation the cache is exact: both paths train the same."""
    X, y = faces
    cached = _tuner(augment=False, cache_frozen=True).fit(X, y)
    uncached = _tuner(augment=False, cache_frozen=False).fit(X, y)
    assert cached.frozen_cache_seconds_ > 0
    assert uncached.frozen_cache_seconds_ == 0
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(
            cached.history_[key], uncached.history_[key], rtol=1e-3
        )


@pytest.mark.slow
def test_training_all_blocks_has_nothing_to_cache(faces):
    X, y = faces
    tuner = _tuner(trainable_blocks=5, epochs=1).fit(X, y)
    assert tuner.frozen_cache_seconds_ == 0
    assert tuner.model_.get_layer("trained").get_layer("block1_conv1").trainable


@pytest.mark.slow
def test_interrupted_run_resumes_where_it_stopped(faces, tmp_path, interrupted_fit):
    X, y = faces
    uninterrupted = _tuner(epochs=3).fit(X, y)

    checkpoint = tmp_path / "ckpt"
    interrupted_fit(_tuner(epochs=3, checkpoint_dir=checkpoint), X, y)

    resumed = _tuner(epochs=3, checkpoint_dir=checkpoint).fit(X, y)
    assert resumed.resumed_from_epoch_ == 2
    assert len(resumed.epoch_seconds_) == 1  # only epoch 3 ran again
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(
            resumed.history_[key], uninterrupted.history_[key], rtol=1e-4
        )
    np.testing.assert_allclose(
        resumed.predict_proba(X), uninterrupted.predict_proba(X), rtol=1e-3, atol=1e-5
    )
    # the run is complete: fitting again trains nothing more
    again = _tuner(epochs=3, checkpoint_dir=checkpoint).fit(X, y)
    assert again.resumed_from_epoch_ == 3 and again.epoch_seconds_ == []
    assert again.frozen_cache_seconds_ == 0  # nothing left to train: no cache built
    np.testing.assert_allclose(again.predict_proba(X), resumed.predict_proba(X),
                               rtol=1e-5, atol=1e-6)  # fmt: skip


@pytest.mark.slow
def test_checkpoint_of_another_run_is_refused(faces, tmp_path):
    X, y = faces
    checkpoint = tmp_path / "ckpt"
    _tuner(epochs=1, checkpoint_dir=checkpoint).fit(X, y)
    with pytest.raises(CheckpointError, match="another run"):
        _tuner(epochs=1, learning_rate=1e-3, checkpoint_dir=checkpoint).fit(X, y)
    with pytest.raises(CheckpointError, match="another run"):
        _tuner(epochs=1, checkpoint_dir=checkpoint).fit(X[::-1], y[::-1])
    # with the cosine schedule the number of epochs shapes the run
    with pytest.raises(CheckpointError, match="another run"):
        _tuner(epochs=2, checkpoint_dir=checkpoint).fit(X, y)
    (checkpoint / "variables.npz").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="damaged"):
        _tuner(epochs=1, checkpoint_dir=checkpoint).fit(X, y)
    with pytest.raises(CheckpointError, match="random_state"):
        _tuner(random_state=None, checkpoint_dir=tmp_path / "other").fit(X, y)


@pytest.mark.slow
def test_pickled_tuner_predicts_the_same(faces, tmp_path):
    X, y = faces
    tuner = _tuner(epochs=1).fit(X, y)
    proba = tuner.predict_proba(X[:4])
    joblib.dump(tuner, tmp_path / "t.joblib")
    reloaded = joblib.load(tmp_path / "t.joblib")
    np.testing.assert_array_equal(reloaded.predict_proba(X[:4]), proba)
    assert reloaded.weights_used_ == "random He (seed 0)"
    path = reloaded.export_weights(tmp_path / "r.weights.h5")
    assert path.is_file()
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        reloaded.export_weights(tmp_path / "r.h5")


@pytest.mark.slow
def test_class_weights_change_the_loss(faces):
    """Weighing a class up changes the loss the network is trained on."""
    X, y = faces
    plain = _tuner(epochs=1, augment=False, dropout=0.0).fit(X, y)
    heavy = _tuner(epochs=1, augment=False, dropout=0.0,
                   class_weight={"happy": 3.0}).fit(X, y)  # fmt: skip
    assert heavy.history_["loss"][0] != pytest.approx(plain.history_["loss"][0])
    with pytest.raises(ValueError, match="unknown classes"):
        _tuner(epochs=1, class_weight={"bored": 2.0}).fit(X, y)


@pytest.mark.parametrize(
    "params",
    [{"trainable_blocks": 6}, {"optimizer": "lbfgs"}, {"validation_split": 1.0},
     {"pooling": "sum"}, {"augment_copies": -1}, {"precision": "float16"},
     {"batch_norm": "yes"}, {"lr_schedule": "step"}, {"label_smoothing": 1.0},
     {"learning_rate": "fast"}, {"preprocessing": "imagenet"}],
)  # fmt: skip
def test_invalid_parameters_are_refused_at_fit(faces, params):
    X, y = faces
    with pytest.raises(InvalidParameterError):
        _tuner(**params).fit(X, y)


def test_augment_faces_is_seeded_and_keeps_faces_upright(faces):
    X, _ = faces
    a = augment_faces(X[:6], np.random.default_rng(1))
    b = augment_faces(X[:6], np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert a.shape == X[:6].shape and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 255
    assert not np.array_equal(a, X[:6].astype(np.float32))
    # flip alone: every image is itself or its mirror image
    only_flip = augment_faces(
        X[:8], np.random.default_rng(0), shift=0, rotation=0, zoom=0, brightness=0
    )
    mirrored = 0
    for original, out in zip(X[:8].astype(np.float32), only_flip, strict=True):
        if np.array_equal(out, original[:, ::-1]):
            mirrored += 1
        else:
            np.testing.assert_array_equal(out, original)
    assert 0 < mirrored < 8


@pytest.mark.slow
def test_cross_validation_and_clone(fer_paths):
    paths, labels = fer_paths
    pipe = make_finetune_pipeline(
        crop__detector="none", crop__size=SIZE, crop__progress=False,
        finetune__weights=None, finetune__random_state=0, finetune__epochs=1,
        finetune__trainable_blocks=1, finetune__hidden_layer_sizes=(8,),
        finetune__validation_split=0, finetune__progress=False,
    )  # fmt: skip
    assert is_classifier(pipe)
    scores = cross_val_score(clone(pipe), paths, labels, cv=2)
    # each fold's score is what a clone trained on the other fold scores
    by_hand = [
        clone(pipe).fit(paths[train], labels[train]).score(paths[test], labels[test])
        for train, test in StratifiedKFold(2).split(paths, labels)
    ]
    np.testing.assert_allclose(scores, by_hand)


@pytest.mark.slow
def test_cli_finetune_then_train_on_the_adapted_weights(fer_paths, tmp_path, capsys):
    paths, labels = fer_paths
    data = tmp_path / "data"
    for split, rows in (("train", slice(None)), ("validation", slice(0, None, 4))):
        for path, label in zip(paths[rows], labels[rows], strict=True):
            folder = data / split / label
            folder.mkdir(parents=True, exist_ok=True)
            (folder / Path(path).name).symlink_to(path)
    weights = tmp_path / "adapted.weights.h5"
    model = tmp_path / "tuned.joblib"
    args = ["finetune", str(data), "-o", str(weights), "--size", str(SIZE),
            "--detector", "none", "--weights", "none", "--epochs", "2",
            "--trainable-blocks", "1", "-p", "finetune__hidden_layer_sizes=(8,)",
            "--checkpoint-dir", str(tmp_path / "ckpt"), "--model", str(model),
            "-q"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "epoch 2: loss" in out
    assert "Validation accuracy:" in out
    assert f"saved to {weights}" in out
    assert weights.is_file() and model.is_file()
    # a second run finds the finished checkpoint and resumes after epoch 2
    assert main(args) == 0
    assert "resumed after epoch 2" in capsys.readouterr().out
    assert main(["train", str(data), "-o", str(tmp_path / "m.joblib"), "-q",
                 "-p", f"encode__weights='{weights}'", "-p", "crop__detector='none'",
                 "-p", f"crop__size={SIZE}",
                 "-p", "classify__epochs=1"]) == 0  # fmt: skip
    assert f"file {weights}" in capsys.readouterr().out
    assert main(["finetune", str(data), "-o", str(tmp_path / "x.h5")]) == 2
    assert ".weights.h5" in capsys.readouterr().err
