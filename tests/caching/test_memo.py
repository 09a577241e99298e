"""The cache's in-process memo: repeated look-ups cost no read, never stale."""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
import pytest
from PIL import Image

import skemotion.caching._memo as memo_module
import skemotion.preprocessing._face_cropping as cropping_module
from skemotion import FaceCropper, FeatureCache, make_emotion_pipeline

SIZE = 48


@pytest.fixture(scope="module")
def faces(face_count_dir):
    return sorted(str(p) for p in (face_count_dir / "single_face").iterdir())


@pytest.fixture
def reads(monkeypatch):
    """Counts the image files the cropper reads to make a cache key."""
    counts = {"files": 0}
    read = cropping_module.source_content

    def counting_read(source, **kwargs):
        counts["files"] += isinstance(source, str)
        return read(source, **kwargs)

    monkeypatch.setattr(cropping_module, "source_content", counting_read)
    return counts


@pytest.fixture
def settle_fast(monkeypatch):
    """Files count as settled 0.2 s after their last change (2 s otherwise)."""
    monkeypatch.setattr(memo_module, "SETTLED_SECONDS", 0.2)
    return lambda: time.sleep(0.3)


def _bmp(source, path, size=None) -> bytes:
    """A real photo as an uncompressed BMP: same pixel size, same file size."""
    with Image.open(source) as image:
        image = image.convert("RGB")
        if size is not None:
            image = image.resize(size)
        image.save(path, format="BMP")
    return path.read_bytes()


def test_repeated_transform_is_served_from_memory(faces, reads, settle_fast, tmp_path):
    # copies of the photos: files this process has never read (the memo is
    # the process's, and another test may have looked the originals up)
    (tmp_path / "photos").mkdir()
    faces = [shutil.copy(face, tmp_path / "photos") for face in faces]
    settle_fast()
    cache = FeatureCache(tmp_path / "cache")
    cropper = FaceCropper(size=SIZE, memory=cache, progress=False)
    first = cropper.transform(faces)
    assert reads["files"] == len(faces)
    assert (cache.hits, cache.misses) == (0, len(faces))
    shutil.rmtree(tmp_path / "cache")  # what is left is in memory
    reads["files"] = 0
    again = cropper.transform(faces)
    assert reads["files"] == 0  # the files are stat-ed, not read
    assert (cache.hits, cache.misses) == (len(faces), len(faces))
    np.testing.assert_array_equal(again, first)
    # a path given as memory= makes a new handle each time: the same memo
    by_name = FaceCropper(size=SIZE, memory=str(tmp_path / "cache"), progress=False)
    np.testing.assert_array_equal(by_name.transform(faces), first)
    assert reads["files"] == 0


