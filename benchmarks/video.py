"""Videos: frames per second processed, against encoding the same crops alone.

Videos are made here from real face photos of ``face-count/single_face``
(OpenCV's ``VideoWriter``, MJPG, 640x360 at 25 fps, faces drifting across a
gray background), with 1 and 3 faces in every frame. For each crop size (48
and 224), face count and way of finding faces (before: HOG on every frame;
after: YuNet on every frame, and on one frame in 3 and in 5 with the faces
followed between), in a fresh process (so peak memory is its own):

* ``predict_video`` on every frame of the video (decoding, finding faces and
  classifying in three threads): frames per second of video in the steady
  state (the call's setup, measured by a 1-frame run, taken off), faces per
  second, and the process's CPU time per frame (all threads: on a machine
  others share, where wall times lie, it says where the time goes);
* the same crops (cut again from the table's boxes), converted to gray and
  encoded by the same fitted pipeline, alone: faces per second;
* the ratio of the two (the goal: at least 0.5 with one face at 48x48, 0.6
  with three).

With ``--ready``, the same for the ready model as ``skemotion video`` runs
it (``load_pretrained()``: the compiled engine, flip averaging; and without
it, ``tta=None``), against issue 31's yardstick: the same crops through the
ready model's gray and encoder on TensorFlow (bfloat16 where the CPU has it).
The yardstick is the best of three runs.

Then the accuracy cost of following faces between detections: the ready
model (FER2013) with YuNet on every frame (k=1) against one frame in 3 and
in 5, on the two drifting videos, on real footage (the seed data's 35-frame
GIF of a grimacing face, played forth and back, drifting on a 640x360
canvas) and on a camera move (pan and 1.4x zoom) over a real photo of three
people: on the frames where k=3 or 5 followed the faces, the mean IoU of the
followed boxes with the boxes detected there, the share of detected faces
that got a followed box, top-label agreement and the mean absolute
difference of the probabilities.

Then what the threads give: the share of its own speed a pure-Python thread
keeps while another detects (YuNet, HOG) or decodes, and YuNet's time per
frame with OpenMP's default threads (2 here) and with one; and peak memory
against video length: a 1-minute and a 10-minute video (320x240, 10 fps, one
face), sampled at 2 frames a second with 48x48 crops, each in a fresh
process: if memory is bounded the peaks are equal.

Seeded random weights for the speed rows (speed does not depend on them);
precision "auto" (bfloat16 where the CPU has it).

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/video.py [--frames 100]
        [--sizes 48 224] [--skip-accuracy] [--skip-memory]
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


#: The ways of finding faces compared: (label, detector, detect_every).
CONFIGS = (
    ("before", "hog", 1),
    ("after", "yunet", 1),
    ("after (CLI default)", "yunet", 3),
    ("after", "yunet", 5),
)


def _rgb_frames(video: str) -> list[np.ndarray]:
    import cv2

    capture = cv2.VideoCapture(video)
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            return frames
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def _model(model_file: str):
    """The model a child runs: "ready" (the ready model on its own engine),
    "ready-no-tta" (the same without flip averaging) or a model file."""
    from skemotion import load_model, load_pretrained

    if not model_file.startswith("ready"):
        return load_model(model_file)
    model = load_pretrained()
    if model_file == "ready-no-tta":
        model.set_params(tta=None)
    return model


def child_speed(model_file: str, video: str, work: str, detector: str,
                detect_every: str) -> dict:  # fmt: skip
    """In a fresh process: the video, then its crops encoded alone.

    Frames per second in the steady state: a run of the whole video less a
    run of its first frame, which holds what each call costs once (hashing
    the model for the sidecar, opening the video, loading the detector)."""
    from skemotion import load_pretrained
    from skemotion.video import predict_video

    model = _model(model_file)
    kwargs = {"detector": detector, "detect_every": int(detect_every),
              "progress": False}  # fmt: skip
    # two full batches and a short one: the network is compiled for any size
    predict_video(model, video, Path(work) / "warm.csv", max_frames=40, **kwargs)
    t, cpu = time.perf_counter(), _cpu_seconds()
    predict_video(model, video, Path(work) / "one.csv", max_frames=1, **kwargs)
    setup, setup_cpu = time.perf_counter() - t, _cpu_seconds() - cpu
    t, cpu = time.perf_counter(), _cpu_seconds()
    result = predict_video(model, video, Path(work) / "out.csv", **kwargs)
    seconds = time.perf_counter() - t - setup
    cpu = _cpu_seconds() - cpu - setup_cpu
    steady = result.n_frames - 1
    n_faces = result.n_rows
    # the same crops, cut again from the table's boxes, then encoded alone
    table, frames = result.read(), _rgb_frames(video)
    crop = model.named_steps["crop"]
    box = ["face_left", "face_top", "face_right", "face_bottom"]
    crops = np.concatenate([crop.crop_boxes(frames[f], rows[box].to_numpy())
                            for f, rows in table.groupby("frame")])  # fmt: skip
    if model_file.startswith("ready"):
        # issue 31's yardstick: its encoder on TensorFlow (bfloat16 "auto"),
        # loaded only now: TensorFlow's idle threads would cost the video CPU
        encode = load_pretrained(engine="tensorflow")[1:-1]
    else:
        encode = model[1:-1]
    encode.transform(crops[:40])  # warm up: a full batch (32) and a short one
    encode_seconds = encode_cpu = float("inf")
    for _ in range(3):  # the best of three: a busy moment lowers one run
        start, start_cpu = time.perf_counter(), _cpu_seconds()
        encode.transform(crops)
        encode_seconds = min(encode_seconds, time.perf_counter() - start)
        encode_cpu = min(encode_cpu, _cpu_seconds() - start_cpu)
    return {
        "frames": result.n_frames,
        "faces": n_faces,
        "tracks": result.n_tracks,
        "setup_s": setup,
        "video_fps": steady / seconds,
        "faces_per_s": n_faces * steady / result.n_frames / seconds,
        "encode_faces_per_s": len(crops) / encode_seconds,
        "cpu_ms_per_frame": 1000 * cpu / steady,
        "encode_cpu_ms_per_face": 1000 * encode_cpu / len(crops),
        "peak_rss_mib": peak_rss_mib(),
    }


def _cpu_seconds() -> float:
    """CPU time of this process so far (all its threads), in seconds."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def real_footage_video(data: Path, path: Path) -> Path:
    """The seed data's GIF of a grimacing face (35 frames of real footage),
    forth and back, 300x300, drifting on a gray 640x360 canvas, 10 fps."""
    import cv2
    from PIL import Image

    gif = Image.open(data / "seed/validation/disgust_face/michael-scott-disgusted.gif")
    frames = []
    for i in range(gif.n_frames):
        gif.seek(i)
        frames.append(np.asarray(gif.convert("RGB"))[:, :, ::-1])
    frames += frames[::-1][1:]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0,
                             (640, 360))  # fmt: skip
    for i, frame in enumerate(frames):
        canvas = np.full((360, 640, 3), 128, np.uint8)
        x = int(170 + 150 * np.sin(i / 12))
        canvas[30:330, x : x + 300] = cv2.resize(frame, (300, 304))[:300]
        writer.write(canvas)
    writer.release()
    return path


