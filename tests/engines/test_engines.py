"""The compiled LiteRT engine: the ready model without TensorFlow, export and
reload of a trained pipeline, damaged files, the fallback where LiteRT is
missing, and ``skemotion export``.

The agreement test runs the ready model on both engines on a fixed sample of
FER2013's test split: every 18th image in sorted path order (200 of 3,589).
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from skemotion import (
    CompiledNetwork,
    ModelFileError,
    export_litert,
    load_image_folder,
    load_model,
    load_pretrained,
)
from skemotion.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]
PHOTO = "face-count/single_face/facerec_obama.jpg"


def _python(code: str, *, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd,
        timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory) -> Path:
    """``tiny_model`` exported in float32 (exact: the labels must agree)."""
    path = tmp_path_factory.mktemp("litert") / "tiny.tflite"
    return export_litert(tiny_model, path, quantize="float32")


def test_ready_model_agrees_with_tensorflow(shared_data):
    paths, _ = load_image_folder(shared_data / "fer2013" / "test", on_unreadable="keep")
    paths = paths[np.argsort(paths.astype(str))][::18][:200]
    assert len(paths) == 200
    litert = load_pretrained(crop__detector="none")
    tensorflow = load_pretrained(engine="tensorflow", crop__detector="none")
    assert litert.engine == "litert" and tensorflow.engine == "tensorflow"
    assert list(litert.classes_) == list(tensorflow.classes_)
    fast, exact = litert.predict_proba(paths), tensorflow.predict_proba(paths)
    same = np.mean(fast.argmax(1) == exact.argmax(1))
    largest = np.abs(fast - exact).max()
    print(f"same label {same:.4f}, largest probability difference {largest:.4f}")
    assert same >= 0.99, f"same label {same:.4f} (largest difference {largest:.4f})"
    np.testing.assert_allclose(fast.sum(axis=1), 1, atol=1e-5)


def test_ready_model_predicts_without_tensorflow(shared_data, tmp_path):
    result = _python(
        "import sys\n"
        "from skemotion import load_pretrained, predict_topk\n"
        "model = load_pretrained()\n"
        f"(record,) = predict_topk(model, [{str(shared_data / PHOTO)!r}], k=1)\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'scikeras') if m in sys.modules]\n"
        "print(model.engine, record['label'], heavy)\n",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    engine, label, heavy = result.stdout.split(maxsplit=2)
    assert engine == "litert" and label in load_pretrained().classes_
    assert heavy.strip() == "[]", result.stdout
    # nothing printed behind the user's back (LiteRT's C++ "INFO: Created
    # TensorFlow Lite XNNPACK delegate for CPU." included)
    assert result.stderr == "", result.stderr


def test_export_and_reload_give_the_same_labels(tiny_model, exported, seed_dir):
    model = load_model(exported)
    assert [name for name, _ in model.steps] == ["crop", "gray", "classify"]
    assert isinstance(model.named_steps["classify"], CompiledNetwork)
    assert model.engine == "litert"
    assert list(model.classes_) == list(tiny_model.classes_)
    params, original = (
        model.named_steps["crop"].get_params(),
        tiny_model.named_steps["crop"].get_params(),
    )
    for key in ("detector", "margin", "align", "multiple_faces", "no_face"):
        assert params[key] == original[key]
    assert tuple(params["size"]) == (32, 32)
    photos = sorted((seed_dir / "validation").glob("*/*"))[:6]
    expected = tiny_model.predict_proba(photos)
    proba = model.predict_proba(photos)
    np.testing.assert_array_equal(proba.argmax(1), expected.argmax(1))
    # float32 here; the TensorFlow engine computes in bfloat16 where it can
    np.testing.assert_allclose(proba, expected, atol=5e-3)
    record = model.named_steps["classify"].record_
    assert record["made"]["quantization"] == "float32"
    assert len(record["made"]["weights_sha256"]) == 64


def test_compiled_network_pickles_predicts_from_threads_and_refuses_fit(exported):
    network = CompiledNetwork.from_file(exported)
    crops = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    expected = network.predict_proba(crops)
    again = pickle.loads(pickle.dumps(network))
    np.testing.assert_allclose(again.predict_proba(crops), expected, atol=1e-6)
    results = [None] * 3

    def work(i):
        results[i] = network.predict_proba(crops)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for proba in results:
        np.testing.assert_allclose(proba, expected, atol=1e-6)
    with pytest.raises(NotImplementedError, match="engine='tensorflow'"):
        network.fit(crops, ["happy"] * 5)
    with pytest.raises(ValueError, match=r"crops of shape \(n, 32, 32, 3\)"):
        network.predict_proba(crops[:, :16])


def test_a_damaged_file_is_a_clear_error(exported, tmp_path):
    data = exported.read_bytes()
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"truncated\.tflite: .*(truncat|damag)"):
        load_model(truncated)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    damaged = tmp_path / "damaged.tflite"
    damaged.write_bytes(bytes(flipped))
    with pytest.raises(ModelFileError, match=r"damaged\.tflite: damaged"):
        load_model(damaged)
    other = tmp_path / "other.tflite"
    other.write_bytes(b"this is not a model at all")
    with pytest.raises(ModelFileError, match=r"other\.tflite: .*not a LiteRT"):
        load_model(other)


def test_what_cannot_be_exported_is_refused(tiny_model, tmp_path):
    from sklearn.linear_model import LogisticRegression

    foreign = tiny_model[:-1]
    foreign.steps.append(("classify", LogisticRegression()))
    with pytest.raises(ValueError, match="LogisticRegression, not skemotion's"):
        export_litert(foreign, tmp_path / "x.tflite")
    with pytest.raises(ValueError, match="not a FaceCropper"):
        export_litert(tiny_model[1:], tmp_path / "x.tflite")
    with pytest.raises(ValueError, match="not a pipeline"):
        export_litert(tiny_model.named_steps["classify"], tmp_path / "x.tflite")
    assert not (tmp_path / "x.tflite").exists()


def test_without_litert_tensorflow_predicts_and_says_so_once(shared_data, tmp_path):
    result = _python(
        "import sys\n"
        "sys.modules['ai_edge_litert'] = None  # as where no wheel exists\n"
        "from skemotion import load_pretrained\n"
        "model = load_pretrained()\n"
        "load_pretrained()\n"
        f"print(model.engine, model.predict([{str(shared_data / PHOTO)!r}])[0])\n",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    engine, label = result.stdout.split()
    assert engine == "tensorflow" and label in load_pretrained().classes_
    warning = "ai-edge-litert is not installed for this platform: predicting with"
    assert result.stderr.count(warning) == 1, result.stderr


def test_export_command(tiny_model_file, tiny_model, seed_dir, tmp_path, capsys):
    out = tmp_path / "model.tflite"
    code = main(
        ["export", str(tiny_model_file), "-o", str(out), "--quantize", "float32"]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "float32" in printed
    photo = sorted((seed_dir / "validation").glob("*/*"))[0]
    assert main(["predict", str(photo), "--model", str(out), "--top-k", "1"]) == 0
    label = str(tiny_model.predict([photo])[0])
    assert label in capsys.readouterr().out
    code = main(["export", str(out), "-o", str(tmp_path / "again.tflite")])
    assert code == 2
    assert "compiled already" in capsys.readouterr().err
