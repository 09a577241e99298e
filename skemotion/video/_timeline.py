"""One PNG per person of a video: each emotion's probability against time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_timelines"]


def plot_timelines(
    table, classes, folder: Path, *, smooth: int = 1, title: str = ""
) -> list[Path]:
    """Write ``track-<id>.png`` for each track of a video's table.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`predict_video`'s table.
    classes : list of str
    folder : pathlib.Path
    smooth : int, default=1
        Moving average over this many samples (1: none). Only the plot is
        smoothed; the table is left as it is.
    title : str
        The video's name, for the titles.

    Returns
    -------
    paths : list of pathlib.Path
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    colours = plt.get_cmap("tab10")
    for track, rows in table.groupby("track", sort=True):
        rows = rows.sort_values("time")
        fig, ax = plt.subplots(figsize=(8, 3.6))
        for i, c in enumerate(classes):
            values = rows[f"proba_{c}"].to_numpy(dtype=float)
            if smooth > 1 and len(values) >= smooth:
                # a centred moving average; near the ends it averages the
                # frames that exist instead of padding with zeros
                kernel = np.ones(smooth)
                total = np.convolve(values, kernel, mode="same")
                count = np.convolve(np.ones_like(values), kernel, mode="same")
                values = total / count
            times = rows["time"].to_numpy(dtype=float)
            if len(times) > 2:  # a break in the line where the person was away
                step = np.diff(times)
                gaps = np.flatnonzero(step > 1.5 * np.median(step)) + 1
                times = np.insert(times, gaps, np.nan)
                values = np.insert(values, gaps, np.nan)
            ax.plot(times, values, label=c, color=colours(i % 10), lw=1.6)
        ax.set_ylim(0, 1)
        ax.set_xlabel("time in the video (s)")
        ax.set_ylabel("probability")
        smoothing = f", moving average of {smooth}" if smooth > 1 else ""
        ax.set_title(f"{title} - person {track} ({len(rows)} frames{smoothing})")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = folder / f"track-{int(track)}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