def camera_move_video(data: Path, path: Path, n_frames: int = 100) -> Path:
    """A camera panning over a real photo of three people and zooming in 1.4
    times, with a little hand shake: 640x360, 25 fps."""
    import cv2

    photo = cv2.imread(str(data / "face-count/multi_face/facerec_obama_and_biden.jpg"))
    h, w = photo.shape[:2]
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0,
                             (640, 360))  # fmt: skip
    for i in range(n_frames):
        t = i / (n_frames - 1)
        zoom = 1.0 + 0.4 * t
        half = np.array([800, 450]) / zoom
        centre = np.array([w / 2 + 150 * np.sin(2 * np.pi * t),
                           h / 2 - 100 + 40 * np.cos(2 * np.pi * t)])  # fmt: skip
        centre += rng.normal(0, 2, 2)
        corner = np.array([half[0], -half[1]])
        src = np.float32([centre - half, centre + corner, centre - corner])
        dst = np.float32([[0, 0], [640, 0], [0, 360]])
        matrix = cv2.getAffineTransform(src, dst)
        writer.write(cv2.warpAffine(photo, matrix, (640, 360), flags=cv2.INTER_AREA))
    writer.release()
    return path


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    left, top = np.maximum(a[:2], b[:2])
    right, bottom = np.minimum(a[2:], b[2:])
    inter = max(0.0, right - left) * max(0.0, bottom - top)
    union = np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter
    return float(inter / union) if union > 0 else 0.0


