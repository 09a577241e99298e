"""
What the model looked at: saliency maps
=======================================

:func:`~skemotion.explain` gives every face a saliency map of its crop: the
pixels that most support the class the model predicts (or another class,
with ``target``). The ready model runs offline, so this example uses it on a
few photos of the original post's data set.

Each map is checked to mean something (``benchmarks/saliency.py``): graying
its most salient pixels lowers the class's probability more than graying
random ones, and the map of a network with random weights looks nothing
like it.
"""

# %%
# A few photos, and the ready model
# ---------------------------------
# ``engine="tensorflow"`` runs the Keras networks, which gradients go
# through: ``method="auto"`` then draws the ``"gradient"`` map.
import matplotlib.pyplot as plt
import numpy as np

from skemotion import explain, fetch_seed_faces, load_pretrained, overlay_saliency

data = fetch_seed_faces()
validation = np.flatnonzero(data.split == "validation")
photos = [
    data.filenames[validation[data.target[validation] == label][0]]
    for label in ("happy", "sad", "shocked", "angry")
]
model = load_pretrained(engine="tensorflow")
maps = explain(model, photos)
for m in maps:
    print(f"face {m.face} of {m.path.split('/')[-1]}: {m.label} "
          f"({m.proba.max():.0%}), map {m.saliency.shape} by {m.method}")  # fmt: skip

# %%
# Each face with its map
# ----------------------
# :func:`~skemotion.overlay_saliency` draws the map over the crop the model
# saw: red where the face most supports the label, blue where little, clear
# where not at all (the same drawing as ``skemotion predict --explain DIR``,
# the evaluation report and the server's page).
fig, axes = plt.subplots(1, len(maps), figsize=(3 * len(maps), 3.4))
for ax, m in zip(axes, maps, strict=True):
    ax.imshow(
        overlay_saliency(m.crop, m.saliency, label=f"{m.label} {m.proba.max():.0%}")
    )
    ax.set_axis_off()
fig.tight_layout()

# %%
# "Why not neutral?"
# ------------------
# ``target`` explains another class than the predicted one.
[why] = explain(model, photos[:1], target="neutral")
[said] = maps[:1]
fig, axes = plt.subplots(1, 2, figsize=(6, 3.4))
for ax, m in zip(axes, (said, why), strict=True):
    ax.imshow(overlay_saliency(m.crop, m.saliency, label=f"for {m.target}"))
    ax.set_axis_off()
fig.tight_layout()

# %%
# On the compiled engine
# ----------------------
# A pipeline whose network was compiled (LiteRT) has no gradients: ``"auto"``
# then grays a share of the face's small cells in 32 copies and watches
# the probability fall, with forward passes only.
compiled = load_pretrained()
[m] = explain(compiled, photos[:1])
print(f"{compiled.steps[-1][1].__class__.__name__}: {m.method}, {m.label}")
