"""The ``skemotion`` command line, run as a user would."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys

import joblib
import numpy as np
import pytest

from skemotion.cli import main

#: The ready model's classes (FER2013's seven).
FER2013 = {"angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"}
LINE = re.compile(r"^(?P<path>.+): (?P<topk>(\d+\.\d% \w+)(, \d+\.\d% \w+)*)$")
PARAMS = [
    "--param", "crop__size=(48, 48)",
    "--param", "encode__weights=None",
    "--param", "encode__random_state=0",
    "--param", "encode__pooling='avg'",
    "--param", "classify__epochs=2",
    "--param", "classify__random_state=0",
]  # fmt: skip


@pytest.fixture(scope="module")
def data_dir(seed_dir, tmp_path_factory):
    """A small train/validation tree of real seed images (symlinks), 3 classes."""
    root = tmp_path_factory.mktemp("data")
    for split, n in (("train", 4), ("validation", 1)):
        for label in ("happy_face", "sad_face", "shocked_face"):
            (root / split / label).mkdir(parents=True)
            for src in sorted((seed_dir / "train" / label).iterdir())[
                (0 if split == "train" else 10) :
            ][:n]:
                (root / split / label / src.name).symlink_to(src)
    return root


@pytest.fixture(scope="module")
def model_file(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "model.joblib"
    assert (
        main(["train", str(data_dir), "--output", str(out), "--strip-suffix", "_face",
              "--quiet", *PARAMS]) == 0
    )  # fmt: skip
    return out


def _commands() -> list[str]:
    """Every command the parser knows, so that a new one is covered too."""
    from skemotion.cli._arguments import build_parser
    from skemotion.cli._commands import COMMANDS

    parser = build_parser(COMMANDS)
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)


def test_help_for_every_command(capsys):
    commands = _commands()
    assert set(commands) == {"train", "predict", "check", "evaluate", "demo",
                             "finetune", "video", "serve", "export"}  # fmt: skip
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"\n    {c} " in out for c in commands)
    for command in commands:
        assert main([command, "--help"]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: skemotion {command}")
        assert "--quiet" in out


def test_help_names_what_the_program_does(capsys):
    """Help that matches the program: every detector ``check`` takes, and the
    limits' defaults as the library holds them (not a copy of the number)."""
    from skemotion.datasets import DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_PIXELS
    from skemotion.preprocessing import DETECTORS

    assert main(["check", "--help"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    detector_help = said.split("face detector counting faces")[1].split("--no-faces")[0]
    for name in DETECTORS:
        if name != "none":
            assert name in detector_help, name
    assert main(["predict", "--help"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert f"(default: {DEFAULT_MAX_FILE_SIZE // 2**20}M)" in said
    assert f"crop__max_pixels, {DEFAULT_MAX_PIXELS}" in said
    # the limit the option applies when not given is the library's
    from skemotion.cli._arguments import build_parser
    from skemotion.cli._commands import COMMANDS

    args = build_parser(COMMANDS).parse_args(["predict", "x.jpg"])
    assert args.max_file_size == DEFAULT_MAX_FILE_SIZE


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "x.jpg", "--top-k", "0"],
        ["evaluate", "m.joblib", ".", "--top-k", "0"],
        ["demo", "--folds", "0"],
        ["demo", "--size", "-3"],
        ["finetune", ".", "-o", "x.weights.h5", "--epochs", "two"],
        ["predict", "x.jpg", "--model", "m.joblib", "--max-file-size", "lots"],
        ["predict", "x.jpg", "--jobs", "0"],
        ["check", ".", "--detector", "eyes"],
    ],
)
def test_invalid_option_values_are_usage_errors(argv, capsys):
    """Checked by argparse before anything runs: exit status 2, the usage line
    and what is wrong, never an 'unexpected error'."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: skemotion")
    assert "error: argument" in err and "unexpected" not in err


def test_weights_option_reads_the_same_in_every_command():
    from skemotion.cli._arguments import build_parser
    from skemotion.cli._commands import COMMANDS

    parser = build_parser(COMMANDS)
    # the packaged face encoder unless told otherwise
    assert parser.parse_args(["demo"]).weights == "fer2013"
    assert parser.parse_args(["demo", "--weights", "FER2013"]).weights == "fer2013"
    for spelling in ("none", "None", "NONE"):
        demo = parser.parse_args(["demo", "--weights", spelling])
        tune = parser.parse_args(["finetune", ".", "-o", "x.weights.h5",
                                  "--weights", spelling])  # fmt: skip
        assert demo.weights is None and tune.weights is None
    tune = parser.parse_args(["finetune", ".", "-o", "a.weights.h5", "--weights",
                              "ImageNet"])  # fmt: skip
    assert tune.weights == "imagenet"


def test_console_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "skemotion", "predict", "--help"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0
    assert "--top-k" in result.stdout


def test_train_writes_model_and_reports(model_file, data_dir, capsys):
    import warnings

    from skemotion import ModelVersionWarning, load_model

    model = joblib.load(model_file)  # an ordinary joblib file
    assert list(model.classes_) == ["happy", "sad", "shocked"]
    with warnings.catch_warnings():  # saved with its version record
        warnings.simplefilter("error", ModelVersionWarning)
        assert list(load_model(model_file).classes_) == list(model.classes_)
    assert model.get_params()["crop__size"] == (48, 48)
    assert model.named_steps["encode"].weights_used_ == "random (seed 0)"


def test_train_output_mentions_accuracy_and_weights(data_dir, tmp_path, capsys):
    out = tmp_path / "m.joblib"
    assert main(["train", str(data_dir), "-o", str(out), "-q", *PARAMS]) == 0
    text = capsys.readouterr().out
    assert "Validation accuracy:" in text and "on 3 images" in text
    assert "random (seed 0)" in text
    assert out.is_file()


def test_predict_prints_topk(model_file, data_dir, capsys):
    images = sorted(str(p) for p in (data_dir / "validation").rglob("*.*"))
    assert main(["predict", *images, "--model", str(model_file), "--top-k", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(images)
    model = joblib.load(model_file)
    proba = model.predict_proba(images)
    for line, path, row in zip(lines, images, proba, strict=True):
        match = LINE.match(line)
        assert match and match["path"] == path
        pairs = match["topk"].split(", ")
        assert len(pairs) == 3
        percents = [float(p.split("%")[0]) for p in pairs]
        assert percents == sorted(percents, reverse=True)
        best = model.classes_[np.argmax(row)]
        assert pairs[0] == f"{100 * row.max():.1f}% {best}"


def test_predict_jobs_finds_faces_in_worker_processes(
    model_file, data_dir, monkeypatch, capsys
):
    """--jobs N: the faces are found in N worker processes, with the same
    answers; the cluster's workers are its own, so not with --output."""
    from skemotion import FaceCropper

    images = sorted(str(p) for p in (data_dir / "validation").rglob("*.*"))[:6]
    processes = []
    crop_each = FaceCropper.crop_each

    def spy(self, X, **kwargs):  # the cropper that did the work, as it was set
        processes.append(self.n_jobs)
        return crop_each(self, X, **kwargs)

    monkeypatch.setattr(FaceCropper, "crop_each", spy)
    argv = ["predict", *images, "--model", str(model_file), "--format", "json"]
    assert main(argv) == 0
    alone = capsys.readouterr().out
    assert main([*argv, "--jobs", "2"]) == 0
    assert capsys.readouterr().out == alone
    assert processes[0] != 2 and set(processes[1:]) == {2}
    cluster = ["--output", "out", "--local-cluster", "1"]
    assert main(["predict", "x.jpg", "--jobs", "2", *cluster]) == 2
    assert "--jobs cannot be used with --output" in capsys.readouterr().err


def test_predict_reports_bad_files_and_keeps_good_ones(
    model_file, data_dir, tmp_path, capsys
):
    good = sorted(str(p) for p in (data_dir / "validation").rglob("*.*"))[:2]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    missing = tmp_path / "missing.png"
    code = main(["predict", "--model", str(model_file), good[0], str(bad),
                 str(missing), good[1]])  # fmt: skip
    assert code == 1
    captured = capsys.readouterr()
    printed = [LINE.match(line)["path"] for line in captured.out.splitlines()]
    assert printed == good
    assert f"{bad}: error:" in captured.err
    assert f"{missing}: error: file does not exist" in captured.err


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "x.jpg", "--model", "no-such-model.joblib"],
        ["train", "no-such-dir", "-o", "m.joblib"],
        ["train", ".", "-o", "m.joblib", "--param", "crop__colour=1"],
        ["train", ".", "-o", "m.joblib", "--param", "no-equals-sign"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"skemotion {argv[0]}: error:")
    assert "Traceback" not in err