def _compare(detected, followed, every: int) -> dict:
    """On the frames ``followed`` (a table of detect_every=every) did not
    detect on: its boxes against ``detected``'s (detect_every=1)."""
    box = ["face_left", "face_top", "face_right", "face_bottom"]
    proba = [c for c in detected.columns if c.startswith("proba_")]
    frames = sorted(set(detected["frame"]) | set(followed["frame"]))
    position = {f: i for i, f in enumerate(frames)}  # every frame sampled here
    ious, agree, diffs, n_detected = [], [], [], 0
    for frame, rows in detected.groupby("frame"):
        if position[frame] % every == 0:
            continue  # detected by both: the same rows
        there = followed[followed["frame"] == frame]
        n_detected += len(rows)
        for _, row in rows.iterrows():
            overlaps = [_iou(row[box].to_numpy(float), other[box].to_numpy(float))
                        for _, other in there.iterrows()]  # fmt: skip
            if not overlaps or max(overlaps) < 0.3:
                continue  # no followed box for this face
            other = there.iloc[int(np.argmax(overlaps))]
            ious.append(max(overlaps))
            agree.append(row["label_1"] == other["label_1"])
            diffs.append(np.abs(row[proba].to_numpy(float)
                                - other[proba].to_numpy(float)).mean())  # fmt: skip
    return {
        "k": every,
        "faces_compared": n_detected,
        "kept": len(ious) / n_detected if n_detected else float("nan"),
        "mean_iou": float(np.mean(ious)),
        "min_iou": float(np.min(ious)),
        "label_agreement": float(np.mean(agree)),
        "mean_abs_proba_diff": float(np.mean(diffs)),
        "tracks": int(followed["track"].nunique()),
    }


def child_accuracy(videos: str, work: str) -> dict:
    """In a fresh process: the ready model, YuNet, k = 1, 3 and 5 compared."""
    from skemotion import load_pretrained
    from skemotion.video import predict_video

    model = load_pretrained()
    out = {}
    for name, video in json.loads(videos).items():
        tables, seconds = {}, {}
        for k in (1, 3, 5):
            t = time.perf_counter()
            result = predict_video(model, video, Path(work) / f"acc-{k}.csv",
                                   detector="yunet", detect_every=k,
                                   progress=False)  # fmt: skip
            seconds[k] = time.perf_counter() - t
            tables[k] = result.read()
        out[name] = {
            "frames": int(tables[1]["frame"].nunique()),
            "faces": len(tables[1]),
            "tracks": int(tables[1]["track"].nunique()),
            "seconds": seconds,
            "rows": [_compare(tables[1], tables[k], k) for k in (3, 5)],
        }
    return out


def _python_share(work) -> float:
    """How much of its speed alone a pure-Python thread keeps while ``work``
    runs in a loop beside it (1: ``work`` lets go of the GIL; 2 cores)."""
    import threading

    def count(stop, counter):
        while not stop:
            counter[0] += 1

    def run(busy) -> float:
        stop, counter = [], [0]
        thread = threading.Thread(target=count, args=(stop, counter))
        thread.start()
        t = time.perf_counter()
        while time.perf_counter() - t < 2.0:
            busy()
        stop.append(1)
        thread.join()
        return counter[0] / (time.perf_counter() - t)

    return run(work) / run(lambda: time.sleep(0.01))


