"""The ready model's disgust probability alone raised: what recall costs.

Each face's disgust probability is multiplied by ``e**b`` and the
probabilities renormalised; for each ``b``, FER2013 test accuracy and
disgust's recall and precision. ``b`` is not chosen on held-out images
here: the table is an upper bound on what a single-class offset can buy.

Usage::

    SKEMOTION_DATA=../shared/data python benchmarks/disgust_offset.py
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import machine, shared_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offsets", type=float, nargs="+",
                        default=[0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0])  # fmt: skip
    args = parser.parse_args()
    from sklearn.metrics import roc_auc_score

    import skemotion

    model = skemotion.load_pretrained(crop__detector="none")
    files = sorted(str(p) for p in (shared_data() / "fer2013" / "test").glob("*/*"))
    truth = np.array([p.split("/")[-2] for p in files])
    print(machine())
    print(f"model: the ready model, engine {model.engine}, tta={model.tta!r}")
    proba = model.predict_proba(files)
    classes = list(model.classes_)
    d = classes.index("disgust")
    is_disgust = truth == "disgust"
    print(f"ROC AUC of the disgust probability, disgust against the rest: "
          f"{roc_auc_score(is_disgust, proba[:, d]):.3f}")  # fmt: skip
    for b in args.offsets:
        raised = proba.copy()
        raised[:, d] *= np.exp(b)
        said = np.asarray(classes)[raised.argmax(axis=1)]
        called = said == "disgust"
        precision = f"{np.mean(is_disgust[called]):.3f}" if called.any() else "-"
        print(f"b {b:.1f}: accuracy {np.mean(said == truth):.4f}  disgust recall "
              f"{np.mean(called[is_disgust]):.3f}  precision {precision}  "
              f"faces called disgust {called.sum()}")  # fmt: skip


if __name__ == "__main__":
    main()
