"""precision="auto" | "float32" | "bfloat16": the same answers, faster where
the hardware has bfloat16, and Keras' global dtype policy left alone."""

from __future__ import annotations

import joblib
import numpy as np
import pytest

import skemotion.networks._precision as precision_module
from skemotion import (
    EmotionClassifier,
    FaceCropper,
    FeatureCache,
    GrayscaleConverter,
    VGG16Encoder,
    VGG16FineTuner,
    load_image_folder,
    load_model,
    make_emotion_pipeline,
    save_model,
)


@pytest.fixture(scope="module")
def seed_sample(seed_dir):
    paths, labels = load_image_folder(
        seed_dir / "train", strip_suffix="_face", on_unreadable="keep"
    )
    keep = np.concatenate(
        [np.flatnonzero(labels == c)[:4] for c in ("happy", "sad", "angry")]
    )
    return paths[keep], labels[keep]


@pytest.fixture(scope="module")
def faces(seed_sample):
    """12 real faces from the seed photos (HOG crops, 48x48, gray)."""
    crops = FaceCropper(size=48, progress=False).transform(seed_sample[0])
    return GrayscaleConverter().fit_transform(crops)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.parametrize("pooling", ["flatten", "avg"])
def test_bfloat16_features_agree_with_float32(faces, pooling):
    """The tolerance: bfloat16 keeps 8 significant bits, a relative rounding
    of at most 2**-9 (0.2%) per value; through VGG16's 13 convolutions the
    roundings partly cancel. A feature vector within 0.1% of float32's
    direction (cosine >= 0.999) and 3% of its length ranks and classifies
    the same; measured here: cosine 0.99998, length within 0.5%."""
    common = dict(weights=None, random_state=0, pooling=pooling)
    f32 = VGG16Encoder(precision="float32", **common).fit_transform(faces)
    bf16 = VGG16Encoder(precision="bfloat16", **common).fit_transform(faces)
    assert f32.dtype == bf16.dtype == np.float32
    assert not np.array_equal(f32, bf16)  # it really computed in bfloat16
    assert _cosine(f32, bf16).min() >= 0.999
    ratio = np.linalg.norm(bf16, axis=1) / np.linalg.norm(f32, axis=1)
    np.testing.assert_allclose(ratio, 1.0, atol=0.03)


@pytest.fixture
def hardware(monkeypatch):
    """Simulate what the machine's CPU flags and GPU say about bfloat16."""

    def simulate(cpu_flags, gpu=None):
        monkeypatch.setattr(precision_module, "_cpu_flags", lambda: set(cpu_flags))
        monkeypatch.setattr(precision_module, "_gpu_bfloat16", lambda: gpu)
        precision_module.bfloat16_support.cache_clear()

    yield simulate
    precision_module.bfloat16_support.cache_clear()


@pytest.mark.parametrize(
    ("cpu_flags", "gpu", "expected"),
    [
        ({"sse4_2", "avx2", "avx512f"}, None, "float32"),  # no bfloat16 units
        (set(), None, "float32"),  # flags unreadable (not Linux or macOS)
        ({"avx2", "avx512_bf16"}, None, "bfloat16"),  # AMD Zen 4, Cooper Lake
        ({"avx512f", "amx_bf16", "amx_tile"}, None, "bfloat16"),  # Sapphire Rapids
        # a GPU decides when TensorFlow sees one, whatever the CPU has
        ({"avx512_bf16"}, (False, "Tesla T4 (compute capability 7.5)"), "float32"),
        ({"avx2"}, (True, "NVIDIA A100 (compute capability 8.0)"), "bfloat16"),
    ],
)
def test_auto_precision_follows_the_hardware(hardware, faces, cpu_flags, gpu, expected):
    hardware(cpu_flags, gpu)
    encoder = VGG16Encoder(weights=None, random_state=0, pooling="avg").fit(faces[:2])
    assert encoder.precision_ == expected
    # the network really computes in it, and still answers in float32
    assert encoder.model_.get_layer("block3_conv2").compute_dtype == expected
    assert encoder.transform(faces[:2]).dtype == np.float32
    # an explicit choice is taken whatever the hardware says
    forced = VGG16Encoder(weights=None, random_state=0, pooling="avg",
                          precision="float32").fit(faces[:2])  # fmt: skip
    assert forced.precision_ == "float32"