def child_threads(video: str) -> dict:
    """In a fresh process: what a detector or the decoder leaves the other
    threads, and YuNet's time per frame with OpenMP's threads and with one."""
    import cv2
    from threadpoolctl import threadpool_limits

    from skemotion.preprocessing import detect_faces

    frames = _rgb_frames(video)[:40]
    detect_faces(frames[0], "yunet")  # loads yuface and its OpenMP

    def per_frame(detector: str) -> float:
        t = time.perf_counter()
        for frame in frames:
            detect_faces(frame, detector)
        return (time.perf_counter() - t) / len(frames) * 1000

    def decode():
        capture = cv2.VideoCapture(video)
        for _ in range(10):
            capture.read()

    t = time.perf_counter()
    n = len(_rgb_frames(video))
    decode_ms = (time.perf_counter() - t) / n * 1000
    out = {"decode_ms": decode_ms, "yunet_ms_openmp_default": per_frame("yunet")}
    with threadpool_limits(1, user_api="openmp"):
        out["yunet_ms_openmp_1"] = per_frame("yunet")
        out["python_share_yunet"] = _python_share(
            lambda: detect_faces(frames[0], "yunet")
        )
    out["hog_ms"] = per_frame("hog")
    out["python_share_hog"] = _python_share(lambda: detect_faces(frames[0], "hog"))
    out["python_share_decode"] = _python_share(decode)
    return out


def child_memory(model_file: str, video: str, work: str) -> dict:
    """In a fresh process: a long video sampled at 2 frames a second."""
    from skemotion.video import predict_video

    model = _model(model_file)
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


CHILDREN = {
    "speed": child_speed,
    "memory": child_memory,
    "accuracy": child_accuracy,
    "threads": child_threads,
}


#: The ready model's rows (``--ready``): (label, model, detector, detect_every).
READY_CONFIGS = (
    ("ready model", "ready", "yunet", 1),
    ("ready model (CLI default)", "ready", "yunet", 3),
    ("ready model", "ready", "yunet", 5),
    ("ready model, tta=None", "ready-no-tta", "yunet", 3),
    ("ready model, tta=None", "ready-no-tta", "yunet", 5),
)


