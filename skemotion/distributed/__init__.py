"""Beyond one machine: predict and encode on a Dask cluster.

Needs the ``dask`` extra (``pip install skemotion[dask]``): the rest of
skemotion stays a plain scikit-learn package.

* :func:`predict_files`: paths to a folder of Parquet result files, one per
  partition, with the model loaded once per worker process
  (:class:`ModelPlugin`); bad files are error rows, a lost worker loses
  nothing, a rerun resumes.
* :func:`encode_to_cache`: fill a pipeline's feature cache (a shared folder)
  from every worker, so that a later ``fit`` or ``GridSearchCV`` anywhere
  finds every image encoded. A grid search itself runs on the cluster under
  ``joblib.parallel_config(backend="dask")``.
"""

try:
    import distributed as _distributed  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "skemotion.distributed needs Dask: pip install 'skemotion[dask]'"
    ) from exc

from ._plugin import ModelPlugin
from ._predict import PredictionRun, encode_to_cache, predict_files

__all__ = ["ModelPlugin", "PredictionRun", "encode_to_cache", "predict_files"]
