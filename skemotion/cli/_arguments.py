"""The command line's parser: the top parser, and one function per command
adding that command's parser (the options several share are in :mod:`._options`,
the types validating values in :mod:`._types`)."""

from __future__ import annotations

import argparse

from ..datasets import DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_PIXELS
from . import _options as options
from ._exporting import add_export_parser
from ._types import file_size, positive_float, positive_int, seconds, size_text

__all__ = ["build_parser"]


def build_parser(commands: dict) -> argparse.ArgumentParser:
    """The ``skemotion`` parser; ``commands`` maps each command to its function."""
    from .._version import __version__

    parser = argparse.ArgumentParser(
        prog="skemotion",
        description="Predict a person's emotion from a photo of their face.",
    )
    parser.add_argument(
        "--version", action="version", version=f"skemotion {__version__}"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log progress details and TensorFlow's own messages",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_train_parser(sub)
    _add_predict_parser(sub)
    _add_check_parser(sub)
    _add_evaluate_parser(sub)
    _add_demo_parser(sub)
    _add_finetune_parser(sub)
    _add_video_parser(sub)
    _add_serve_parser(sub)
    add_export_parser(sub)
    for name, command in sub.choices.items():
        command.add_argument(
            "-q", "--quiet", action="store_true", help="no progress bars"
        )
        command.set_defaults(func=commands[name])
    return parser


def _add_train_parser(subparsers) -> None:
    train = subparsers.add_parser(
        "train",
        help="train a model on a folder of labelled images",
        description="Train the emotion pipeline on DATA_DIR/<label>/<image> or on "
        "DATA_DIR/train/<label>/<image> (then the accuracy on DATA_DIR/test, else "
        "DATA_DIR/validation, is reported) and save the fitted pipeline with "
        "joblib, with the skemotion, scikit-learn and Keras versions it was made "
        f"with. {options.TRUST}",
    )
    options.data_dir(train, "the labelled images")
    options.output(
        train, "MODEL.joblib", "where to save the fitted pipeline", required=True
    )
    options.params(train, "crop__size='(64, 64)' or encode__weights=None")
    options.strip_suffix(train)


def _add_predict_parser(subparsers) -> None:
    predict = subparsers.add_parser(
        "predict",
        help="print the top-k emotions of images",
        description="Print each image's most probable emotions, e.g. "
        "'photo.jpg: 62.1% happy, 20.4% surprise'. Bad files (missing, empty, "
        "truncated, not an image, too large...) never stop the run: each gets one "
        "error line on stderr naming it and the problem, and every good file is "
        "still predicted. Exit status: 0 when every image was predicted, 1 when "
        "some could not be, 2 on usage errors (including a --model file that is "
        f"missing, damaged or not a model). {options.READY_SENTENCE} A model file "
        "saved with other skemotion, scikit-learn or Keras versions gives a "
        f"warning. {options.TRUST}",
    )
    predict.add_argument("images", metavar="IMAGE", nargs="+")
    options.model(predict)
    options.engine(predict)
    options.top_k(predict)
    options.model_detector(predict)
    options.output_format(
        predict,
        ("text", "json", "csv"),
        "text: one line per image; json: one JSON object per face and rank "
        "(JSON Lines); csv: one row per face and rank, with a header. A bad "
        "file gives an error record in json/csv, and an error line on stderr",
    )
    predict.add_argument(
        "--all-faces",
        action="store_true",
        help="label every face found in an image, not only the largest",
    )
    predict.add_argument(
        "--annotate",
        metavar="DIR",
        help="write each image to DIR with its face boxes and top-k labels drawn",
    )
    predict.add_argument(
        "--explain",
        metavar="DIR",
        help="write to DIR, per face, its crop with a saliency map laid over it "
        "(what the model looked at: red most, blue least) and its label, as "
        "<image>-face<N>.png",
    )
    predict.add_argument(
        "--explain-method",
        choices=("auto", "gradient", "gradcam", "occlusion"),
        default="auto",
        help="how --explain draws its maps (default: auto, the best the model's "
        "engine can do: gradient through TensorFlow, occlusion on a compiled "
        "one; with --explain, the ready model runs on TensorFlow unless the "
        "method is occlusion or --engine says otherwise)",
    )
    predict.add_argument(
        "-j",
        "--jobs",
        type=positive_int,
        metavar="N",
        help="processes that read the images and find their faces while this "
        "one classifies them (default: the model's own setting, 1 for the ready "
        "model). Starting them takes about a second: worth it for a few hundred "
        "images or more (the ready model on 365 photos, 2 cores: 10.3 s with 2, "
        "13.6 s with 1)",
    )
    predict.add_argument(
        "--max-pixels",
        type=positive_int,
        metavar="N",
        help="refuse images with more than N pixels, read from the file header "
        "before decoding (default: the model's crop__max_pixels, "
        f"{DEFAULT_MAX_PIXELS} unless set otherwise)",
    )
    _add_cluster_options(predict)
    predict.add_argument(
        "--max-file-size",
        type=file_size,
        default=DEFAULT_MAX_FILE_SIZE,
        metavar="SIZE",
        help="refuse files larger than SIZE, e.g. 50M or 1G (default: "
        f"{size_text(DEFAULT_MAX_FILE_SIZE)})",
    )


def _add_cluster_options(predict) -> None:
    """``predict``'s options for a Dask cluster, in a group of their own."""
    cluster = predict.add_argument_group(
        "on a Dask cluster (needs skemotion[dask])",
        "With --output, the images are split into partitions predicted by the "
        "cluster's workers, each loading the model once; every partition becomes "
        "a Parquet file in DIR (path, face box, top-k labels, every class's "
        "probability, error). Running the same command again skips the "
        "partitions already written.",
    )
    cluster.add_argument("--output", metavar="DIR", help="folder of the result files")
    where = cluster.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a running scheduler, e.g. tcp://10.0.0.5:8786",
    )
    where.add_argument(
        "--local-cluster",
        type=positive_int,
        metavar="N",
        help="start a cluster of N worker processes on this machine, one thread each",
    )
    cluster.add_argument(
        "--partition-size",
        type=positive_int,
        metavar="N",
        help="images per partition (default: about 4 per worker)",
    )