def speed_table(data: Path, work: Path, sizes, n_frames: int, ready: bool) -> None:
    faces = _faces(data, 110)
    rows = []
    plans = []
    for size in sizes:
        model = make_model(data, size, work / f"model-{size}.joblib")
        plans.append((size, [(label, model, detector, k)
                             for label, detector, k in CONFIGS]))  # fmt: skip
    if ready:
        plans.append((48, READY_CONFIGS))
    for size, configs in plans:
        for n_faces in (1, 3):
            video = make_video(work / f"v{n_faces}.avi", faces, n_faces,
                               n_frames, 640, 360, 25.0)  # fmt: skip
            for label, model, detector, k in configs:
                r = _run_child("speed", str(model), str(video), str(work),
                               detector, str(k))  # fmt: skip
                rows.append((size, n_faces, label, detector, k, r))
                print(f"  {size}px, {n_faces} face(s), {detector}, k={k}: {r}",
                      flush=True)  # fmt: skip
    print(f"\nSpeed ({n_frames} frames of 640x360, every frame sampled; frames/s "
          "in the steady state, less the setup of a call):\n")  # fmt: skip
    print("| crop | faces/frame | | detector | detect_every | video frames/s | "
          "faces/s | crops encoded alone, faces/s | ratio | CPU ms/frame "
          "(encoding alone: per face) | peak RSS |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for size, n_faces, label, detector, k, r in rows:
        print(
            f"| {size}x{size} | {n_faces} | {label} | {detector} | {k} | "
            f"{r['video_fps']:.1f} | {r['faces_per_s']:.1f} | "
            f"{r['encode_faces_per_s']:.1f} | "
            f"{r['faces_per_s'] / r['encode_faces_per_s']:.2f} | "
            f"{r['cpu_ms_per_frame']:.1f} ({r['encode_cpu_ms_per_face']:.1f}) | "
            f"{r['peak_rss_mib']:.0f} MiB |"
        )


def accuracy_table(data: Path, work: Path) -> None:
    faces = _faces(data, 110)
    videos = {
        "drifting, 1 face": make_video(work / "a1.avi", faces, 1, 100, 640, 360, 25.0),
        "drifting, 3 faces": make_video(work / "a3.avi", faces, 3, 100, 640, 360, 25.0),
        "real footage (GIF)": real_footage_video(data, work / "gif.avi"),
        "camera move, real photo": camera_move_video(data, work / "pan.avi"),
    }
    result = _run_child("accuracy", json.dumps({k: str(v) for k, v in videos.items()}),
                        str(work))  # fmt: skip
    print("\nAccuracy of following (ready model, YuNet; on the frames k>1 did not "
          "detect on, against detecting there):\n")  # fmt: skip
    print("| video | frames | faces (k=1) | k | faces followed | mean IoU | min IoU | "
          "top label agrees | mean abs. proba diff. | tracks | seconds |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in result.items():
        for row in r["rows"]:
            k = row["k"]
            print(
                f"| {name} | {r['frames']} | {r['faces']} | {k} | "
                f"{row['kept']:.3f} of {row['faces_compared']} | "
                f"{row['mean_iou']:.3f} | {row['min_iou']:.3f} | "
                f"{row['label_agreement']:.3f} | {row['mean_abs_proba_diff']:.4f} | "
                f"{row['tracks']} (k=1: {r['tracks']}) | "
                f"{r['seconds'][str(k)]:.1f} (k=1: {r['seconds']['1']:.1f}) |"
            )


def threads_table(data: Path, work: Path) -> None:
    faces = _faces(data, 110)
    video = make_video(work / "t1.avi", faces, 1, 50, 640, 360, 25.0)
    r = _run_child("threads", str(video))
    print(
        "\nThreads (640x360, one face): a pure-Python thread beside one that "
        f"detects with YuNet keeps {r['python_share_yunet']:.2f} of its speed "
        f"alone, beside HOG {r['python_share_hog']:.2f}, beside the decoder "
        f"{r['python_share_decode']:.2f}. YuNet: "
        f"{r['yunet_ms_openmp_default']:.1f} ms a frame with OpenMP's default "
        f"threads, {r['yunet_ms_openmp_1']:.1f} ms with one; HOG "
        f"{r['hog_ms']:.1f} ms; decoding (MJPG) {r['decode_ms']:.2f} ms."
    )


def memory_table(data: Path, work: Path) -> None:
    small = _faces(data, 90)
    model = work / "model-48.joblib"
    if not model.exists():
        make_model(data, 48, model)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=100,
                        help="frames in each speed video (25 fps)")  # fmt: skip
    parser.add_argument("--sizes", type=int, nargs="*", default=[48, 224],
                        help="crop sizes of the speed table")  # fmt: skip
    parser.add_argument("--ready", action="store_true",
                        help="also the ready model's speed rows (its own "
                             "engine, against its encoder on TensorFlow)")  # fmt: skip
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-threads", action="store_true")
    parser.add_argument("--skip-memory", action="store_true",
                        help="skip the 1- and 10-minute videos")  # fmt: skip
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        print(json.dumps(CHILDREN[kind](*rest)))
        return

    data = shared_data()
    print(f"Machine: {machine()}; {time.strftime('%Y-%m-%d')}")
    print(
        "Weights: random (seed 0) for the speed rows, the ready model's "
        "packaged ones for its rows (--ready); precision auto\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.skip_speed:
            speed_table(data, work, args.sizes, args.frames, args.ready)
        if not args.skip_accuracy:
            accuracy_table(data, work)
        if not args.skip_threads:
            threads_table(data, work)
        if not args.skip_memory:
            memory_table(data, work)


if __name__ == "__main__":
    main()
