"""VGG16Encoder: weights sources, pooling, batching, persistence."""

from __future__ import annotations

import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from skemotion import FaceCropper, GrayscaleConverter, VGG16Encoder, WeightsError


@pytest.fixture(scope="module")
def faces(seed_dir):
    paths = sorted(str(p) for p in (seed_dir / "train" / "happy_face").iterdir())[:6]
    crops = FaceCropper(size=48).transform(paths)
    return GrayscaleConverter().fit_transform(crops)


@pytest.fixture(scope="module")
def seeded(faces):
    return VGG16Encoder(weights=None, random_state=0, pooling="avg").fit(faces)


def test_seeded_random_weights_are_reproducible(faces, seeded):
    a = seeded.transform(faces)
    b = (
        VGG16Encoder(weights=None, random_state=0, pooling="avg")
        .fit(faces)
        .transform(faces)
    )
    c = (
        VGG16Encoder(weights=None, random_state=1, pooling="avg")
        .fit(faces)
        .transform(faces)
    )
    assert a.shape == (6, 512) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert seeded.weights_used_ == "random (seed 0)"
    # real images give varied features, not a constant vector
    assert np.std(a, axis=0).mean() > 0


@pytest.mark.parametrize(
    ("pooling", "size", "n_out"),
    [
        ("flatten", 48, 512),
        ("flatten", 64, 2 * 2 * 512),
        ("avg", 64, 512),
        ("max", 96, 512),
        ("flatten", 224, 7 * 7 * 512),
    ],
)
def test_pooling_output_sizes(pooling, size, n_out):
    x = np.random.RandomState(0).randint(0, 256, (2, size, size, 3)).astype(np.uint8)
    enc = VGG16Encoder(weights=None, random_state=0, pooling=pooling).fit(x)
    assert enc.transform(x).shape == (2, n_out)
    assert enc.n_features_out_ == n_out
    names = enc.get_feature_names_out()
    assert len(names) == n_out and names[0] == "vgg16encoder0"


def test_batch_size_does_not_change_features(faces, seeded):
    one_by_one = clone(seeded).set_params(batch_size=1).fit(faces).transform(faces)
    np.testing.assert_allclose(
        one_by_one, seeded.transform(faces), rtol=1e-4, atol=1e-4
    )


def test_weights_file_roundtrip(faces, seeded, tmp_path):
    path = tmp_path / "vgg16_faces.weights.h5"
    seeded.model_.save_weights(path)
    from_file = VGG16Encoder(weights=str(path), pooling="avg").fit(faces)
    np.testing.assert_array_equal(from_file.transform(faces), seeded.transform(faces))
    assert from_file.weights_used_.startswith(f"file {path}")
    # a file written at one input size serves any other size
    bigger = np.repeat(np.repeat(faces, 2, axis=1), 2, axis=2)
    assert VGG16Encoder(weights=path).fit(bigger).transform(bigger).shape == (
        6,
        3 * 3 * 512,
    )


def test_weights_errors(faces, tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        VGG16Encoder(weights=tmp_path / "nope.weights.h5").fit(faces)
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"not hdf5 at all")
    with pytest.raises(WeightsError, match="not a weights file"):
        VGG16Encoder(weights=junk).fit(faces)


def test_imagenet_download_failure_is_explained(faces, monkeypatch):
    import keras

    def no_network(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -2] Name or service not known")

    monkeypatch.setattr(keras.utils, "get_file", no_network)
    monkeypatch.setattr("keras.src.applications.vgg16.file_utils.get_file", no_network)
    with pytest.raises(WeightsError) as info:
        VGG16Encoder(weights="imagenet").fit(faces)
    message = str(info.value)
    assert "ImageNet" in message and "weights=None" in message
    assert "Name or service not known" in message


def test_imagenet_loads_from_keras_cache(faces, tmp_path, monkeypatch):
    """The real ``weights="imagenet"`` path loads what Keras' downloader returns."""

    seeded_no_top = VGG16Encoder(weights=None, random_state=3, pooling="avg").fit(faces)
    cached = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    seeded_no_top.model_.save_weights(str(cached) + ".weights.h5")
    (tmp_path / (cached.name + ".weights.h5")).rename(cached.with_suffix(".weights.h5"))
    calls = []

    def fake_get_file(fname, origin, **kwargs):
        calls.append((fname, origin))
        return str(cached.with_suffix(".weights.h5"))

    monkeypatch.setattr(
        "keras.src.applications.vgg16.file_utils.get_file", fake_get_file
    )
    enc = VGG16Encoder(weights="imagenet", pooling="avg").fit(faces)
    # one request, for Keras' own file of the network without its top
    ((fname, origin),) = calls
    assert fname == "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert origin.endswith("/" + fname)
    loaded = [w.numpy() for w in enc.model_.weights]
    seeded = [w.numpy() for w in seeded_no_top.model_.weights]
    assert len(loaded) == len(seeded) == 26  # 13 convolutions: kernel and bias
    for mine, theirs in zip(loaded, seeded, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert enc.weights_used_ == "imagenet"
    np.testing.assert_array_equal(enc.transform(faces), seeded_no_top.transform(faces))


def test_input_checks(faces, seeded):
    with pytest.raises(NotFittedError):
        VGG16Encoder(weights=None).transform(faces)
    with pytest.raises(ValueError, match="at least 32x32"):
        VGG16Encoder(weights=None).fit(np.zeros((1, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="fitted on 48x48"):
        seeded.transform(np.zeros((1, 64, 64, 3), np.uint8))


def test_pickle_and_joblib_keep_weights(faces, seeded, tmp_path):
    expected = seeded.transform(faces)
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(seeded)).transform(faces), expected
    )
    joblib.dump(seeded, tmp_path / "enc.joblib")
    np.testing.assert_array_equal(
        joblib.load(tmp_path / "enc.joblib").transform(faces), expected
    )
    # pickling does not disturb the original: it still encodes, the same
    assert seeded.model_.built
    np.testing.assert_array_equal(seeded.transform(faces), expected)
    # and a copy is a network of its own, not the original's, shared
    copy = pickle.loads(pickle.dumps(seeded))
    assert copy.model_ is not seeded.model_


def test_refitting_reuses_the_network_only_for_the_same_weights(faces, tmp_path):
    """A grid search refits the encoder per candidate: the same weights, size,
    pooling and precision share one network; anything else builds its own, and
    a weights file rewritten in place is read again."""
    X = faces[:2, :32, :32]
    first = VGG16Encoder(weights=None, random_state=0, pooling="avg").fit(X)
    again = clone(first).fit(X)
    assert again.model_ is first.model_
    np.testing.assert_array_equal(again.transform(X), first.transform(X))
    other_seed = VGG16Encoder(weights=None, random_state=1, pooling="avg").fit(X)
    assert other_seed.model_ is not first.model_
    assert not np.allclose(other_seed.transform(X), first.transform(X))
    unseeded = VGG16Encoder(weights=None, pooling="avg")
    assert unseeded.fit(X).model_ is not clone(unseeded).fit(X).model_
    path = tmp_path / "w.weights.h5"
    first.model_.save_weights(path)
    from_file = VGG16Encoder(weights=path, pooling="avg").fit(X)
    np.testing.assert_allclose(from_file.transform(X), first.transform(X), rtol=1e-5)
    other_seed.model_.save_weights(path)  # the same file, new weights
    rewritten = VGG16Encoder(weights=path, pooling="avg").fit(X)
    assert rewritten.model_ is not from_file.model_
    np.testing.assert_allclose(
        rewritten.transform(X), other_seed.transform(X), rtol=1e-5
    )
