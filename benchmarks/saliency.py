"""Saliency maps (``skemotion.explain``): do they mean something, and what do they cost?

On FER2013 test faces (48x48 crops already: ``crop__detector="none"``), a
fixed random sample (seed 0), with the ready model, for each method:

- deletion: graying (to 128) the 15% most salient pixels of a face lowers the
  explained class's probability more than graying a random 15% (the mean drop
  of 4 random draws); the share of faces where it does, and the mean drops;
- randomisation (Adebayo et al. 2018): the mean Spearman rank correlation
  between each face's map from the ready model and from the same pipeline
  with random encoder weights (Glorot, seed 0; same head), for the same class;
- mirror: the mean Spearman correlation between the map of the mirrored face
  and the mirrored map (same class);
- another draw: the maps again with ``random_state=1`` (the gradient's
  grayed copies and occlusion's masks drawn anew): the mean Spearman
  correlation with the first maps, and the mean share of each face's 15%
  most salient pixels that both draws put there (0.15 by chance): how much
  of a map is the face and how much the draw;
- cost: milliseconds per face of ``explain`` (after a warm-up that traces the
  TensorFlow functions), on this machine.

Usage::

    python benchmarks/saliency.py --faces 500 --methods gradient,gradcam,occlusion
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _common import machine, shared_data


def sample_faces(n: int, seed: int = 0) -> list[str]:
    files = sorted(str(p) for p in (shared_data() / "fer2013" / "test").glob("*/*"))
    rng = np.random.default_rng(seed)
    return [files[i] for i in sorted(rng.choice(len(files), n, replace=False))]


def randomised(model):
    """The same pipeline with random encoder weights (seed 0), same head."""
    from sklearn.base import clone

    from skemotion import EmotionPipeline

    encoder = clone(model.named_steps["encode"])
    encoder.set_params(weights=None, random_state=0)
    crops = model.named_steps["crop"].transform(np.zeros((1, 48, 48, 3), np.uint8))
    encoder.fit(model.named_steps["gray"].transform(crops))
    steps = [(n, encoder if n == "encode" else s) for n, s in model.steps]
    return EmotionPipeline(steps)


def maps_for(model, images, labels, method, random_state=0):
    """Each image's map for its given class (one ``explain`` call per class)."""
    import skemotion

    out = np.zeros((len(images), *images.shape[1:3]), np.float32)
    for label in sorted(set(labels)):
        rows = np.flatnonzero(np.asarray(labels) == label)
        found = skemotion.explain(model, images[rows], method=method, target=label,
                                  random_state=random_state)  # fmt: skip
        out[rows] = [r.saliency for r in found]
    return out


def deletion(model, crops, targets, maps, frac=0.15, n_random=4, seed=0):
    """Per face: the drop of the target's probability when its top ``frac``
    pixels are grayed, and the mean drop over ``n_random`` random draws."""
    rng = np.random.default_rng(seed)
    n, h, w = maps.shape
    k = round(frac * h * w)
    batch = []
    for i in range(n):  # ties (a flat part of a map) broken at random
        order = np.lexsort((rng.random(h * w), -maps[i].ravel()))
        for pixels in [order[:k]] + [rng.choice(h * w, k, replace=False)
                                     for _ in range(n_random)]:  # fmt: skip
            face = crops[i].reshape(-1, crops.shape[-1]).copy()
            face[pixels] = 128
            batch.append(face.reshape(crops.shape[1:]))
    rest = model[1:]
    p0 = rest.predict_proba(crops)[np.arange(n), targets]
    p = rest.predict_proba(np.stack(batch)).reshape(n, 1 + n_random, -1)
    p = p[np.arange(n), :, targets]
    return p0 - p[:, 0], (p0[:, None] - p[:, 1:]).mean(axis=1)


def rank_correlations(a, b):
    from scipy.stats import spearmanr

    out = []
    for x, y in zip(a, b, strict=True):
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            out.append(0.0)  # a flat map says nothing: counted as no agreement
        else:
            out.append(spearmanr(x.ravel(), y.ravel())[0])
    return np.asarray(out)


