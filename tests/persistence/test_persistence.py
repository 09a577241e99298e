"""Saving and loading models: version records, clear errors, the trust warning."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest

import skemotion.persistence as persistence
from skemotion import (
    ModelFileError,
    ModelVersionWarning,
    SkemotionError,
    load_model,
    make_emotion_pipeline,
    save_model,
)
from skemotion.cli import main

# not imported from conftest: tests/serve has a conftest.py too
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def photo(face_count_dir) -> str:
    return str(face_count_dir / "single_face" / "facerec_obama.jpg")


def _load_quietly(path):
    """load_model, failing the test on any ModelVersionWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelVersionWarning)
        return load_model(path)


def test_roundtrip_same_predictions_plain_joblib(tiny_model, tiny_model_file, photo):
    loaded = _load_quietly(tiny_model_file)
    np.testing.assert_allclose(
        loaded.predict_proba([photo]), tiny_model.predict_proba([photo]), rtol=1e-6
    )
    # an ordinary joblib file: joblib.load reads it too
    assert list(joblib.load(tiny_model_file).classes_) == list(tiny_model.classes_)
    # the caller's model is not altered by saving
    assert not hasattr(tiny_model, persistence._RECORD_ATTRIBUTE)
    assert not hasattr(loaded, persistence._RECORD_ATTRIBUTE)


def test_version_record_holds_the_stack(tiny_model_file):
    record = getattr(joblib.load(tiny_model_file), persistence._RECORD_ATTRIBUTE)
    versions = record["versions"]
    import keras
    import sklearn

    import skemotion

    assert versions["skemotion"] == skemotion.__version__
    assert versions["scikit-learn"] == sklearn.__version__
    assert versions["keras"] == keras.__version__
    assert versions["tensorflow"] and versions["numpy"] == np.__version__


def test_other_versions_warn_clearly(tiny_model, tmp_path, monkeypatch, photo):
    real = persistence.dependency_versions()
    old = {**real, "skemotion": "0.0.1", "keras": "3.0.0", "scikit-learn": "1.7.0"}
    with monkeypatch.context() as patch:
        patch.setattr(persistence, "dependency_versions", lambda: old)
        path = save_model(tiny_model, tmp_path / "old.joblib")
    with pytest.warns(ModelVersionWarning) as caught:
        model = load_model(path)
    message = str(caught[0].message)
    assert str(path) in message
    assert f"skemotion 0.0.1 (installed: {real['skemotion']})" in message
    assert f"keras 3.0.0 (installed: {real['keras']})" in message
    assert f"scikit-learn 1.7.0 (installed: {real['scikit-learn']})" in message
    assert "numpy" not in message  # unchanged versions are not listed
    assert model.predict_proba([photo]).shape == (1, 2)  # still usable


def test_sklearn_pickled_with_other_version_warns(tiny_model, tmp_path, monkeypatch):
    # a plain joblib.dump made under another scikit-learn: sklearn's own
    # InconsistentVersionWarnings become one clear skemotion warning
    path = tmp_path / "plain.joblib"
    with monkeypatch.context() as patch:
        patch.setattr("sklearn.base.__version__", "0.0.1")
        joblib.dump(tiny_model, path)
    with pytest.warns(ModelVersionWarning) as caught:
        load_model(path)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "holds no version record" in message
    assert "pickled with scikit-learn 0.0.1" in message


def test_plain_joblib_file_warns_no_record(tiny_model, tmp_path):
    path = tmp_path / "plain.joblib"
    joblib.dump(tiny_model, path)
    with pytest.warns(ModelVersionWarning, match="holds no version record"):
        load_model(path)


@pytest.mark.parametrize("fraction", [0.0005, 0.3, 0.9, 0.9999])
def test_truncated_model_file_is_a_clear_error(tiny_model_file, tmp_path, fraction):
    data = tiny_model_file.read_bytes()
    cut = tmp_path / "cut.joblib"
    cut.write_bytes(data[: max(1, int(len(data) * fraction))])
    with pytest.raises(ModelFileError) as info:
        load_model(cut)
    assert isinstance(info.value, ValueError) and isinstance(info.value, SkemotionError)
    assert str(info.value).startswith(f"{cut}: ")
    assert "model file is truncated" in str(info.value)


