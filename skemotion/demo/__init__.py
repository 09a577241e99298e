"""Front end: the original post's experiment, end to end (``skemotion demo``).

:func:`run_demo` detects, crops and encodes the post's 6-class photos, trains
the dense classifier, and reports validation and cross-validated accuracy
with the weights each figure used (:class:`DemoResult`).
"""

from ._demo import DemoResult, run_demo

__all__ = ["DemoResult", "run_demo"]
