"""Build the ready model shipped in ``skemotion/packaged/files/``.

Usage (from the project root; the weights file comes from stage 1)::

    # stage 1: the face encoder, about 2 hours on 2 cores (resumable)
    skemotion finetune ../shared/data/fer2013 --size 48 --detector none \\
        --weights none \\
        --trainable-blocks 5 --epochs 16 --random-state 0 \\
        -p finetune__validation_split=0.05 -p finetune__patience=None \\
        --checkpoint-dir ~/skemotion_runs/fer2013_encoder/ckpt \\
        -o ~/skemotion_runs/fer2013_encoder/fer2013.weights.h5
    # stage 2: compact encoder, the head, its temperature, the records
    python tools/build_pretrained.py \\
        ~/skemotion_runs/fer2013_encoder/fer2013.weights.h5 \\
        --data ../shared/data/fer2013

Stage 2 stores the encoder's convolution kernels as per-channel int8 (biases
float32), measures how the expanded features agree with the full-precision
file (and with float16 storage, for comparison) on a fixed sample of training
images, encodes FER2013 train with the packaged encoder, trains the dense head
with a stratified 5% hold-out (early stopping and the temperature), and writes
``fer2013-vgg16.{npz,json}`` and ``fer2013-head.{npz,json}``. Only FER2013's
training folder is read: the test folder is for ``benchmarks/accuracy.py``.

Stage 3 compiles the ready model, as packaged (no retraining), into one LiteRT
file with dynamic-range int8 weights, ``fer2013.tflite`` and its record
``fer2013-litert.json``, for the engine that predicts without TensorFlow; with
``--data`` it measures how its probabilities agree with TensorFlow's float32
on a fixed sample of training images::

    python tools/build_pretrained.py --only litert --data ../shared/data/fer2013
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "skemotion" / "packaged" / "files"
ENCODER, HEAD = "fer2013-vgg16", "fer2013-head"
#: The compiled ready model: its record's name and its file.
COMPILED, COMPILED_FILE = "fer2013-litert", "fer2013.tflite"
#: Training images whose features are compared across storages.
N_AGREEMENT = 1000


def _arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("weights", type=Path, nargs="?",
                        help="stage 1's .weights.h5 file")  # fmt: skip
    parser.add_argument("--data", type=Path, help="FER2013 folder")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--storage", default="int8-per-channel",
                        choices=("int8-per-channel", "float16", "float32"))  # fmt: skip
    parser.add_argument("--detector", default="hog")
    parser.add_argument("--margin", type=float, default=0.2)
    parser.add_argument("--align", action="store_true")
    parser.add_argument("--head-epochs", type=int, default=40)
    parser.add_argument("--tta", choices=("flip", "crops", "crops+flip"),
                        help="the test-time augmentation the ready model "
                        "predicts with by default (benchmarks/tta.py measures "
                        "which pays); without it, none")  # fmt: skip
    parser.add_argument("--encoder-command",
                        help="the command that made the weights file (stage "
                        "1), for the records; default: the first "
                        "generation's, from random weights")  # fmt: skip
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--only", choices=("encoder", "head", "crop", "litert"),
                        help="one stage: the encoder's files, the head's (on "
                        "the encoder already written), only the crop "
                        "settings in the head's record, or the compiled "
                        "model (from the packaged files)")  # fmt: skip
    return parser.parse_args(argv)


def _file_encoder(weights: Path):
    """A float32 encoder on the stage-1 file (the reference)."""
    from skemotion.feature_extraction import VGG16Encoder

    encoder = VGG16Encoder(weights=weights, precision="float32", progress=False)
    return encoder.fit(np.zeros((1, 48, 48, 3), np.uint8))


def _conv_arrays(encoder) -> dict[str, np.ndarray]:
    """The encoder's convolution kernels and biases by layer name."""
    arrays = {}
    for layer in encoder.model_.layers:
        if layer.name.startswith("block") and layer.weights:
            kernel, bias = layer.get_weights()
            arrays[f"{layer.name}/kernel"], arrays[f"{layer.name}/bias"] = kernel, bias
    return arrays


def _set_conv_arrays(encoder, arrays: dict[str, np.ndarray]) -> None:
    """Put :func:`_conv_arrays`-shaped weights back into the encoder."""
    for key in arrays:
        if key.endswith("/kernel"):
            layer = key.split("/")[0]
            encoder.model_.get_layer(layer).set_weights(
                [arrays[key], arrays[f"{layer}/bias"]]
            )


def _write_encoder(args, arrays, folder: Path, storage: str, extra=None) -> dict:
    from skemotion.feature_extraction import read_weights_info
    from skemotion.packaged import write_packaged

    record = {
        "kind": "VGG16 without its top (convolutions only)",
        "weights_info": read_weights_info(args.weights).to_dict(),
        "source_file_sha256": _sha256(args.weights),
        "created": _now(),
        **(extra or {}),
    }
    kernels = tuple(k for k in arrays if k.endswith("/kernel"))
    write_packaged(ENCODER, arrays, record, folder, storage=storage, quantize=kernels)
    return record