def test_auto_precision_of_every_network(hardware, faces, seed_sample):
    hardware({"avx2"})  # no bfloat16: every network falls back to float32
    _, labels = seed_sample
    features = faces.reshape(len(faces), -1)[:, :64].astype(np.float32)
    tuner = VGG16FineTuner(weights=None, trainable_blocks=1, epochs=1,
                           hidden_layer_sizes=(8,), validation_split=0,
                           random_state=0, progress=False)  # fmt: skip
    tuner.fit(faces, labels)
    clf = EmotionClassifier(hidden_layer_sizes=(8,), epochs=1, random_state=0,
                            progress=False).fit(features, labels)  # fmt: skip
    assert tuner.precision_ == clf.precision_ == "float32"
    hardware({"avx512_bf16"})
    clf = EmotionClassifier(hidden_layer_sizes=(8,), epochs=1, random_state=0,
                            progress=False).fit(features, labels)  # fmt: skip
    assert clf.precision_ == "bfloat16"
    assert clf.model_.get_layer("dense_0").compute_dtype == "bfloat16"
    assert clf.predict_proba(features[:3]).dtype == np.float32


def test_global_dtype_policy_is_untouched(seed_sample, faces, tmp_path):
    """A user's own global policy survives fit/transform/predict, and neither
    changes skemotion's networks nor is changed by them."""
    import keras

    paths, labels = seed_sample
    before = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy("mixed_float16")  # the user's choice
        pipe = make_emotion_pipeline(
            crop__size=32, crop__progress=False, encode__weights=None,
            encode__random_state=0, encode__pooling="avg", encode__progress=False,
            encode__precision="bfloat16", classify__epochs=1,
            classify__random_state=0, classify__progress=False,
            classify__precision="float32",
        )  # fmt: skip
        pipe.fit(paths, labels)
        proba = pipe.predict_proba(paths[:2])
        pipe[:-1].transform(paths[:2])
        tuner = VGG16FineTuner(weights=None, trainable_blocks=1, epochs=1,
                               precision="float32", hidden_layer_sizes=(8,),
                               validation_split=0, random_state=0,
                               progress=False).fit(faces, labels)  # fmt: skip
        tuner.predict(faces[:2])
        assert keras.config.dtype_policy().name == "mixed_float16"
        assert keras.layers.Dense(2).dtype_policy.name == "mixed_float16"
        encoder = pipe.named_steps["encode"]
        assert encoder.model_.get_layer("block1_conv1").compute_dtype == "bfloat16"
        assert pipe.named_steps["classify"].model_.get_layer(
            "dense_0"
        ).compute_dtype == ("float32")
        assert tuner.model_.get_layer("trained").get_layer(
            "block5_conv1"
        ).compute_dtype == ("float32")
        assert proba.dtype == np.float32
    finally:
        keras.config.set_dtype_policy(before)
    assert keras.config.dtype_policy().name == before.name


@pytest.mark.slow
def test_persistence_keeps_the_precision(seed_sample, tmp_path):
    paths, labels = seed_sample
    pipe = make_emotion_pipeline(
        crop__size=32, crop__progress=False, encode__weights=None,
        encode__random_state=0, encode__pooling="avg", encode__progress=False,
        encode__precision="bfloat16", classify__epochs=1, classify__random_state=0,
        classify__progress=False, classify__precision="bfloat16",
    ).fit(paths, labels)  # fmt: skip
    expected = pipe.predict_proba(paths[:4])
    reloaded = load_model(save_model(pipe, tmp_path / "bf16.joblib"))
    encoder = reloaded.named_steps["encode"]
    assert encoder.precision_ == "bfloat16"
    assert encoder.model_.get_layer("block2_conv1").compute_dtype == "bfloat16"
    assert reloaded.named_steps["classify"].precision_ == "bfloat16"
    np.testing.assert_array_equal(reloaded.predict_proba(paths[:4]), expected)
    # the fine-tuner too
    tuner = VGG16FineTuner(weights=None, trainable_blocks=1, epochs=1,
                           precision="bfloat16", hidden_layer_sizes=(8,),
                           validation_split=0, random_state=0,
                           progress=False)  # fmt: skip
    X = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    tuner.fit(X, ["a", "b"] * 3)
    joblib.dump(tuner, tmp_path / "tuner.joblib")
    again = joblib.load(tmp_path / "tuner.joblib")
    assert again.precision_ == "bfloat16"
    np.testing.assert_array_equal(again.predict_proba(X), tuner.predict_proba(X))


def test_precision_is_part_of_the_cache_key(faces, tmp_path):
    """float32 features are never served for bfloat16 and the other way round."""
    cache = FeatureCache(tmp_path / "cache")
    common = dict(weights=None, random_state=0, pooling="avg", memory=cache)
    f32 = VGG16Encoder(precision="float32", **common).fit_transform(faces)
    bf16 = VGG16Encoder(precision="bfloat16", **common).fit_transform(faces)
    n_unique = len({face.tobytes() for face in faces})  # the seed data repeats some
    assert len(list((tmp_path / "cache" / "vgg16").rglob("*.npz"))) == 2 * n_unique
    assert not np.array_equal(f32, bf16)
    warm = VGG16Encoder(precision="bfloat16", **common).fit_transform(faces)
    np.testing.assert_array_equal(warm, bf16)