def test_missing_model_file_is_a_clear_usage_error(tmp_path, capsys):
    missing = tmp_path / "no-such-model.joblib"
    assert main(["predict", "x.jpg", "--model", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"skemotion predict: error: --model {missing}: model file does not exist "
        "(without --model, the ready model is used)\n"
    )


def test_old_positional_model_spelling_still_works(model_file, data_dir, capsys):
    """``predict MODEL.joblib IMAGE...`` gives the same results, and one line
    on stderr with the new spelling."""
    images = sorted(str(p) for p in (data_dir / "validation").rglob("*.*"))
    assert main(["predict", *images, "--model", str(model_file), "-q"]) == 0
    new = capsys.readouterr()
    assert main(["predict", str(model_file), *images, "-q"]) == 0
    old = capsys.readouterr()
    assert old.out == new.out and len(old.out.splitlines()) == len(images)
    assert new.err == ""
    assert old.err == (
        f"skemotion predict: note: {model_file} is read as the model file; the "
        f"new spelling is --model {model_file}\n"
    )
    # a model file and no image: a usage error that says how to spell it
    assert main(["predict", str(model_file)]) == 2
    assert f"IMAGE... --model {model_file}" in capsys.readouterr().err


def test_predict_without_a_model_uses_the_ready_model(face_count_dir):
    """A newcomer's first command: no model file, one photo, one line."""
    photo = str(face_count_dir / "single_face" / "facerec_obama.jpg")
    result = _run_cli(["predict", photo])
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()  # nothing but the result on stdout
    match = LINE.match(line)
    assert match and match["path"] == photo, line
    labels = [pair.split(" ", 1)[1] for pair in match["topk"].split(", ")]
    assert len(labels) == 2 and set(labels) <= FER2013
    assert "Traceback" not in result.stderr and "error" not in result.stderr


def test_ready_model_takes_a_detector_and_is_named_when_verbose(
    seed_dir, caplog, capsys
):
    from PIL import Image

    face = sorted((seed_dir / "validation" / "happy_face").iterdir())[0]
    width, height = Image.open(face).size
    argv = ["--verbose", "predict", str(face), "--detector", "none",
            "--format", "json", "--top-k", "7", "-q"]  # fmt: skip
    with caplog.at_level(logging.INFO, logger="skemotion.cli"):
        assert main(argv) == 0
    assert "the ready model (FER2013's 7 classes)" in caplog.text
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["rank"] for r in records] == list(range(1, 8))
    assert {r["label"] for r in records} == FER2013
    assert sum(r["probability"] for r in records) == pytest.approx(1, abs=1e-3)
    assert records[0]["box"] == [0, 0, width, height]  # the whole image: no detector