def _add_check_parser(subparsers) -> None:
    check = subparsers.add_parser(
        "check",
        help="look for problems in a folder of labelled images before training",
        description="Audit DATA_DIR/<label>/* or DATA_DIR/{train,validation,test}/"
        "<label>/*: counts per class and split, class imbalance, unreadable files, "
        "byte-identical duplicates, the same image in two splits (leak) or under "
        "two labels (conflict), images with no face or several faces, sizes and "
        "modes. Exit status: 0 when no problem was found, 1 when some were, 2 on "
        "usage errors.",
    )
    options.data_dir(check, "the labelled images")
    options.output_format(check, ("text", "json"), "text for people, json for machines")
    options.detector(
        check,
        "face detector counting faces: "
        + ", ".join(
            f"{name} (default)" if name == "hog" else name
            for name in options.DETECTORS
            if name != "none"
        )
        + "; repeat to compare several (each one's no-face and several-face "
        "counts)",
        action="append",
        metavar="DETECTOR",
    )
    check.add_argument(
        "--no-faces", action="store_true", help="skip face detection (faster)"
    )
    options.strip_suffix(check)


def _add_evaluate_parser(subparsers) -> None:
    evaluate = subparsers.add_parser(
        "evaluate",
        help="measure a model on labelled images and write a report",
        description="Evaluate MODEL on DATA_DIR/test (else DATA_DIR/validation, "
        "else DATA_DIR/<label>/*): accuracy and per-class precision, recall and "
        "F1; with --report DIR, also a confusion-matrix PNG, a PNG of the worst "
        f"mistakes and a self-contained HTML report (model card). {options.TRUST}",
    )
    evaluate.add_argument("model", metavar="MODEL.joblib")
    options.data_dir(evaluate, "the labelled images")
    evaluate.add_argument("--report", metavar="DIR", help="write the report here")
    options.output_format(
        evaluate, ("text", "json"), "text for people, json for machines"
    )
    options.top_k(evaluate, "classes listed per mistake")
    options.strip_suffix(evaluate)