def test_features_are_served_from_memory(faces, tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    steps = make_emotion_pipeline(
        memory=cache, crop__size=32, crop__progress=False, encode__weights=None,
        encode__random_state=0, encode__pooling="avg", encode__progress=False,
    )[:-1]  # fmt: skip
    first = steps.fit_transform(faces)
    misses = cache.misses
    shutil.rmtree(tmp_path / "cache")
    np.testing.assert_array_equal(steps.transform(faces), first)
    assert cache.misses == misses  # crops and features: every look-up hit


def test_memo_off(faces, reads, tmp_path):
    cache = FeatureCache(tmp_path / "cache", memo_bytes=0)
    cropper = FaceCropper(size=SIZE, memory=cache, progress=False)
    cropper.transform(faces[:2])
    shutil.rmtree(tmp_path / "cache")
    cropper.transform(faces[:2])
    assert reads["files"] == 4
    assert (cache.hits, cache.misses) == (0, 4)


@pytest.mark.parametrize(
    "rewrite",
    ["same size, new mtime", "same size, mtime set back", "other size, mtime set back"],
)
def test_file_changed_in_place_gives_fresh_crops(
    rewrite, faces, reads, settle_fast, tmp_path
):
    path = tmp_path / "face.bmp"
    old_bytes = _bmp(faces[-1], path)
    settle_fast()
    cropper = FaceCropper(size=SIZE, memory=tmp_path / "cache", progress=False)
    before = cropper.transform([str(path)])
    cropper.transform([str(path)])
    assert reads["files"] == 1  # remembered: the check below is the memo's
    old = os.stat(path)
    with Image.open(faces[-1]) as image:
        size = image.size
    if rewrite.startswith("same size"):
        new_bytes = _bmp(faces[0], tmp_path / "other.bmp", size=size)
        assert len(new_bytes) == len(old_bytes)
    else:
        with Image.open(faces[0]) as image:
            image.convert("RGB").resize(size).save(tmp_path / "other.png")
        new_bytes = (tmp_path / "other.png").read_bytes()
        assert len(new_bytes) != len(old_bytes)
    with open(path, "r+b") as fh:  # in place: the same inode
        fh.write(new_bytes)
        fh.truncate()
    if "set back" in rewrite:
        os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
        assert os.stat(path).st_mtime_ns == old.st_mtime_ns
    assert os.stat(path).st_ino == old.st_ino
    after = cropper.transform([str(path)])
    expected = FaceCropper(size=SIZE, progress=False).transform([str(path)])
    np.testing.assert_array_equal(after, expected)  # never stale
    assert not np.array_equal(after, before)


def test_file_changed_just_now_is_not_remembered(faces, reads, tmp_path):
    """The racy-clean rule: a file changed within 2 s is read on every look-up."""
    path = tmp_path / "face.jpg"
    shutil.copy(faces[0], path)
    cropper = FaceCropper(size=SIZE, memory=tmp_path / "cache", progress=False)
    cropper.transform([str(path)])
    cropper.transform([str(path)])
    assert reads["files"] == 2


def test_touched_file_with_same_bytes_hits(faces, reads, settle_fast, tmp_path):
    path = tmp_path / "face.jpg"
    shutil.copy(faces[0], path)
    settle_fast()
    cache = FeatureCache(tmp_path / "cache")
    cropper = FaceCropper(size=SIZE, memory=cache, progress=False)
    before = cropper.transform([str(path)])
    os.utime(path)  # touch: a new mtime, the same bytes
    settle_fast()
    after = cropper.transform([str(path)])
    assert reads["files"] == 2  # its stat changed: read and hashed again
    assert (cache.hits, cache.misses) == (1, 1)  # the same content key
    np.testing.assert_array_equal(after, before)
    cropper.transform([str(path)])
    assert reads["files"] == 2  # and remembered again


def test_stored_and_returned_arrays_are_copies(tmp_path):
    cache = FeatureCache(tmp_path)
    key = cache.key("test", b"content", {})
    values = np.arange(6.0)
    cache.put(key, values=values)
    values[:] = -1  # the caller's array is the caller's
    got = cache.get(key)["values"]
    np.testing.assert_array_equal(got, np.arange(6.0))
    got[:] = -2
    np.testing.assert_array_equal(cache.get(key)["values"], np.arange(6.0))


def test_memo_is_bounded_by_bytes():
    memo = memo_module.Memo()
    for i in range(10):
        memo.put_arrays("a", f"k{i}", {"a": np.zeros(1_000, np.uint8)}, 3_500)
        if i >= 1:
            assert memo.get_arrays("a", "k0") is not None  # recently used: kept
    assert memo.nbytes <= 3_500 and len(memo) == 3
    assert memo.get_arrays("a", "k9") is not None
    assert memo.get_arrays("a", "k1") is None
    assert memo.get_arrays("elsewhere", "k9") is None  # each folder its own values
    memo.put_arrays("a", "big", {"a": np.zeros(4_000, np.uint8)}, 3_500)  # too big
    assert memo.get_arrays("a", "big") is None and len(memo) == 3
    memo.put_arrays("b", "k", {"a": np.zeros(1_000, np.uint8)}, 1_500)  # one bound
    assert memo.nbytes <= 1_500 and len(memo) == 1
