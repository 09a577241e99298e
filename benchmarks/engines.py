"""The engines that run the ready model's network, in one run: crops/s, agreement,
file size, and a new process's time to the first answer with its peak memory.

Usage (from the project root)::

    python benchmarks/engines.py [--full-int8]

On 512 FER2013 test crops (every 7th image in sorted path order; the images
are 48x48 crops already), batch 64, the ready model's network (encoder, head,
temperature, softmax) on gray crops:

- TensorFlow bfloat16 and float32 (the ``"tensorflow"`` engine);
- LiteRT float32 (compiled here) and LiteRT dynamic-range int8 (the packaged
  ``fer2013.tflite``), XNNPACK, 2 threads;
- with ``--full-int8``: LiteRT full-integer int8, calibrated on 256 FER2013
  training crops (compiled here; measured, not shipped).

Agreement: the share of crops given the same top label as TensorFlow float32,
the largest probability difference, and accuracy on the 512 labels.

Time to first answer: ``python -c`` with an empty HOME importing skemotion,
``load_pretrained(engine=...)`` and ``predict_topk`` on one photo, timed from
outside (interpreter start included), with the child's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from _common import ROOT, machine, shared_data

N_CROPS, BATCH, STEP = 512, 64, 7


def _crops():
    from skemotion import load_image_folder, load_pretrained

    test = shared_data() / "fer2013" / "test"
    paths, labels = load_image_folder(test, progress=False)
    order = np.argsort(paths.astype(str))
    paths, labels = paths[order][::STEP][:N_CROPS], labels[order][::STEP][:N_CROPS]
    gray = load_pretrained(crop__detector="none")[:2]
    return gray.transform(paths), labels


def _rate(predict, crops) -> tuple[float, np.ndarray]:
    predict(crops[:BATCH])  # warm-up: tracing, allocation
    start = time.perf_counter()
    proba = np.concatenate(
        [predict(crops[i : i + BATCH]) for i in range(0, len(crops), BATCH)]
    )
    return len(crops) / (time.perf_counter() - start), proba


def _tensorflow(precision: str):
    from skemotion import load_pretrained

    model = load_pretrained(engine="tensorflow", precision=precision, tta=None)
    model.set_params(encode__batch_size=BATCH)
    return model, model[-2:].predict_proba


def _compile(model, **options) -> bytes:
    from skemotion.engines import add_record, compile_network, network_record

    data, steps = compile_network(model, **options)
    quantize = "full int8" if options.get("calibration") is not None else "float32"
    return add_record(data, network_record(steps, quantize=quantize, source="bench"))


def _compiled(data: bytes):
    from skemotion.engines import CompiledNetwork

    network = CompiledNetwork.from_bytes(data, num_threads=2, batch_size=BATCH)
    return network.predict_proba


def _engines(full_int8: bool, calibration) -> dict:
    """Each engine's predict_proba on gray crops, and its file size."""
    from skemotion.packaged import load_packaged_file

    engines = {}
    _, engines["tensorflow bfloat16"] = _tensorflow("bfloat16")
    model32, engines["tensorflow float32"] = _tensorflow("float32")
    sizes = {}
    data = _compile(model32, quantize="float32")
    engines["litert float32"], sizes["litert float32"] = _compiled(data), len(data)
    packaged = load_packaged_file("fer2013-litert").data
    engines["litert dynamic int8"] = _compiled(packaged)
    sizes["litert dynamic int8"] = len(packaged)
    if full_int8:
        data = _compile(model32, calibration=calibration)
        engines["litert full int8"], sizes["litert full int8"] = (
            _compiled(data),
            len(data),
        )
    return engines, sizes


def _calibration():
    from skemotion import load_image_folder, load_pretrained

    paths, _ = load_image_folder(shared_data() / "fer2013" / "train", progress=False)
    rng = np.random.default_rng(0)
    sample = paths[np.sort(rng.choice(len(paths), 256, replace=False))]
    return load_pretrained(crop__detector="none")[:2].transform(sample)


def time_to_first_answer(engine: str) -> dict:
    photo = shared_data() / "face-count" / "single_face" / "facerec_obama.jpg"
    code = (
        "import re, sys; from skemotion import load_pretrained, predict_topk; "
        f"m = load_pretrained(engine={engine!r}); "
        f"r = predict_topk(m, [{str(photo)!r}], k=1); "
        # VmHWM: this process's peak (ru_maxrss keeps the forking parent's)
        "hwm = re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()); "
        "print(r[0]['label'], hwm.group(1), 'tensorflow' in sys.modules)"
    )
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "HOME": home}
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                             text=True, check=True, cwd=ROOT, env=env)  # fmt: skip
        seconds = time.perf_counter() - start
    label, rss_kib, tf_loaded = out.stdout.split()[-3:]
    return {"seconds": seconds, "peak_rss_mib": int(rss_kib) / 1024,
            "label": label, "tensorflow_imported": tf_loaded == "True"}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full-int8", action="store_true")
    parser.add_argument("--results", help="write every figure as JSON here")
    args = parser.parse_args()
    print(machine(), flush=True)
    crops, labels = _crops()
    calibration = _calibration() if args.full_int8 else None
    engines, sizes = _engines(args.full_int8, calibration)
    results, probas = {}, {}
    for name, predict in engines.items():
        rate, probas[name] = _rate(predict, crops)
        results[name] = {"crops_per_s": rate, "file_mib": sizes.get(name, 0) / 2**20}
    from skemotion.pretrained import PRETRAINED_CLASSES

    classes = np.asarray(PRETRAINED_CLASSES)
    reference = probas["tensorflow float32"]
    yardstick = results["tensorflow bfloat16"]["crops_per_s"]
    print(f"\n{N_CROPS} FER2013 test crops, batch {BATCH}:")
    print("| engine | crops/s | x bf16 | file MiB | same label | max diff | accuracy |")
    print("|---|---|---|---|---|---|---|")
    for name, row in results.items():
        proba = probas[name]
        row["same_label"] = float(np.mean(proba.argmax(1) == reference.argmax(1)))
        row["max_probability_difference"] = float(np.abs(proba - reference).max())
        row["accuracy"] = float(np.mean(classes[proba.argmax(1)] == labels))
        print(f"| {name} | {row['crops_per_s']:.0f} | "
              f"{row['crops_per_s'] / yardstick:.2f} | {row['file_mib']:.1f} | "
              f"{row['same_label']:.4f} | {row['max_probability_difference']:.4f} | "
              f"{row['accuracy']:.4f} |", flush=True)  # fmt: skip
    print("\nnew process, empty HOME: import, load_pretrained, one photo")
    for engine in ("litert", "tensorflow"):
        first = time_to_first_answer(engine)
        results[f"first answer {engine}"] = first
        print(f"  {engine}: {first['seconds']:.2f} s, peak RSS "
              f"{first['peak_rss_mib']:.0f} MiB, TensorFlow imported: "
              f"{first['tensorflow_imported']}", flush=True)  # fmt: skip
    if args.results:
        with open(args.results, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