def _add_demo_parser(subparsers) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="reproduce the original post's experiment end to end",
        description="Fetch the original post's 6-class data (or use the copy in "
        "SKEMOTION_DATA), encode it, train, and report validation and "
        "cross-validated accuracy and a few top-k predictions, with the weights "
        "and precision used. Falls back to random VGG16 weights, and says so, "
        "when ImageNet weights cannot be downloaded.",
    )
    demo.add_argument(
        "--data-home",
        metavar="DIR",
        help="folder holding (or to receive) seed/; default: "
        "$SKEMOTION_DATA or ~/skemotion_data",
    )
    options.size(
        demo,
        None,
        "face crop side in pixels (default: the size an adapted weights "
        "file was trained on, else 224 as in the post)",
    )
    options.weights(demo, "fer2013", "the encoder's weights")
    options.precision(demo)
    demo.add_argument(
        "--folds",
        type=positive_int,
        default=5,
        help="cross-validation folds (default: 5)",
    )
    options.top_k(demo)
    demo.add_argument(
        "--n-examples",
        type=positive_int,
        default=4,
        help="validation images whose predictions are printed",
    )
    options.random_state(demo)
    options.output(demo, "MODEL.joblib", "also save the fitted pipeline here")


def _add_finetune_parser(subparsers) -> None:
    finetune = subparsers.add_parser(
        "finetune",
        help="adapt VGG16 to faces: train it on labelled images",
        description="Train VGG16 (its top --trainable-blocks blocks; 5: all, from "
        "scratch) with a dense head on DATA_DIR/<label>/<image> or "
        "DATA_DIR/train/<label>/<image>, with the recipe for faces (per-image "
        "standardisation, batch normalisation folded at export, warm-up and "
        "cosine learning rate, label smoothing, augmentation, early stopping), "
        "then write the adapted convolutional weights, with a record of how they "
        "were made, to OUTPUT for VGG16Encoder(weights=OUTPUT), i.e. `skemotion "
        "train --param encode__weights=OUTPUT`. With --checkpoint-dir, every "
        "completed epoch is saved and running the same command again resumes. "
        "Accuracy on DATA_DIR/test (else DATA_DIR/validation) is reported.",
    )
    options.data_dir(finetune, "the labelled images")
    options.output(
        finetune,
        "FILE.weights.h5",
        "where to write the adapted encoder weights",
        required=True,
    )
    options.weights(finetune, "imagenet", "where training starts")
    finetune.add_argument(
        "--trainable-blocks",
        type=int,
        default=2,
        choices=range(0, 6),
        metavar="N",
        help="train the top N of the 5 blocks (default: 2; 5: all)",
    )
    finetune.add_argument("--epochs", type=positive_int, default=30)
    options.size(finetune, 224, "face crop side in pixels (default: 224; FER2013: 48)")
    options.detector(
        finetune,
        "face detector (default: hog; 'none' for images that are already face crops)",
        default="hog",
    )
    finetune.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        help="save every epoch here and resume from it",
    )
    finetune.add_argument("--no-augment", action="store_true")
    finetune.add_argument(
        "--no-cache-frozen",
        action="store_true",
        help="run the frozen blocks every epoch (fresh augmentation each batch) "
        "instead of caching their activations once",
    )
    options.precision(finetune)
    options.random_state(finetune)
    options.params(finetune, "finetune__learning_rate=1e-3 or finetune__batch_size=32")
    finetune.add_argument(
        "--model",
        metavar="MODEL.joblib",
        help="also save the fine-tuned pipeline (it predicts by itself)",
    )
    options.strip_suffix(finetune)


#: ``skemotion video --detect-every``'s default: the detector on one sampled
#: frame in 3, faces followed between (benchmarks/README.md, "Videos").
VIDEO_DETECT_EVERY = 3