def _crops(paths) -> np.ndarray:
    """FER2013 images as the encoder sees them (48x48, gray, 3 channels)."""
    from skemotion import make_emotion_pipeline

    pipe = make_emotion_pipeline(crop__detector="none", crop__size=48)
    return pipe[:2].fit(paths[:1]).transform(paths)


def _agreement(args, reference, sample) -> dict:
    """Cosine similarity of each storage's features to the full-precision file's."""
    crops = _crops(sample)
    full = reference.transform(crops)
    arrays = _conv_arrays(reference)
    result = {"images": len(sample), "reference": "the stage-1 file, float32"}
    for storage in ("int8-per-channel", "float16"):
        with tempfile.TemporaryDirectory() as tmp:
            _write_encoder(args, arrays, Path(tmp), storage)
            packed = _load(ENCODER, tmp).arrays
            size = (Path(tmp) / f"{ENCODER}.npz").stat().st_size
        _set_conv_arrays(reference, packed)
        got = reference.transform(crops)
        cos = np.sum(full * got, 1) / (
            np.linalg.norm(full, axis=1) * np.linalg.norm(got, axis=1) + 1e-12
        )
        rel = np.linalg.norm(full - got, axis=1) / (
            np.linalg.norm(full, axis=1) + 1e-12
        )
        result[storage] = {
            "bytes": int(size), "cosine_min": float(cos.min()),
            "cosine_mean": float(cos.mean()), "relative_error_mean": float(rel.mean()),
        }  # fmt: skip
        print(f"  {storage}: {size / 2**20:.1f} MiB, cosine min {cos.min():.5f} "
              f"mean {cos.mean():.6f}, relative error {rel.mean():.4f}")  # fmt: skip
    _set_conv_arrays(reference, arrays)  # the reference back to full precision
    return result


def _features(paths) -> np.ndarray:
    """Features of FER2013 crops from the packaged encoder, float32."""
    from skemotion import make_emotion_pipeline

    pipe = make_emotion_pipeline(
        crop__detector="none", crop__size=48, encode__weights="fer2013",
        encode__precision="float32", crop__n_jobs=2, encode__progress=False,
    )  # fmt: skip
    return pipe[:-1].fit(paths[:1]).transform(paths)


def _train_head(args, paths, labels):
    from skemotion.classification import EmotionClassifier

    start = time.perf_counter()
    features = _features(paths)
    encode_s = time.perf_counter() - start
    head = EmotionClassifier(
        epochs=args.head_epochs, patience=4, validation_split=0.05,
        calibration="temperature", random_state=args.random_state, progress=False,
    )  # fmt: skip
    start = time.perf_counter()
    head.fit(features, labels)
    print(f"  encoded {len(paths)} images in {encode_s:.0f} s, head trained in "
          f"{time.perf_counter() - start:.0f} s, {len(head.history_['loss'])} epochs, "
          f"temperature {head.temperature_:.3f}")  # fmt: skip
    return head, encode_s


def _write_head(args, head, paths, encoder_record) -> None:
    from skemotion._io import strings_sha256
    from skemotion.classification import classifier_to_arrays
    from skemotion.packaged import write_packaged

    record, arrays = classifier_to_arrays(head)
    files = sorted(f"{Path(p).parent.name}/{Path(p).name}" for p in paths)
    hist = head.history_
    best = int(np.argmin(hist["val_loss"]))
    meta = {
        "kind": "the ready emotion model: crop -> gray -> packaged encoder -> head",
        "encoder": "fer2013",
        "encoder_sha256": _load(ENCODER, args.out).sha256,
        "crop": _crop(args),
        "head": record,
        "tta": args.tta,
        "training": {
            "data": "FER2013 train (28,709 48x48 gray faces), detector none",
            "training_files_sha256": strings_sha256(files),
            "n_images": len(paths),
            "holdout": 0.05,
            "epochs": len(hist["loss"]),
            "best_epoch": best + 1,
            "heldout_accuracy": float(hist["val_accuracy"][best]),
            "random_state": args.random_state,
        },
        "encoder_training": encoder_record["weights_info"],
        "rebuild_command": _rebuild_command(args, encoder_record["weights_info"]),
        "created": _now(),
    }
    write_packaged(HEAD, arrays, meta, args.out)


def _rebuild_command(args, info: dict) -> str:
    """Both stages, from the project root, with FER2013 at ../shared/data."""
    stage1 = getattr(args, "encoder_command", None) or (
        "skemotion finetune ../shared/data/fer2013 --size 48 --detector none "
        f"--weights none --trainable-blocks {info['trained_blocks']} "
        f"--epochs {info['epochs']} --random-state 0 "
        f"-p finetune__validation_split={info['heldout_images'] / 28709:.2f} "
        "-p finetune__patience=None --checkpoint-dir ckpt -o fer2013.weights.h5"
    )
    stage2 = (
        "python tools/build_pretrained.py fer2013.weights.h5 --data "
        f"../shared/data/fer2013 --detector {shlex.quote(args.detector)} "
        f"--margin {args.margin}{' --align' if args.align else ''} "
        f"--head-epochs {args.head_epochs} --random-state {args.random_state}"
        + (f" --tta {args.tta}" if args.tta else "")
    )
    return f"{stage1} && {stage2}"


