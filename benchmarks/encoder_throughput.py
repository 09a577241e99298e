"""Encoder throughput: float32 vs bfloat16, skemotion vs bare Keras vs the post's loop.

For each input size, in a fresh process (so peak memory is per size), the same
batch of real gray face crops from the seed data set is encoded by

* ``VGG16Encoder.transform`` (``batch_size=32``) in float32 and in bfloat16,
* a bare ``keras.applications.VGG16`` + ``Flatten`` with the same weights,
  ``model.predict(x, batch_size=32)``, in float32 and under Keras'
  ``mixed_bfloat16`` policy,
* the original post's loop: ``model.predict`` once per image (float32).

Contenders alternate within each of 3 rounds and each keeps its fastest
round. The machine's matrix-multiply peak (a 2048x2048 ``tf.matmul``,
float32 and bfloat16) is measured in the same process, and each encoder's
arithmetic rate (VGG16's multiply-adds per image x images/s) is shown as a
fraction of it: how much of what the hardware can do the encoder uses.

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/encoder_throughput.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
from _common import machine, peak_rss_mib, shared_data

N_IMAGES = {48: 256, 112: 64, 224: 32}
N_LOOP = {48: 64, 112: 24, 224: 8}
REPEATS = 3
VGG16_CONVS = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256),
               (256, 256), (256, 512), (512, 512), (512, 512), (512, 512),
               (512, 512), (512, 512)]  # fmt: skip
POOL_AFTER = {1, 3, 6, 9, 12}  # conv indices followed by a 2x2 pooling


def vgg16_gflop(size: int) -> float:
    """VGG16's convolutions at ``size`` x ``size``: 2 x multiply-adds, in GFLOP."""
    side, flop = size, 0
    for i, (c_in, c_out) in enumerate(VGG16_CONVS):
        flop += 2 * side * side * 9 * c_in * c_out
        if i in POOL_AFTER:
            side //= 2
    return flop / 1e9


