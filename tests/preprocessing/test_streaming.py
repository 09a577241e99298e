"""Parallel cropping (``FaceCropper(n_jobs=...)``) and the streaming pipeline."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import InvalidParameterError

from skemotion import (
    BadImagesError,
    EmotionPipeline,
    FaceCropper,
    FeatureCache,
    VGG16Encoder,
    load_image_folder,
    make_emotion_pipeline,
)

# float32: bfloat16 kernels round differently for different batch sizes (the
# features of one image move in the third significant digit), and these tests
# compare chunked with unchunked encoding exactly
PARAMS = dict(
    crop__size=48,
    # the plumbing, not the detector, is under test: HOG looks for faces at
    # 400 px, not the default 800: a third of the cost
    crop__max_detection_side=400,
    encode__weights=None,
    encode__random_state=0,
    encode__pooling="avg",
    encode__precision="float32",
    classify__hidden_layer_sizes=(16,),
    classify__epochs=2,
    classify__random_state=0,
    classify__precision="float32",
)


@pytest.fixture(scope="module")
def sample(seed_dir):
    """Three training images of each of the six classes of the post's data."""
    paths, labels = load_image_folder(
        seed_dir / "train", strip_suffix="_face", on_unreadable="keep"
    )
    keep = np.concatenate([np.flatnonzero(labels == c)[:3] for c in np.unique(labels)])
    return paths[keep], labels[keep]


@pytest.fixture(scope="module")
def faces(face_count_dir):
    """Photos with one, several and no face, and a path that does not exist."""
    found = sorted(
        str(p)
        for sub in ("single_face", "multi_face", "no_face")
        for p in (face_count_dir / sub).iterdir()
        if p.suffix in {".jpg", ".png"}
    )
    return [*found[:4], str(face_count_dir / "missing.jpg"), *found[4:]]


@pytest.fixture
def encode_calls(monkeypatch):
    """Record the number of images of every encoder call."""
    calls: list[int] = []
    original = VGG16Encoder.encode

    def spy(self, X, *, progress):
        calls.append(len(X))
        return original(self, X, progress=progress)

    monkeypatch.setattr(VGG16Encoder, "encode", spy)
    return calls


@pytest.mark.slow
def test_parallel_cropping_matches_serial(faces, caplog):
    with caplog.at_level(logging.INFO, logger="skemotion.preprocessing._face_cropping"):
        serial = list(FaceCropper(size=40).crop_each(faces))
        parallel = list(FaceCropper(size=40, n_jobs=2).crop_each(faces))
    assert [item.name for item in parallel] == faces  # input order kept
    for one, other in zip(serial, parallel, strict=True):
        assert other.face_found == one.face_found
        if one.error is None:
            assert other.error is None
            np.testing.assert_array_equal(other.boxes, one.boxes)
            np.testing.assert_array_equal(other.crops, one.crops)
        else:
            assert type(other.error) is type(one.error)
            assert str(other.error) == str(one.error)
    assert sum(item.error is not None for item in parallel) == 1
    # the workers' no-face / several-face counts reach the main process's log
    summaries = [r.getMessage() for r in caplog.records if "Cropped" in r.getMessage()]
    assert len(summaries) == 2 and summaries[0] == summaries[1]
    assert "no face found in 0 " not in summaries[1]
    assert "several faces in 0 " not in summaries[1]
    with pytest.raises(BadImagesError, match=r"missing\.jpg: file does not exist"):
        FaceCropper(size=40, n_jobs=2).transform(faces)


@pytest.mark.parametrize("n_jobs", [1, 2], ids=["serial", "parallel"])
def test_cropping_fills_the_cache_and_counts_each_look_up_once(faces, tmp_path, n_jobs):
    """Regression: the serial path used to count every look-up twice."""
    good = [p for p in faces if "missing" not in p]
    cache = FeatureCache(tmp_path / "cache")
    look = dict(size=40, max_detection_side=400)  # the cache is under test
    cropper = FaceCropper(**look, n_jobs=n_jobs, memory=cache)
    state = dict(vars(cache))
    first = cropper.transform(good)
    assert (cache.hits, cache.misses) == (0, len(good))
    second = cropper.transform(good)
    assert (cache.hits, cache.misses) == (len(good), len(good))
    assert vars(cache) == state  # a cache given as a parameter is not changed
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, FaceCropper(**look).transform(good))


@pytest.mark.slow
def test_streaming_pipeline_matches_plain_pipeline(sample, encode_calls):
    paths, labels = sample
    streamed = make_emotion_pipeline(chunk_size=5, **PARAMS).fit(paths, labels)
    # the encoder never sees more than one chunk of images at a time
    assert max(encode_calls) == 5 and sum(encode_calls) == len(paths)
    encode_calls.clear()
    plain = Pipeline(make_emotion_pipeline(**PARAMS).steps).fit(paths, labels)
    assert encode_calls == [len(paths)]  # a plain Pipeline encodes all at once
    np.testing.assert_allclose(
        streamed.predict_proba(paths), plain.predict_proba(paths), atol=1e-4
    )
    assert list(streamed.predict(paths)) == list(plain.predict(paths))
    assert streamed.score(paths, labels) == plain.score(paths, labels)
    # methods the classifier lacks stay missing, as in a plain Pipeline
    assert hasattr(plain, "predict_log_proba") is hasattr(streamed, "predict_log_proba")


