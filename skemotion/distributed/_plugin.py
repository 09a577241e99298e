"""A fitted model, loaded once in each worker process of a Dask cluster."""

from __future__ import annotations

import logging
import os
from collections import Counter

from distributed import WorkerPlugin

__all__ = ["ModelPlugin", "load_counts", "worker_model"]

logger = logging.getLogger(__name__)

#: Models loaded in this process, by the model file's sha256 (tests count it).
_LOADS: Counter = Counter()


def load_counts() -> dict[str, int]:
    """How many times this process loaded each model (by sha256)."""
    return dict(_LOADS)


def limit_threads(n_threads: int) -> None:
    """One TensorFlow per worker process, with as many threads as the worker.

    TensorFlow reads ``TF_NUM_INTRAOP_THREADS`` and ``TF_NUM_INTEROP_THREADS``
    when it starts; once it has started in this process, the running
    configuration is changed instead, where TensorFlow still allows it.
    """
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(n_threads))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", str(n_threads))
    import sys

    if "tensorflow" in sys.modules:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(n_threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TensorFlow already ran something: keep it
            logger.debug("TensorFlow's threads were set already", exc_info=True)


class ModelPlugin(WorkerPlugin):
    """Load a model once per worker process (``Client.register_plugin``).

    Registered under a name made from the model's sha256, so registering the
    same model again does nothing, and a worker started later (a replacement
    for one that died, or one added to the cluster) loads it when it starts.

    Parameters
    ----------
    path : str or None
        The model file (from :func:`~skemotion.save_model`), on a file system
        every worker reads; None: the ready model
        (:func:`~skemotion.load_pretrained`), which every worker loads from
        its own installation of skemotion.
    sha256 : str
        The file's digest (for the ready model, :func:`~skemotion.pretrained_digest`
        and the engine): what the name and the load counts go by.
    engine : {"litert", "tensorflow"} or None, default=None
        What runs the ready model (``path`` None); None: each worker's default.
    """

    idempotent = True

    def __init__(
        self, path: str | None, sha256: str, engine: str | None = None
    ) -> None:
        self.path = path
        self.sha256 = sha256
        self.engine = engine
        self.model = None

    @property
    def name(self) -> str:
        engine = f"-{self.engine}" if self.engine else ""
        return f"skemotion-model-{self.sha256[:16]}{engine}"

    def setup(self, worker) -> None:
        limit_threads(max(1, int(worker.state.nthreads)))
        self.model = _load(self.path, self.engine)
        _LOADS[self.sha256] += 1
        logger.info("%s: loaded %s (%d threads)", worker.address,
                    self.path or "the ready model", worker.state.nthreads)  # fmt: skip

    def teardown(self, worker) -> None:
        self.model = None


def _load(path: str | None, engine: str | None):
    """The model file at ``path``, or the ready model on ``engine`` when it is
    None."""
    from ..prediction import resolve_model

    return resolve_model(path, engine=engine).model


def worker_model(plugin_name: str):
    """The model the plugin ``plugin_name`` loaded in this worker process."""
    from distributed import get_worker

    plugin = get_worker().plugins[plugin_name]
    return plugin.model