def _load(name, folder):
    from skemotion.packaged import load_packaged

    return load_packaged(name, folder)


def _sha256(path) -> str:
    from skemotion._io import file_sha256

    return file_sha256(path)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _crop(args) -> dict:
    return {"detector": args.detector, "margin": args.margin,
            "align": bool(args.align), "size": [48, 48]}  # fmt: skip


def _set_crop(args) -> None:
    """The head's record with other crop settings (its arrays are unchanged:
    the head learnt from FER2013's crops, whatever frames real photos)."""
    path = args.out / f"{HEAD}.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    encoder = _load(ENCODER, args.out).record
    record["crop"] = _crop(args)
    record["rebuild_command"] = _rebuild_command(args, encoder["weights_info"])
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    print(f"  {path}: crop {record['crop']}")


def _encoder_stage(args, paths) -> None:
    rng = np.random.default_rng(args.random_state)
    n_sample = min(N_AGREEMENT, len(paths))
    sample = paths[np.sort(rng.choice(len(paths), n_sample, replace=False))]
    print(f"Agreement of packaged features with {args.weights} ({n_sample} images):")
    reference = _file_encoder(args.weights)
    agreement = _agreement(args, reference, sample)
    _write_encoder(args, _conv_arrays(reference), args.out, args.storage,
                   {"agreement": agreement})  # fmt: skip


def _compiled_agreement(model, compiled, paths) -> dict:
    """Top labels and probabilities, LiteRT against TensorFlow float32."""
    crops = _crops(paths)  # gray
    reference = model[-2:].predict_proba(crops)
    proba = compiled.predict_proba(crops)
    return {
        "images": len(paths), "reference": "tensorflow float32",
        "same_label": float(np.mean(proba.argmax(1) == reference.argmax(1))),
        "max_probability_difference": float(np.abs(proba - reference).max()),
    }  # fmt: skip


def _litert_stage(args) -> None:
    """The packaged ready model compiled to LiteRT, dynamic-range int8."""
    from skemotion import load_pretrained
    from skemotion.engines import (
        CompiledNetwork,
        add_record,
        compile_network,
        network_record,
    )  # fmt: skip
    from skemotion.packaged import write_packaged_file

    if args.out != OUT:
        sys.exit("--only litert compiles the installed packaged files: no --out")
    model = load_pretrained(engine="tensorflow", precision="float32")
    sources = {name: _load(name, args.out).record for name in (ENCODER, HEAD)}
    data, steps = compile_network(model, quantize="dynamic")
    record = network_record(
        steps, quantize="dynamic", source=f"skemotion ready model ({ENCODER}, {HEAD})"
    )
    record["crop"].update(sources[HEAD]["crop"])  # not this machine's detector
    data = add_record(data, record)
    extra = {
        "created": _now(), "quantization": "dynamic",
        "sources": {name: r["sha256"] for name, r in sources.items()},
        "rebuild_command": "python tools/build_pretrained.py --only litert "
        "--data ../shared/data/fer2013",
    }  # fmt: skip
    if args.data is not None:
        paths, _ = _load_folder(args.data)
        rng = np.random.default_rng(args.random_state)
        sample = paths[np.sort(rng.choice(len(paths), 512, replace=False))]
        compiled = CompiledNetwork.from_bytes(data, source=COMPILED_FILE)
        extra["agreement"] = _compiled_agreement(model, compiled, sample)
        print(f"  agreement with TensorFlow float32: {extra['agreement']}")
    write_packaged_file(
        COMPILED, data, COMPILED_FILE, extra, args.out, storage="litert-dynamic"
    )
    print(f"  {args.out / COMPILED_FILE}: {len(data) / 2**20:.2f} MiB")


def _load_folder(folder):
    from skemotion import load_image_folder

    return load_image_folder(folder / "train", progress=False)


def main(argv=None) -> int:
    args = _arguments(argv)
    if args.only == "crop":
        _set_crop(args)
        return 0
    if args.only == "litert":
        _litert_stage(args)
        return 0
    if args.weights is None or args.data is None:
        sys.exit("the encoder and head stages need the weights file and --data")
    paths, labels = _load_folder(args.data)
    if args.only != "head":
        _encoder_stage(args, paths)
    if args.only == "encoder":
        return 0
    record = _load(ENCODER, args.out).record
    print(f"Head on {len(paths)} FER2013 training images:")
    head, _ = _train_head(args, paths, labels)
    _write_head(args, head, paths, record)
    for name in (ENCODER, HEAD):
        size = (args.out / f"{name}.npz").stat().st_size
        print(f"  {args.out / name}.npz: {size / 2**20:.2f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
