"""expected_calibration_error and reliability_bins: ECE of the top-1 confidence.

Every expected value is computed here independently: by arithmetic for small
examples, and by a plain loop over the bins (:func:`_loop_ece`) for random
ones.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import skemotion
from skemotion import ReliabilityBins, expected_calibration_error, reliability_bins

CLASSES = ["happy", "sad", "shocked"]


def _loop_ece(y_true, proba, classes, n_bins):
    """ECE by definition, one bin (lo, hi] at a time (0 in the first bin)."""
    proba = np.asarray(proba, dtype=float)
    confidence = proba.max(axis=1)
    predicted = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    correct = predicted == np.asarray(y_true, dtype=object)
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        inside = (confidence > lo) & (confidence <= hi)
        if b == 0:
            inside |= confidence == 0.0
        if inside.any():
            gap = abs(correct[inside].mean() - confidence[inside].mean())
            total += gap * inside.sum()
    return total / len(confidence)


def _calibrated(rng, n, k=3):
    """Probabilities whose top-1 confidence is the chance of being right."""
    confidence = rng.uniform(1.0 / k, 1.0, size=n)
    top = rng.integers(k, size=n)
    proba = np.empty((n, k))
    proba[:] = ((1.0 - confidence) / (k - 1))[:, None]
    proba[np.arange(n), top] = confidence
    right = rng.uniform(size=n) < confidence
    other = (top + rng.integers(1, k, size=n)) % k  # any class but the top one
    labels = np.where(right, top, other)
    return np.asarray(CLASSES[:k], dtype=object)[labels], proba


def test_four_images_by_hand():
    y_true = ["happy", "shocked", "shocked", "shocked"]
    proba = [
        [0.72, 0.18, 0.10],  # happy, 0.72, right: bin (0.7, 0.8]
        [0.10, 0.85, 0.05],  # sad, 0.85, wrong: bin (0.8, 0.9]
        [0.25, 0.30, 0.45],  # shocked, 0.45, right: bin (0.4, 0.5]
        [0.05, 0.13, 0.82],  # shocked, 0.82, right: bin (0.8, 0.9]
    ]
    # |1 - 0.45| * 1 + |1 - 0.72| * 1 + |0.5 - (0.85 + 0.82) / 2| * 2, over 4
    expected = (0.55 + 0.28 + 2 * 0.335) / 4
    assert expected == pytest.approx(0.375)
    ece = expected_calibration_error(y_true, proba, CLASSES, n_bins=10)
    assert ece == pytest.approx(expected)

    bins = reliability_bins(y_true, proba, CLASSES, n_bins=10)
    assert isinstance(bins, ReliabilityBins)
    assert bins.n_bins == 10 and bins.n_samples == 4
    np.testing.assert_allclose(bins.edges, np.arange(11) / 10)
    assert bins.counts.tolist() == [0, 0, 0, 0, 1, 0, 0, 1, 2, 0]
    filled = [4, 7, 8]
    np.testing.assert_allclose(bins.accuracy[filled], [1.0, 1.0, 0.5])
    np.testing.assert_allclose(bins.mean_confidence[filled], [0.45, 0.72, 0.835])
    empty = [b for b in range(10) if b not in filled]
    assert np.isnan(bins.accuracy[empty]).all()
    assert np.isnan(bins.mean_confidence[empty]).all()
    assert bins.expected_calibration_error == ece

    # one bin: |accuracy 3/4 - mean confidence 2.84/4|
    one = expected_calibration_error(y_true, proba, CLASSES, n_bins=1)
    assert one == pytest.approx(abs(0.75 - 0.71))


def test_calibrated_data_has_ece_near_zero():
    y_true, proba = _calibrated(np.random.default_rng(0), 50_000)
    ece = expected_calibration_error(y_true, proba, CLASSES)
    assert ece < 0.015
    assert ece == pytest.approx(_loop_ece(y_true, proba, CLASSES, 15), abs=1e-12)
    bins = reliability_bins(y_true, proba, CLASSES)
    filled = bins.counts > 0
    assert bins.n_samples == 50_000 and filled.sum() == 10  # confidence > 1/3
    np.testing.assert_allclose(
        bins.accuracy[filled], bins.mean_confidence[filled], atol=0.03
    )


def test_confident_and_wrong_has_ece_near_one():
    proba = np.tile([0.995, 0.005, 0.0], (20, 1))
    assert expected_calibration_error(["sad"] * 20, proba, CLASSES) == (
        pytest.approx(0.995)
    )
    one_hot = np.tile([0.0, 1.0], (5, 1))
    assert expected_calibration_error(["a"] * 5, one_hot, ["a", "b"]) == 1.0
    assert expected_calibration_error(["b"] * 5, one_hot, ["a", "b"]) == 0.0


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("n_bins", [1, 7, 15, 40])
def test_random_data_matches_the_definition(seed, n_bins):
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.full(4, 0.5), size=300)
    classes = np.array([3, 1, 4, 2])  # integer classes, not sorted
    y_true = rng.choice(classes, size=300)
    got = expected_calibration_error(y_true, proba, classes, n_bins=n_bins)
    assert got == pytest.approx(_loop_ece(y_true, proba, classes, n_bins), abs=1e-12)
    bins = reliability_bins(y_true, proba, classes, n_bins=n_bins)
    assert bins.counts.sum() == 300 and len(bins.edges) == n_bins + 1


def test_bins_are_closed_on_the_right():
    proba = [[0.5, 0.5], [1.0, 0.0], [0.75, 0.25]]
    bins = reliability_bins(["a", "a", "b"], proba, ["a", "b"], n_bins=4)
    # 0.5 in (0.25, 0.5], 0.75 in (0.5, 0.75], 1.0 in (0.75, 1]
    assert bins.counts.tolist() == [0, 1, 1, 1]
    assert bins.accuracy[1:].tolist() == [1.0, 0.0, 1.0]  # a tie goes to "a"


def test_to_dict_is_json_with_none_for_empty_bins():
    proba = [[0.9, 0.1], [0.3, 0.7]]
    bins = reliability_bins(["a", "a"], proba, ["a", "b"], n_bins=5)
    data = json.loads(json.dumps(bins.to_dict(), allow_nan=False))
    assert data["n_bins"] == 5 and data["counts"] == [0, 0, 0, 1, 1]
    assert data["accuracy"] == [None, None, None, 0.0, 1.0]
    assert data["mean_confidence"][:3] == [None] * 3
    assert data["mean_confidence"][3:] == pytest.approx([0.7, 0.9])
    assert data["edges"] == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    # (|0 - 0.7| + |1 - 0.9|) / 2
    assert data["expected_calibration_error"] == pytest.approx(0.4)


def test_float32_rows_are_accepted():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(64, 7)).astype(np.float32)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    classes = [f"c{i}" for i in range(7)]
    y_true = rng.choice(classes, size=64)
    got = expected_calibration_error(list(y_true), proba, classes)
    assert 0.0 <= got <= 1.0


@pytest.mark.parametrize(
    ("y_true", "proba", "classes", "match"),
    [
        (["a", "b"], [[0.5, 0.5]], ["a", "b"], r"shape \(1, 2\), expected \(2, 2\)"),
        (["a"], [[0.2, 0.3, 0.5]], ["a", "b"], r"one column per class"),
        (["a"], [0.5, 0.5], ["a", "b"], "must be 2-D"),
        (["a", "b"], [[0.5, 0.6], [0.1, 0.9]], ["a", "b"], "row 0 sums to 1.1"),
        (["a"], [[1.5, -0.5]], ["a", "b"], r"in \[0, 1\]"),
        (["a"], [[np.nan, 0.5]], ["a", "b"], "not finite"),
        (["a", "c"], [[0.5, 0.5]] * 2, ["a", "b"], "not in classes.*'c'"),
        ([], np.empty((0, 2)), ["a", "b"], "empty"),
        (["a"], [[0.5, 0.5]], ["a", "a"], "distinct"),
        (["a"], [[1.0]], [], "non-empty"),
        ("ab", [[0.5, 0.5]] * 2, ["a", "b"], "not one string"),
        ([["a"]], [[0.5, 0.5]], ["a", "b"], "1-D"),
        (["a"], [["x", "y"]], ["a", "b"], "array of numbers"),
    ],
)
def test_bad_inputs(y_true, proba, classes, match):
    with pytest.raises(ValueError, match=match):
        expected_calibration_error(y_true, proba, classes)


@pytest.mark.parametrize("n_bins", [0, -3, 2.5, True, "15"])
def test_bad_n_bins(n_bins):
    with pytest.raises(ValueError, match="n_bins must be a positive integer"):
        reliability_bins(["a"], [[1.0, 0.0]], ["a", "b"], n_bins=n_bins)


def test_exported_at_the_top():
    from skemotion import inspection

    for name in ("ReliabilityBins", "expected_calibration_error", "reliability_bins"):
        assert name in skemotion.__all__ and name in inspection.__all__
        assert getattr(skemotion, name) is getattr(inspection, name)