def _add_video_parser(subparsers) -> None:
    video = subparsers.add_parser(
        "video",
        help="label every face of a video over time, one track per person",
        description="Sample a video's frames, find every face, follow each person "
        "with a track id, classify the faces with the model and write one row per "
        "(frame, face) to OUTPUT (.csv, or .parquet: a folder of files): frame, "
        "time in seconds, track, face box, top-k labels and every class's "
        "probability; OUTPUT.json describes the run. Memory stays flat whatever "
        "the video's length; --resume continues an interrupted run. "
        f"{options.READY_SENTENCE} {options.TRUST}",
    )
    video.add_argument("video", metavar="VIDEO")
    # VIDEO after the model, the spelling before --model
    video.add_argument("old_video", nargs="?", help=argparse.SUPPRESS)
    options.model(video)
    options.engine(video)
    options.output(video, "OUT.csv|OUT.parquet", "the table of results", required=True)
    sampling = video.add_mutually_exclusive_group()
    sampling.add_argument(
        "--every",
        type=positive_int,
        metavar="N",
        help="sample one frame in N (default: every frame)",
    )
    sampling.add_argument(
        "--fps",
        type=positive_float,
        metavar="F",
        help="sample F frames per second of video",
    )
    video.add_argument("--start", type=seconds, metavar="S", help="from S seconds")
    video.add_argument("--end", type=seconds, metavar="S", help="to S seconds")
    video.add_argument(
        "--max-frames", type=positive_int, metavar="N", help="sample N frames at most"
    )
    options.top_k(video)
    options.detector(
        video,
        "find faces with this detector (default: the fastest that runs here, "
        "not the model's own: yunet, on LiteRT or on the yuface package, else "
        "hog, as skemotion.preprocessing.fast_detector() says)",
    )
    video.add_argument(
        "--detect-every",
        type=positive_int,
        default=VIDEO_DETECT_EVERY,
        metavar="K",
        help="run the detector on one sampled frame in K and follow each face "
        "between (optical flow); 1: detect on every frame (default: "
        f"{VIDEO_DETECT_EVERY}: 1.5 to 2 times the frames per second of 1 with "
        "YuNet, the followed boxes overlapping the detector's with a mean IoU "
        "of 0.93-0.95)",
    )
    video.add_argument(
        "--resume", action="store_true", help="continue an interrupted run from OUTPUT"
    )
    video.add_argument(
        "--timeline",
        metavar="DIR",
        help="write a PNG per person: each emotion against time",
    )
    video.add_argument(
        "--smooth",
        type=positive_int,
        default=1,
        metavar="N",
        help="moving average of N samples in the timelines (the "
        "table keeps the raw values)",
    )
    video.add_argument(
        "--annotate",
        metavar="OUT.mp4",
        help="write the sampled frames with boxes, track ids and labels drawn",
    )


def _add_serve_parser(subparsers) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="serve a model: a web page and a JSON API on this machine",
        description="Serve a model: a web page at / (choose or drop a photo; every "
        "face boxed and labelled) and a JSON API (POST /v1/predict, GET /v1/model, "
        "GET /healthz, GET /openapi.json). Listens on 127.0.0.1 unless told "
        "otherwise; listening on another address needs --allow-remote and a token "
        "(SKEMOTION_TOKEN or --token-file), which every API request must then "
        "send as 'Authorization: Bearer TOKEN'. Needs skemotion[serve]. "
        f"{options.READY_SENTENCE} {options.TRUST}",
    )
    # the model as a positional, the spelling before --model
    serve.add_argument("old_model", nargs="?", help=argparse.SUPPRESS)
    options.model(serve)
    options.engine(serve)
    options.model_detector(serve)
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine)",
    )
    serve.add_argument("--port", type=positive_int, default=8000)
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow an address other machines reach (needs a token)",
    )
    serve.add_argument(
        "--token-file",
        metavar="FILE",
        help="a file holding the token (else $SKEMOTION_TOKEN)",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
        help="a web origin allowed to call the API from a browser "
        "(none by default); repeat for several",
    )
    serve.add_argument(
        "--max-request-size",
        type=file_size,
        default=10_000_000,
        metavar="SIZE",
        help="bigger requests get 413 (default: 10M)",
    )
    serve.add_argument(
        "--max-files",
        type=positive_int,
        default=8,
        metavar="N",
        help="images per request at most (default: 8)",
    )
    serve.add_argument(
        "--queue",
        type=positive_int,
        default=64,
        metavar="N",
        help="images waiting at most; beyond, 503 (default: 64)",
    )
    _add_serve_limits(serve)


def _add_serve_limits(serve) -> None:
    """The serve options for slow clients, connections and the access log."""
    serve.add_argument(
        "--face-threads",
        type=positive_int,
        metavar="N",
        help="threads finding faces side by side (default: one per core, 4 at most)",
    )
    serve.add_argument(
        "--max-connections",
        type=positive_int,
        default=1000,
        metavar="N",
        help="open connections at most; beyond, 503 (default: 1000)",
    )
    serve.add_argument(
        "--header-timeout",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="a request's headers must arrive within this time, else the "
        "connection is closed (default: 10)",
    )
    serve.add_argument(
        "--body-timeout",
        type=positive_float,
        default=60.0,
        metavar="SECONDS",
        help="a request's body must arrive within this time, else 408 (default: 60)",
    )
    serve.add_argument(
        "--access-log",
        choices=("text", "json", "off"),
        default="text",
        help="a line per request on standard error: text, JSON lines, or off "
        "(default: text)",
    )
    serve.add_argument(
        "--access-log-file",
        metavar="FILE",
        help="append the access log to FILE rather than standard error",
    )
