"""Videos: frames per second processed, against encoding the same crops alone.

Videos are made here from real face photos of ``face-count/single_face``
(OpenCV's ``VideoWriter``, MJPG, 640x360 at 25 fps, faces drifting across a
gray background), with 1 and 3 faces in every frame. For each crop size (48
and 224) and face count, in a fresh process (so peak memory is its own):

* ``predict_video`` on every frame of the video (HOG detector, the model's
  cropper, the producer thread detecting while the network classifies):
  frames per second of video processed, faces per second;
* the same crops (found once beforehand), converted to gray and encoded by the
  same fitted pipeline, alone: faces per second;
* the ratio of the two (the goal: at least 0.7).

Then peak memory against video length: a 1-minute and a 10-minute video
(320x240, 10 fps, one face), sampled at 2 frames a second with 48x48 crops,
each in a fresh process: if memory is bounded the peaks are equal.

Seeded random weights (speed does not depend on them); precision "auto"
(bfloat16 where the CPU has it).

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/video.py [--frames 100]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import machine, peak_rss_mib, shared_data

PHOTOS = (
    "facerec_obama.jpg",
    "skimage_astronaut.png",
    "dlib_Tom_Cruise_avp_2014_4.jpg",
)


def _faces(data: Path, side: int) -> list[np.ndarray]:
    """Face patches (BGR, side x side) cut from real photos."""
    import cv2

    from skemotion import FaceCropper

    folder = data / "face-count" / "single_face"
    crops = FaceCropper(size=side, margin=0.6, progress=False).transform(
        [str(folder / name) for name in PHOTOS]
    )
    return [cv2.cvtColor(c, cv2.COLOR_RGB2BGR) for c in crops]


def make_video(path: Path, faces, n_faces: int, n_frames: int, width: int,
               height: int, fps: float) -> Path:  # fmt: skip
    """Faces drifting left and right on gray, one row each."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps,
                             (width, height))  # fmt: skip
    side = faces[0].shape[0]
    span = width - side
    rows = np.linspace(0, height - side, n_faces + 2)[1:-1].astype(int)
    if n_faces > 1:  # side by side when they do not fit one above the other
        rows = np.full(n_faces, (height - side) // 2)
    for i in range(n_frames):
        canvas = np.full((height, width, 3), 128, np.uint8)
        for k in range(n_faces):
            slot = span // n_faces
            x = k * slot + int((slot - side) * (0.5 + 0.5 * np.sin(i / 15 + k)))
            x = min(max(x, 0), span)
            canvas[rows[k] : rows[k] + side, x : x + side] = faces[k % len(faces)]
        writer.write(canvas)
    writer.release()
    return path


def make_model(data: Path, size: int, path: Path) -> Path:
    """The standard pipeline fitted on a few seed photos, saved."""
    from skemotion import load_image_folder, make_emotion_pipeline, save_model

    paths, labels = load_image_folder(data / "seed" / "train")
    rng = np.random.default_rng(0)
    pick = rng.choice(len(paths), 24, replace=False)
    pipe = make_emotion_pipeline(
        crop__size=size, crop__progress=False,
        encode__weights=None, encode__random_state=0, encode__progress=False,
        classify__epochs=1, classify__random_state=0, classify__progress=False,
    ).fit([paths[i] for i in pick], [labels[i] for i in pick])  # fmt: skip
    return save_model(pipe, path)


def child_speed(model_file: str, video: str, work: str) -> dict:
    """In a fresh process: the video, then its crops encoded alone."""
    import cv2

    from skemotion import load_model
    from skemotion.video import predict_video

    model = load_model(model_file)
    predict_video(model, video, Path(work) / "warm.csv", max_frames=8, progress=False)
    t = time.perf_counter()
    result = predict_video(model, video, Path(work) / "out.csv", progress=False)
    seconds = time.perf_counter() - t
    n_faces = result.n_rows
    # the same crops, found again here, then encoded alone
    capture = cv2.VideoCapture(video)
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    crop = model.named_steps["crop"]
    crops = [c for _, _, cs, err in crop.crop_each(frames, all_faces=True)
             if err is None for c in cs]  # fmt: skip
    crops = np.stack(crops)
    encode = model[1:-1]
    encode.transform(crops[:16])  # warm up
    t = time.perf_counter()
    encode.transform(crops)
    encode_seconds = time.perf_counter() - t
    return {
        "frames": result.n_frames,
        "faces": n_faces,
        "video_fps": result.n_frames / seconds,
        "faces_per_s": n_faces / seconds,
        "encode_faces_per_s": len(crops) / encode_seconds,
        "peak_rss_mib": peak_rss_mib(),
    }


def child_memory(model_file: str, video: str, work: str) -> dict:
    """In a fresh process: a long video sampled at 2 frames a second."""
    from skemotion import load_model
    from skemotion.video import predict_video

    model = load_model(model_file)
    t = time.perf_counter()
    result = predict_video(model, video, Path(work) / "long.parquet", fps=2.0,
                           progress=False)  # fmt: skip
    return {
        "frames": result.n_frames,
        "rows": result.n_rows,
        "seconds": time.perf_counter() - t,
        "peak_rss_mib": peak_rss_mib(),
    }


def _run_child(kind: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, *args],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=100,
                        help="frames in each speed video (25 fps)")  # fmt: skip
    parser.add_argument("--skip-memory", action="store_true",
                        help="skip the 1- and 10-minute videos")  # fmt: skip
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = (child_speed if kind == "speed" else child_memory)(*rest)
        print(json.dumps(result))
        return

    data = shared_data()
    print(f"Machine: {machine()}; {time.strftime('%Y-%m-%d')}")
    print("Weights: random (seed 0); precision auto; detector HOG\n")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        faces = _faces(data, 110)
        rows = []
        for size in (48, 224):
            model = make_model(data, size, work / f"model-{size}.joblib")
            for n_faces in (1, 3):
                video = make_video(work / f"v{n_faces}.avi", faces, n_faces,
                                   args.frames, 640, 360, 25.0)  # fmt: skip
                r = _run_child("speed", str(model), str(video), str(work))
                rows.append((size, n_faces, r))
                print(f"  {size}px, {n_faces} face(s): {r}", flush=True)
        print(f"\nSpeed ({args.frames} frames of 640x360, every frame sampled):\n")
        print("| crop | faces/frame | video frames/s | faces/s | "
              "crops encoded alone, faces/s | ratio | peak RSS |")  # fmt: skip
        print("|---|---|---|---|---|---|---|")
        for size, n_faces, r in rows:
            print(
                f"| {size}x{size} | {n_faces} | {r['video_fps']:.1f} | "
                f"{r['faces_per_s']:.1f} | {r['encode_faces_per_s']:.1f} | "
                f"{r['faces_per_s'] / r['encode_faces_per_s']:.2f} | "
                f"{r['peak_rss_mib']:.0f} MiB |"
            )
        if args.skip_memory:
            return
        small = _faces(data, 90)
        model = work / "model-48.joblib"
        print("\nPeak memory against length (320x240, 10 fps, one face, "
              "sampled at 2 frames/s, 48x48, Parquet output):\n")  # fmt: skip
        print("| video | frames in file | sampled | rows | seconds | peak RSS |")
        print("|---|---|---|---|---|---|")
        for minutes in (1, 10):
            video = make_video(work / f"long{minutes}.avi", small, 1,
                               minutes * 600, 320, 240, 10.0)  # fmt: skip
            r = _run_child("memory", str(model), str(video), str(work))
            print(
                f"| {minutes} min | {minutes * 600} | {r['frames']} | {r['rows']} | "
                f"{r['seconds']:.0f} | {r['peak_rss_mib']:.0f} MiB |",
                flush=True,
            )
            video.unlink()


if __name__ == "__main__":
    main()