def matmul_peak_gflops(dtype: str, n: int = 2048, repeats: int = 10) -> float:
    """Best observed ``tf.matmul`` rate of two n x n matrices, in GFLOP/s."""
    import tensorflow as tf

    a = tf.cast(tf.random.stateless_normal((n, n), seed=(1, 2)), dtype)
    b = tf.cast(tf.random.stateless_normal((n, n), seed=(3, 4)), dtype)
    step = tf.function(lambda x, y: tf.matmul(x, y))
    step(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        step(a, b).numpy()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def _bare_keras(size: int, policy: str, weights):
    import keras

    keras.mixed_precision.set_global_policy(policy)  # a benchmark process only
    try:
        base = keras.applications.VGG16(include_top=False, weights=None,
                                        input_shape=(size, size, 3))  # fmt: skip
        model = keras.Model(base.input, keras.layers.Flatten()(base.output))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.set_weights(weights)
    return model


def _measure(size: int) -> dict:
    from skemotion import (
        FaceCropper,
        GrayscaleConverter,
        VGG16Encoder,
        load_image_folder,
        preprocess_images,
    )

    paths, _ = load_image_folder(shared_data() / "seed" / "train", on_unreadable="keep")
    n = N_IMAGES[size]
    crops = FaceCropper(size=size, progress=False).transform(paths[:n])
    images = GrayscaleConverter().fit_transform(crops)
    enc = {
        p: VGG16Encoder(weights=None, random_state=0, progress=False, precision=p)
        for p in ("float32", "bfloat16")
    }
    for encoder in enc.values():
        encoder.fit(images)
    weights = enc["float32"].model_.get_weights()
    bare = {
        "float32": _bare_keras(size, "float32", weights),
        "bfloat16": _bare_keras(size, "mixed_bfloat16", weights),
    }
    x = preprocess_images(images)

    # warm up every path once (graph tracing, oneDNN kernels)
    for p in ("float32", "bfloat16"):
        enc[p].transform(images[:32])
        bare[p].predict(x[:32], batch_size=32, verbose=0)
    bare["float32"].predict(x[:1], verbose=0)

    best = dict.fromkeys(["ours_f32", "ours_bf16", "bare_f32", "bare_bf16"], np.inf)
    out = {}
    for _ in range(REPEATS):
        for key, run in (
            ("ours_f32", lambda: enc["float32"].transform(images)),
            ("ours_bf16", lambda: enc["bfloat16"].transform(images)),
            ("bare_f32", lambda: bare["float32"].predict(x, batch_size=32, verbose=0)),
            (
                "bare_bf16",
                lambda: bare["bfloat16"].predict(x, batch_size=32, verbose=0),
            ),
        ):
            t = time.perf_counter()
            out[key] = np.asarray(run(), dtype=np.float32)
            best[key] = min(best[key], time.perf_counter() - t)
    m = N_LOOP[size]
    t = time.perf_counter()
    for i in range(m):  # the post: one predict call per image
        bare["float32"].predict(x[i : i + 1], verbose=0)
    t_loop = time.perf_counter() - t
    assert np.allclose(out["ours_f32"], out["bare_f32"], rtol=1e-3, atol=1e-3)
    a, b = out["ours_f32"], out["ours_bf16"]
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return {
        "size": size, "n": n,
        **{f"{k}_ips": n / v for k, v in best.items()},
        "per_image_loop_ips": m / t_loop,
        "min_cosine_bf16_f32": float(cosine.min()),
        "peak_f32_gflops": matmul_peak_gflops("float32"),
        "peak_bf16_gflops": matmul_peak_gflops("bfloat16"),
        "peak_rss_mib": peak_rss_mib(),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[48, 112, 224])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_measure(args.one)))
        return
    from skemotion.networks import bfloat16_support

    print(f"Machine: {machine()}; bfloat16: {bfloat16_support()[1]}")
    print("weights: random (seed 0); flatten pooling; batch 32; gray face crops\n")
    rows = []
    for size in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(size)],
                             capture_output=True, text=True, check=True)  # fmt: skip
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(
        "| input | images | skemotion float32 | skemotion bfloat16 | bf16 / f32 | "
        "bare Keras f32 | bare Keras bf16 | ours / bare (f32, bf16) | per-image "
        "loop | bf16 vs loop | cosine bf16-f32 (min) | peak RSS |"
    )
    print("|---" * 12 + "|")
    for r in rows:
        s = r["size"]
        print(
            f"| {s}x{s} | {r['n']} | {r['ours_f32_ips']:.1f}/s | "
            f"{r['ours_bf16_ips']:.1f}/s | "
            f"**{r['ours_bf16_ips'] / r['ours_f32_ips']:.2f}x** | "
            f"{r['bare_f32_ips']:.1f}/s | {r['bare_bf16_ips']:.1f}/s | "
            f"{r['ours_f32_ips'] / r['bare_f32_ips']:.2f}, "
            f"{r['ours_bf16_ips'] / r['bare_bf16_ips']:.2f} | "
            f"{r['per_image_loop_ips']:.1f}/s | "
            f"{r['ours_bf16_ips'] / r['per_image_loop_ips']:.1f}x | "
            f"{r['min_cosine_bf16_f32']:.5f} | {r['peak_rss_mib']:.0f} MiB |"
        )
    print("\nArithmetic rate against the machine's measured matrix-multiply peak "
          "(2048x2048 tf.matmul, best of 10):\n")  # fmt: skip
    print("| input | GFLOP per image | float32: GFLOP/s, of peak | "
          "bfloat16: GFLOP/s, of peak | matmul peak f32 / bf16 |")  # fmt: skip
    print("|---" * 5 + "|")
    for r in rows:
        s, g = r["size"], vgg16_gflop(r["size"])
        f32, bf16 = g * r["ours_f32_ips"], g * r["ours_bf16_ips"]
        print(
            f"| {s}x{s} | {g:.2f} | {f32:.0f}, {f32 / r['peak_f32_gflops']:.0%} | "
            f"{bf16:.0f}, {bf16 / r['peak_bf16_gflops']:.0%} | "
            f"{r['peak_f32_gflops']:.0f} / {r['peak_bf16_gflops']:.0f} GFLOP/s |"
        )


if __name__ == "__main__":
    main()