@pytest.mark.slow
def test_parallel_streaming_pipeline_gives_the_same_model(sample):
    paths, labels = sample
    one = make_emotion_pipeline(chunk_size=4, **PARAMS).fit(paths, labels)
    two = make_emotion_pipeline(chunk_size=4, crop__n_jobs=2, **PARAMS)
    two.fit(paths, labels)
    np.testing.assert_allclose(
        two.predict_proba(paths), one.predict_proba(paths), atol=1e-5
    )


def test_streaming_lists_every_bad_file_and_stops_encoding(
    sample, tmp_path, encode_calls, caplog
):
    paths, labels = sample
    fitted = make_emotion_pipeline(chunk_size=2, **PARAMS).fit(paths, labels)
    encode_calls.clear()
    # JPEGs cut in half: their headers are fine, their pixel data is not
    cut = []
    for i, source in enumerate([paths[0], paths[1]]):
        data = open(source, "rb").read()
        cut.append(tmp_path / f"cut{i}.jpg")
        cut[-1].write_bytes(data[: len(data) // 2])
    batch = [*paths[:4], str(cut[0]), *paths[4:8], str(cut[1])]
    with caplog.at_level(logging.WARNING), pytest.raises(BadImagesError) as info:
        fitted.predict(batch)
    assert info.value.n_total == len(batch)
    assert [e.path for e in info.value.errors] == [str(cut[0]), str(cut[1])]
    assert encode_calls == [2, 2]  # the two chunks before the first bad file only
    assert "encoding stops" in caplog.text


def test_other_steps_make_it_a_plain_pipeline(sample, monkeypatch):
    paths, labels = sample
    pipe = make_emotion_pipeline(**PARAMS)
    pipe.steps.insert(3, ("pca", PCA(n_components=4)))

    def no_streaming(*args, **kwargs):
        raise AssertionError("streamed through a step it cannot stream")

    monkeypatch.setattr(EmotionPipeline, "_stream", no_streaming)
    pipe.fit(paths, labels)
    assert pipe.predict_proba(paths[:3]).shape == (3, 6)
    assert pipe.named_steps["pca"].n_components_ == 4


def test_chunk_size_is_a_parameter():
    pipe = make_emotion_pipeline(chunk_size=64, crop__n_jobs=2)
    assert pipe.get_params()["chunk_size"] == 64
    assert pipe.get_params()["crop__n_jobs"] == 2
    copy = clone(pipe)
    assert isinstance(copy, EmotionPipeline) and copy.chunk_size == 64
    with pytest.raises(InvalidParameterError, match="chunk_size"):
        make_emotion_pipeline(chunk_size=0).fit(["a.jpg"], ["happy"])
    with pytest.raises(InvalidParameterError, match="n_jobs"):
        FaceCropper(n_jobs="all").transform(["a.jpg"])


def test_feature_steps_stream_as_a_transformer(sample, encode_calls):
    paths, _ = sample
    pipe = make_emotion_pipeline(chunk_size=4, **PARAMS)
    features = pipe[:-1]
    assert isinstance(features, EmotionPipeline) and features.chunk_size == 4
    streamed = features.fit_transform(paths)
    assert max(encode_calls) == 4 and sum(encode_calls) == len(paths)
    np.testing.assert_allclose(features.transform(paths), streamed, atol=1e-5)
    plain = Pipeline(make_emotion_pipeline(**PARAMS).steps[:-1]).fit_transform(paths)
    assert streamed.shape == plain.shape == (len(paths), 512)
    # the same numbers up to float32 round-off of different batch sizes
    np.testing.assert_allclose(streamed, plain, rtol=1e-3, atol=1e-3)


def test_bad_headers_stop_encoding_before_it_starts(sample, tmp_path, encode_calls):
    paths, labels = sample
    fitted = make_emotion_pipeline(chunk_size=2, **PARAMS).fit(paths, labels)
    encode_calls.clear()
    html = tmp_path / "page.jpg"
    html.write_text("<!DOCTYPE html><html><body>not a photo</body></html>")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(open(paths[0], "rb").read()[:2000])
    batch = [*paths[:8], str(truncated), *paths[8:12], str(html)]
    with pytest.raises(BadImagesError) as info:
        fitted.predict(batch)
    # the HTML page, last in the batch, is found from its header: nothing was
    # encoded; the truncated JPEG, found only when decoded, is listed too
    assert encode_calls == []
    assert [e.path for e in info.value.errors] == [str(truncated), str(html)]
    assert "HTML" in str(info.value)
