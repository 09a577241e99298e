"""Adapted weights files carry how to use them; VGG16Encoder follows them."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

import skemotion
from skemotion import (
    FaceCropper,
    GrayscaleConverter,
    VGG16Encoder,
    VGG16FineTuner,
    WeightsError,
    WeightsWarning,
    load_image_folder,
    read_weights_info,
)

SIZE = 32


@pytest.fixture(scope="module")
def fer(shared_data: Path):
    paths, labels = load_image_folder(
        shared_data / "fer2013" / "train", on_unreadable="keep"
    )
    keep = [
        i
        for c in ("angry", "happy", "surprise")
        for i in np.flatnonzero(labels == c)[:8]
    ]
    paths, labels = paths[keep], labels[keep]
    crops = FaceCropper(detector="none", size=SIZE, progress=False).transform(paths)
    return paths, GrayscaleConverter().fit_transform(crops), labels


@pytest.fixture(scope="module")
def adapted(fer, tmp_path_factory):
    """A fine-tuner trained briefly from random weights and its exported file."""
    paths, X, y = fer
    tuner = VGG16FineTuner(
        weights=None, trainable_blocks=2, hidden_layer_sizes=(16,), epochs=2,
        batch_size=8, validation_split=0.25, augment_copies=1, random_state=0,
        precision="float32", progress=False,
    ).fit(X, y)  # fmt: skip
    path = tmp_path_factory.mktemp("w") / "fer.weights.h5"
    return tuner, tuner.export_weights(path, training_files=paths)


@pytest.mark.slow
def test_record_round_trips_with_the_file(fer, adapted):
    paths, X, y = fer
    tuner, path = adapted
    info = read_weights_info(path)
    assert info.input_size == (SIZE, SIZE)
    assert info.preprocessing == "standardize"  # per-image, from random weights
    assert info.trained_blocks == 2
    assert info.precision == "float32"
    assert info.classes == ["angry", "happy", "surprise"]
    assert info.start_weights == "random He (seed 0)"
    assert info.epochs == 2 and 1 <= info.best_epoch <= 2
    assert info.n_training_images == 18 and info.heldout_images == 6
    assert info.heldout_accuracy == tuner.heldout_accuracy_
    assert info.batch_norm_folded is True
    assert info.skemotion_version == skemotion.__version__
    assert info.params["trainable_blocks"] == "2"
    # the file list's digest: its sorted "folder/file" lines, whatever order
    lines = sorted(f"{Path(p).parent.name}/{Path(p).name}\n" for p in paths)
    assert (
        info.training_files_sha256
        == hashlib.sha256("".join(lines).encode()).hexdigest()
    )
    again = tuner.export_weights(path.with_name("again.weights.h5"),
                                 training_files=list(reversed(paths)))  # fmt: skip
    assert read_weights_info(again).training_files_sha256 == info.training_files_sha256
    assert read_weights_info(again).training_data_sha256 == info.training_data_sha256
    # a different data set has another digest
    other = VGG16FineTuner(**tuner.get_params()).fit(X[::-1][:21], y[::-1][:21])
    moved = other.export_weights(path.with_name("other.weights.h5"))
    assert read_weights_info(moved).training_data_sha256 != info.training_data_sha256
    assert read_weights_info(moved).training_files_sha256 is None


def test_files_without_a_record(fer, tmp_path):
    _, X, _ = fer
    plain = tmp_path / "plain.weights.h5"
    VGG16Encoder(weights=None, random_state=0).fit(X[:1]).model_.save_weights(plain)
    assert read_weights_info(plain) is None
    encoder = VGG16Encoder(weights=plain).fit(X[:2])
    assert encoder.weights_info_ is None and encoder.preprocessing_ == "caffe"
    with pytest.raises(WeightsError, match="does not exist"):
        read_weights_info(tmp_path / "missing.weights.h5")
    broken = tmp_path / "broken.weights.h5"
    broken.write_bytes(plain.read_bytes())
    with h5py.File(broken, "a") as fh:
        fh.attrs["skemotion_weights_info"] = "{not json"
    with pytest.raises(WeightsError, match="unreadable skemotion record"):
        read_weights_info(broken)


def test_encoder_uses_the_files_preprocessing_and_size(fer, adapted):
    _, X, _ = fer
    _, path = adapted
    with warnings.catch_warnings():
        warnings.simplefilter("error", WeightsWarning)  # the right size: silent
        encoder = VGG16Encoder(weights=path, pooling="avg").fit(X)
    assert encoder.preprocessing_ == "standardize"
    assert encoder.weights_info_.input_size == (SIZE, SIZE)
    # per-image standardisation: a dimmer, flatter copy of a face gives the
    # same features (up to the rounding of its pixels)
    dim = np.round(X.astype(np.float32) * 0.5 + 20).astype(np.uint8)
    cos = _cosine(encoder.transform(X), encoder.transform(dim))
    assert cos.min() > 0.99
    caffe = VGG16Encoder(weights=path, pooling="avg", preprocessing="caffe")
    with pytest.warns(WeightsWarning, match="preprocessing='standardize'"):
        caffe.fit(X)
    assert _cosine(caffe.transform(X), caffe.transform(dim)).min() < cos.min()


def test_encoder_warns_when_the_crop_size_differs(fer, adapted):
    _, X, _ = fer
    _, path = adapted
    bigger = np.repeat(np.repeat(X[:2], 2, axis=1), 2, axis=2)  # 64x64
    with pytest.warns(WeightsWarning, match=r"trained on 32x32 .* gets 64x64") as rec:
        VGG16Encoder(weights=path).fit(bigger)
    assert "crop__size=32" in str(rec[0].message)


def test_flip_tta_gives_mirror_invariant_features(fer, tmp_path):
    _, X, _ = fer
    mirrored = X[:, :, ::-1]
    common = dict(weights=None, random_state=0, pooling="avg")
    tta = VGG16Encoder(flip_tta=True, **common).fit(X)
    np.testing.assert_allclose(tta.transform(X), tta.transform(mirrored), rtol=1e-6)
    plain = VGG16Encoder(**common).fit(X)
    assert not np.allclose(plain.transform(X), plain.transform(mirrored))


def test_finetuner_flip_tta_averages_mirror_images(fer, adapted):
    _, X, _ = fer
    tuner, _ = adapted
    expected = (tuner.predict_proba(X) + tuner.predict_proba(X[:, :, ::-1])) / 2
    try:
        tuner.set_params(flip_tta=True)  # a predict-time switch
        with_tta = tuner.predict_proba(X)
        mirrored = tuner.predict_proba(X[:, :, ::-1])
    finally:
        tuner.set_params(flip_tta=False)
    np.testing.assert_allclose(with_tta, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(with_tta, mirrored, rtol=1e-5, atol=1e-6)


def _cosine(a, b):
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
