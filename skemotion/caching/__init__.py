"""The on-disk cache of per-image results, below every step that caches.

:class:`FeatureCache` keys each stored result by the image's content and every
parameter that changes it. The face cropper (crops) and the encoder (features)
both keep their results in it, so it sits below both.
"""

from ._store import FeatureCache
from ._store import as_cache as as_cache  # for the steps that cache; not public

__all__ = ["FeatureCache"]
