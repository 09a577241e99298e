"""The commands that fit a pipeline: ``train``, ``finetune`` and ``demo``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ._inputs import data_layout, load_split
from ._output import EXIT_OK, UsageError
from ._pipelines import build_pipeline, parse_params, set_progress

__all__ = ["demo", "finetune", "train"]


def _report_held_out(pipeline, layout, strip_suffix: str | None) -> None:
    """Print the fitted pipeline's accuracy on DATA_DIR's held-out split."""
    held_out = layout.held_out
    if held_out is None:
        return
    name, root = held_out
    paths, labels = load_split(root, strip_suffix)
    accuracy = pipeline.score(paths, labels)
    print(f"{name.capitalize()} accuracy: {accuracy:.1%} on {len(paths)} images")


def _training_split(layout, strip_suffix: str | None):
    """DATA_DIR's training images and labels; one class is a usage error,
    said before any work (a network cannot learn from one)."""
    paths, labels = load_split(layout.train, strip_suffix)
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise UsageError(
            f"{layout.train} holds images of one class only ({classes[0]}): "
            "training needs a folder of images for each of at least 2 classes"
        )
    return paths, labels


def _network_line(step) -> str:
    return f"weights {step.weights_used_}, precision {step.precision_}"


def train(args) -> int:
    from ..persistence import save_model
    from ..pipeline import make_emotion_pipeline

    layout = data_layout(args.data_dir)
    paths, labels = _training_split(layout, args.strip_suffix)
    pipeline = build_pipeline(parse_params(args.param), make_emotion_pipeline)
    set_progress(pipeline, args.progress)
    print(
        f"Training on {len(paths)} images from {layout.train}, "
        f"classes: {', '.join(sorted(set(labels)))}"
    )
    start = time.perf_counter()
    pipeline.fit(paths, labels)
    print(
        f"Trained in {time.perf_counter() - start:.1f} s; encoder "
        f"{_network_line(pipeline.named_steps['encode'])}"
    )
    _report_held_out(pipeline, layout, args.strip_suffix)
    output = save_model(pipeline, args.output)
    print(f"Model saved to {output} (load only model files you trust)")
    return EXIT_OK


def finetune(args) -> int:
    output = Path(args.output)
    if not output.name.endswith(".weights.h5"):
        raise UsageError(f"--output {output}: the file name must end in .weights.h5")
    layout = data_layout(args.data_dir)
    paths, labels = _training_split(layout, args.strip_suffix)
    from ..persistence import save_model
    from ..pipeline import make_finetune_pipeline

    params = {
        "crop__detector": args.detector,
        "crop__size": args.size,
        "finetune__weights": args.weights,
        "finetune__trainable_blocks": args.trainable_blocks,
        "finetune__epochs": args.epochs,
        "finetune__random_state": args.random_state,
        "finetune__checkpoint_dir": args.checkpoint_dir,
        "finetune__augment": not args.no_augment,
        "finetune__cache_frozen": not args.no_cache_frozen,
        "finetune__precision": args.precision,
        **parse_params(args.param),
    }
    pipeline = build_pipeline(params, make_finetune_pipeline)
    set_progress(pipeline, args.progress)
    tuner = pipeline.named_steps["finetune"]
    print(
        f"Fine-tuning VGG16 (top {tuner.trainable_blocks} of 5 blocks) on "
        f"{len(paths)} images from {layout.train}, classes: "
        f"{', '.join(sorted(set(labels)))}"
    )
    start = time.perf_counter()
    try:
        pipeline.fit(paths, labels)
    except KeyboardInterrupt:
        if tuner.checkpoint_dir is not None:
            print(
                f"Interrupted: completed epochs are saved in {tuner.checkpoint_dir}; "
                "run the same command again to resume",
                file=sys.stderr,
            )
        raise
    print(tuner.format_history())
    print(f"Trained in {time.perf_counter() - start:.1f} s from {_network_line(tuner)}")
    tuner.export_weights(output, training_files=paths)
    print(
        f"Adapted encoder weights saved to {output}; use them with `skemotion "
        f"train DATA_DIR --param encode__weights='{output}' --param "
        f"crop__size={tuner.input_shape_[0]} ...`"
    )
    _report_held_out(pipeline, layout, args.strip_suffix)
    if args.model:
        saved = save_model(pipeline, args.model)
        print(f"Fine-tuned pipeline saved to {saved} (load only model files you trust)")
    return EXIT_OK


def demo(args) -> int:
    from ..demo import run_demo
    from ..exceptions import WeightsError

    print(
        "skemotion demo: the original post's experiment, 'Building Emotional "
        "State Predictor using Deep Learning' (2018); a few minutes..."
    )
    sys.stdout.flush()
    try:
        result = run_demo(
            args.data_home,
            weights=args.weights,
            size=args.size,
            precision=args.precision,
            folds=args.folds,
            top_k=args.top_k,
            n_examples=args.n_examples,
            random_state=args.random_state,
            progress=args.progress,
        )
    except WeightsError as exc:
        if args.weights not in (None, "imagenet") and not Path(args.weights).is_file():
            raise UsageError(str(exc)) from None
        raise
    print(result.format_text())
    if args.output:
        from ..persistence import save_model

        saved = save_model(result.pipeline, args.output)
        print(f"Fitted pipeline saved to {saved}")
    return EXIT_OK
