"""Predictions in padded batches: a few input shapes, the same outputs."""

from __future__ import annotations

import numpy as np

from skemotion.networks import build_vgg16, padded_rows, predict_in_batches


def test_a_few_shapes_for_every_batch_size():
    """Every batch size up to 32 runs as one of 7 shapes (a process that sees
    them all keeps 7 sets of kernels, not 32), with at most 7 padding rows
    and none for a single image."""
    sizes = [padded_rows(n) for n in range(1, 65)]
    assert all(0 <= s - n < 8 for n, s in enumerate(sizes, start=1))
    assert sorted(set(sizes[:32])) == [1, 2, 4, 8, 16, 24, 32]
    assert padded_rows(1) == 1 and padded_rows(3) == 4 and padded_rows(9) == 16


def test_padding_leaves_each_rows_output_as_it_was():
    """VGG16 (random weights, 32x32) on 1 to 19 images: each image's features
    are the network's own for it, whatever padding its batch got."""
    model = build_vgg16((32, 32, 3), pooling="avg")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(19, 32, 32, 3)).astype(np.float32)
    alone = np.concatenate([np.asarray(model(x[i : i + 1])) for i in range(19)])
    for n in (1, 3, 5, 9, 19):
        got = predict_in_batches(model, x[:n], batch_size=16)
        assert got.shape == (n, alone.shape[1])
        np.testing.assert_allclose(got, alone[:n], rtol=1e-4, atol=1e-5)