def top_overlap(a, b, frac=0.15):
    """Per face: the share of ``a``'s top ``frac`` pixels also in ``b``'s."""
    k = round(frac * a[0].size)
    out = []
    for x, y in zip(a, b, strict=True):
        top_x = np.argsort(-x.ravel(), kind="stable")[:k]
        top_y = np.argsort(-y.ravel(), kind="stable")[:k]
        out.append(len(np.intersect1d(top_x, top_y)) / k)
    return np.asarray(out)


def run_method(model, random_model, files, crops, method):
    """One row; ``random_model`` None (a compiled engine): no randomisation."""
    import skemotion

    skemotion.explain(model, files[:4], method=method)  # warm-up (tracing)
    start = time.perf_counter()
    records = skemotion.explain(model, files, method=method)
    ms = 1000 * (time.perf_counter() - start) / len(records)
    maps = np.stack([r.saliency for r in records])
    labels = [r.target for r in records]
    targets = np.array([list(model.classes_).index(t) for t in labels])
    drop_top, drop_random = deletion(model, crops, targets, maps)
    rho = float("nan")
    if random_model is not None:
        random_maps = maps_for(random_model, crops, labels, method)
        rho = float(rank_correlations(maps, random_maps).mean())
    mirrored = maps_for(model, crops[:, :, ::-1], labels, method)[:, :, ::-1]
    redrawn = maps_for(model, crops, labels, method, random_state=1)
    spread = float(np.mean(np.std(maps, axis=0)))
    return {
        "method": records[0].method,
        "faces": len(records),
        "deletion_beats_random": float(np.mean(drop_top > drop_random)),
        "mean_drop_top15": float(drop_top.mean()),
        "mean_drop_random15": float(drop_random.mean()),
        "rank_corr_randomised": rho,
        "mirror_corr": float(rank_correlations(maps, mirrored).mean()),
        "redraw_corr": float(rank_correlations(maps, redrawn).mean()),
        "redraw_top15_shared": float(top_overlap(maps, redrawn).mean()),
        "between_face_spread": spread,
        "ms_per_face": ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=500)
    parser.add_argument("--methods", default="gradient,gradcam,occlusion")
    parser.add_argument(
        "--litert-faces", type=int, default=0,
        help="also occlusion on the compiled (LiteRT) ready model, on this many "
        "of the faces (no randomisation row: no random compiled network)",
    )  # fmt: skip
    parser.add_argument("--json", help="write the rows here too")
    args = parser.parse_args()

    import skemotion

    model = skemotion.load_pretrained(engine="tensorflow", crop__detector="none")
    random_model = randomised(model)
    files = sample_faces(args.faces)
    crops = model.named_steps["crop"].transform(files)
    print(machine())
    print(f"weights: {model.named_steps['encode'].weights_used_}; engine: TensorFlow "
          f"({model.named_steps['encode'].precision_}); randomised: "
          f"{random_model.named_steps['encode'].weights_used_}")  # fmt: skip
    runs = [(m, model, random_model, files, crops) for m in args.methods.split(",")]
    if args.litert_faces:
        compiled = skemotion.load_pretrained(engine="litert", crop__detector="none")
        n = args.litert_faces
        runs.append(("occlusion", compiled, None, files[:n], crops[:n]))
    rows = []
    for method, used, randomised_model, some_files, some_crops in runs:
        row = run_method(used, randomised_model, some_files, some_crops, method)
        row["engine"] = type(used.steps[-1][1]).__name__
        rows.append(row)
        print(
            f"{row['method']:10s} ({row['engine']}) faces {row['faces']}  "
            f"deletion beats random "
            f"{row['deletion_beats_random']:.3f} (drop top {row['mean_drop_top15']:.3f}"
            f" vs random {row['mean_drop_random15']:.3f})  rank corr randomised "
            f"{row['rank_corr_randomised']:.3f}  mirror {row['mirror_corr']:.3f}  "
            f"another draw {row['redraw_corr']:.3f} (top 15% shared "
            f"{row['redraw_top15_shared']:.3f})  "
            f"spread {row['between_face_spread']:.3f}  "
            f"{row['ms_per_face']:.1f} ms/face",
            flush=True,
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