def _not_models(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    files = {}
    text = tmp_path / "text.joblib"
    text.write_text("this is not a model\n")
    files["text"] = (text, "not a skemotion model file")
    noise = tmp_path / "noise.joblib"
    noise.write_bytes(np.random.RandomState(0).bytes(4096))
    files["random bytes"] = (noise, "not a skemotion model file")
    a_dict = tmp_path / "dict.joblib"
    joblib.dump({"weights": [1, 2, 3]}, a_dict)
    files["a pickled dict"] = (a_dict, "holds a dict")
    unfitted = tmp_path / "unfitted.joblib"
    joblib.dump(make_emotion_pipeline(encode__weights=None), unfitted)
    files["an unfitted pipeline"] = (unfitted, "is not fitted")
    empty = tmp_path / "empty.joblib"
    empty.write_bytes(b"")
    files["empty"] = (empty, "empty (0 bytes)")
    files["missing"] = (tmp_path / "missing.joblib", "does not exist")
    folder = tmp_path / "folder.joblib"
    folder.mkdir()
    files["a folder"] = (folder, "is a directory")
    return files


@pytest.mark.parametrize(
    "kind",
    [
        "text",
        "random bytes",
        "a pickled dict",
        "an unfitted pipeline",
        "empty",
        "missing",
        "a folder",
    ],
)
def test_not_a_model_is_a_clear_error(kind, tmp_path):
    path, reason = _not_models(tmp_path)[kind]
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    assert str(info.value).startswith(f"{path}: ")
    assert reason in str(info.value)
    assert info.value.path == str(path)


def test_model_needing_missing_code_names_the_version_problem(tmp_path, monkeypatch):
    # a model whose class lives in a module this installation does not have
    module = tmp_path / "skemotion_plugin_from_the_future.py"
    module.write_text(
        "class Model:\n"
        "    classes_ = ['happy', 'sad']\n"
        "    def predict_proba(self, X):\n"
        "        return [[0.5, 0.5]] * len(X)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import skemotion_plugin_from_the_future as plugin

    path = tmp_path / "future.joblib"
    joblib.dump(plugin.Model(), path)
    monkeypatch.delitem(sys.modules, "skemotion_plugin_from_the_future")
    module.unlink()
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert "saved by another version" in message
    assert "skemotion_plugin_from_the_future" in message
    assert "installed: skemotion" in message


def test_interrupted_save_keeps_the_previous_file(tiny_model, tmp_path, monkeypatch):
    path = save_model(tiny_model, tmp_path / "model.joblib")
    before = path.read_bytes()

    def dump_half_then_fail(obj, filename, **kwargs):
        Path(filename).write_bytes(before[: len(before) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(joblib, "dump", dump_half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        save_model(tiny_model, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib"]


def test_save_refuses_an_unfitted_model(tmp_path):
    with pytest.raises(ModelFileError, match="not fitted"):
        save_model(make_emotion_pipeline(), tmp_path / "m.joblib")
    assert not (tmp_path / "m.joblib").exists()


def test_cli_warns_on_other_versions_and_still_predicts(
    tiny_model, tmp_path, monkeypatch, photo, capsys
):
    old = {**persistence.dependency_versions(), "skemotion": "0.0.1"}
    with monkeypatch.context() as patch:
        patch.setattr(persistence, "dependency_versions", lambda: old)
        path = save_model(tiny_model, tmp_path / "old.joblib")
    assert main(["predict", "--model", str(path), photo, "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{photo}: ")
    warning_lines = [ln for ln in captured.err.splitlines() if "warning:" in ln]
    assert len(warning_lines) == 1
    assert warning_lines[0].startswith("skemotion predict: warning: ")
    assert "skemotion 0.0.1" in warning_lines[0]
    assert "Traceback" not in captured.err


def test_cli_truncated_model_is_a_usage_error(tiny_model_file, tmp_path, photo, capsys):
    cut = tmp_path / "cut.joblib"
    cut.write_bytes(tiny_model_file.read_bytes()[:100_000])
    assert main(["predict", "--model", str(cut), photo]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"skemotion predict: error: --model {cut}: ")
    assert "model file is truncated" in err and "Traceback" not in err


def test_docs_say_loading_runs_code():
    guide = (REPO_ROOT / "docs" / "user_guide.md").read_text()
    assert "joblib.load" in guide
    assert "runs code" in guide and "only load model files you trust" in guide.lower()
    for doc in (load_model.__doc__, persistence.__doc__):
        assert "runs code" in " ".join(doc.split())