def test_engine_chooses_what_runs_the_ready_model(face_count_dir, caplog, capsys):
    """--engine: the compiled network or the Keras one, each named when
    verbose; their probabilities differ a little, their label does not."""
    photo = str(face_count_dir / "single_face" / "facerec_obama.jpg")
    answers = {}
    for engine in ("litert", "tensorflow"):
        argv = ["--verbose", "predict", photo, "--engine", engine,
                "--format", "json", "--top-k", "7", "-q"]  # fmt: skip
        with caplog.at_level(logging.INFO, logger="skemotion.cli"):
            assert main(argv) == 0
        assert f"the ready model (FER2013's 7 classes) (engine: {engine})" in (
            caplog.text
        )
        caplog.clear()
        records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        answers[engine] = {r["label"]: r["probability"] for r in records}
    litert, tensorflow = answers["litert"], answers["tensorflow"]
    assert max(litert, key=litert.get) == max(tensorflow, key=tensorflow.get)
    assert litert != tensorflow  # two engines ran, not one twice
    assert max(abs(litert[c] - tensorflow[c]) for c in FER2013) < 0.15


def test_engine_is_for_the_ready_model_only(model_file, capsys):
    """A model file runs on its own engine: --engine with one is a usage
    error, said before any work."""
    for command in (["predict", "x.jpg"], ["video", "clip.mp4", "-o", "t.csv"],
                    ["serve"]):  # fmt: skip
        assert main([*command, "--model", str(model_file), "--engine", "litert"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(
            f"skemotion {command[0]}: error: --engine with --model {model_file}: "
            "engine='litert' chooses what runs the ready model; a model file or a "
            "pipeline runs on its own engine"
        ), err
    argv = ["predict", "x.jpg", "--model", str(model_file), "--engine", "tensorflow",
            "--output", "out", "--local-cluster", "1"]  # fmt: skip
    assert main(argv) == 2
    assert "--engine with --model" in capsys.readouterr().err


def test_predict_refuses_a_file_that_is_not_a_model(tmp_path, capsys):
    fake = tmp_path / "model.joblib"
    fake.write_text("not a pickle")
    assert main(["predict", "x.jpg", "--model", str(fake)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"skemotion predict: error: --model {fake}: not a skemotion model"
    )
    assert len(err.splitlines()) == 1


def test_unexpected_errors_are_one_line_unless_verbose(model_file, monkeypatch, capsys):
    import skemotion.prediction

    def broken(*args, **kwargs):
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(skemotion.prediction, "iter_predict_topk", broken)
    assert main(["predict", "x.jpg", "--model", str(model_file)]) == 1
    err = capsys.readouterr().err
    assert err == (
        "skemotion predict: error: unexpected RuntimeError: something nobody "
        "expected (run with --verbose for the traceback)\n"
    )
    assert main(["--verbose", "predict", "x.jpg", "--model", str(model_file)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "something nobody expected" in err


def test_train_without_images_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "happy").mkdir()
    (tmp_path / "happy" / "notes.txt").write_text("no images here")
    assert main(["train", str(tmp_path), "-o", str(tmp_path / "m.joblib")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("skemotion train: error: ") and "no images found" in err


@pytest.mark.parametrize("command", ["train", "finetune"])
def test_training_on_one_class_is_a_usage_error(command, seed_dir, tmp_path, capsys):
    """A data folder with one class folder is said before any work, naming
    the folder and the class (it used to end as an "unexpected ValueError")."""
    happy = tmp_path / "data" / "train" / "happy"
    happy.mkdir(parents=True)
    for src in sorted((seed_dir / "train" / "happy_face").iterdir())[:3]:
        (happy / src.name).symlink_to(src)
    out = tmp_path / ("m.joblib" if command == "train" else "m.weights.h5")
    assert main([command, str(tmp_path / "data"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"skemotion {command}: error: {tmp_path / 'data' / 'train'} holds images "
        "of one class only (happy): training needs a folder of images for each "
        "of at least 2 classes\n"
    )
    assert not out.exists()


@pytest.mark.slow
def test_demo_runs_end_to_end(shared_data, tmp_path, monkeypatch, capsys):
    """The README's main job, small: the real data, 2 folds, no ImageNet download."""

    def no_network(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -2] Name or service not known")

    # the same offline failure on every machine, with or without internet
    monkeypatch.setattr("keras.src.applications.vgg16.file_utils.get_file", no_network)
    monkeypatch.setenv("SKEMOTION_DATA", str(shared_data))
    code = main(["demo", "--size", "32", "--folds", "2", "--quiet",
                 "--weights", "imagenet",
                 "--output", str(tmp_path / "demo.joblib")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "ImageNet weights are not available" in out
    assert "Name or service not known" in out
    assert "random (seed 0)" in out
    assert "353 train + 12 validation images" in out
    assert re.search(r"Validation accuracy .*: \d+\.\d%", out)
    assert re.search(r"2-fold stratified cross-validation accuracy .*: \d+\.\d%", out)
    topk_lines = [line for line in out.splitlines() if "(true: " in line]
    assert len(topk_lines) == 4
    assert all(re.search(r"\d+\.\d% \w+, \d+\.\d% \w+$", ln) for ln in topk_lines)
    sample = str(next((shared_data / "seed" / "validation").rglob("*.jpg")))
    saved = joblib.load(tmp_path / "demo.joblib")
    assert saved.predict_proba([sample]).shape == (1, 6)


def _run_cli(args: list[str], env_extra: dict | None = None):
    import os

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "skemotion", *args],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip


TF_NOISE = ("absl::InitializeLog", "oneDNN custom operations", "TensorFlow binary")


def test_tensorflow_chatter_stays_off_the_terminal(model_file, data_dir):
    """A newcomer's terminal shows results and real problems only; a user who
    set TensorFlow's log level, or asked for --verbose, gets its lines."""
    image = str(next((data_dir / "validation").rglob("*.*")))
    quiet = _run_cli(["predict", image, "--model", str(model_file)])
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.startswith(image)
    assert not any(noise in quiet.stderr for noise in TF_NOISE), quiet.stderr
    chosen = _run_cli(["predict", image, "--model", str(model_file)],
                      {"TF_CPP_MIN_LOG_LEVEL": "0"})  # fmt: skip
    assert chosen.returncode == 0
    assert any(noise in chosen.stderr for noise in TF_NOISE)


def test_tensorflow_chatter_stays_off_a_python_users_terminal(model_file, data_dir):
    """The same in Python: a model on TensorFlow predicts without its start-up
    lines (they ignore ``TF_CPP_MIN_LOG_LEVEL``; skemotion silences its import)."""
    import os

    image = str(next((data_dir / "validation").rglob("*.*")))
    code = (
        "import skemotion; "
        f"print(skemotion.load_model({str(model_file)!r}).predict([{image!r}])[0])"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=False, env=env)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() in {"happy", "sad", "shocked"}, run.stdout
    assert not any(noise in run.stderr for noise in TF_NOISE), run.stderr


def test_predict_explain_writes_each_faces_map(face_count_dir, tmp_path, capsys):
    """``--explain DIR``: a PNG per face, its crop with the map over it."""
    from PIL import Image

    photo = face_count_dir / "multi_face" / "facerec_two_people.jpg"
    out = tmp_path / "maps"
    argv = ["predict", str(photo), "--all-faces", "--explain", str(out), "-q"]
    assert main(argv) == 0
    # the ready model's maps through gradients: it runs on TensorFlow for them
    assert "Saliency maps (gradient)" in capsys.readouterr().err
    written = sorted(p.name for p in out.iterdir())
    assert written == ["facerec_two_people-face1.png", "facerec_two_people-face2.png"]
    image = Image.open(out / written[0])
    assert image.mode == "RGB" and image.width == 48 * 4 and image.height > 48 * 4
    face = np.asarray(image, dtype=int)[: 48 * 4]
    assert np.abs(face[..., 0] - face[..., 2]).max() > 60  # the map's colours


def test_predict_explain_refuses_an_unknown_method(face_count_dir, tmp_path, capsys):
    photo = str(face_count_dir / "single_face" / "facerec_obama.jpg")
    argv = ["predict", photo, "--explain", str(tmp_path), "--explain-method", "x"]
    assert main(argv) == 2
    assert "invalid choice: 'x'" in capsys.readouterr().err
