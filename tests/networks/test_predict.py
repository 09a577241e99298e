"""Predictions in pieces: a few input shapes, the same outputs."""

from __future__ import annotations

import logging

import numpy as np

from skemotion.networks import batch_pieces, build_vgg16, predict_in_batches


def test_a_few_shapes_for_every_batch_size():
    """Every number of rows up to 100, at batches of 32, runs in batches of
    one of 6 shapes (a process that sees them all keeps 6 sets of kernels,
    not 32), every row once."""
    shapes = set()
    for n in range(1, 101):
        pieces = batch_pieces(n, 32)
        assert sum(pieces) == n and pieces == sorted(pieces, reverse=True)
        shapes.update(pieces)
    assert sorted(shapes) == [1, 2, 4, 8, 16, 32]
    assert batch_pieces(23, 32) == [16, 4, 2, 1] and batch_pieces(70, 32) == [
        32,
        32,
        4,
        2,
    ]
    assert batch_pieces(0, 32) == []


def test_pieces_leave_each_rows_output_as_it_was():
    """VGG16 (random weights, 32x32) on 1 to 19 images: each image's features
    are the network's own for it, whatever pieces its batch was cut in."""
    model = build_vgg16((32, 32, 3), pooling="avg")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(19, 32, 32, 3)).astype(np.float32)
    alone = np.concatenate([np.asarray(model(x[i : i + 1])) for i in range(19)])
    for n in (1, 3, 5, 9, 19):
        got = predict_in_batches(model, x[:n], batch_size=16)
        assert got.shape == (n, alone.shape[1])
        np.testing.assert_allclose(got, alone[:n], rtol=1e-4, atol=1e-5)


def test_a_network_no_one_holds_is_freed_after_predicting():
    """The compiled function kept for a network does not keep the network:
    once the caller lets go of it, it is gone (it used to stay for the life of
    the process, weights and kernels, one more for every network ever run)."""
    import gc
    import weakref

    model = build_vgg16((32, 32, 3), pooling="avg")
    x = np.zeros((3, 32, 32, 3), np.float32)
    first = predict_in_batches(model, x, batch_size=2)
    np.testing.assert_array_equal(predict_in_batches(model, x, batch_size=2), first)
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None


def test_many_networks_do_not_warn_of_retracing(caplog):
    """Each network gets its own compiled function: a grid search over
    encoders is not the retracing TensorFlow warns of, and no warning says so."""
    import keras

    x = np.zeros((3, 4), dtype=np.float32)
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        for seed in range(8):
            keras.utils.set_random_seed(seed)
            network = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
            assert predict_in_batches(network, x, batch_size=2).shape == (3, 2)
    said = [r.getMessage() for r in caplog.records if r.name == "tensorflow"]
    assert not [m for m in said if "retracing" in m], said
