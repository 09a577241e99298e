"""Whether LiteRT runs here: the one check, for the compiled emotion networks
(``engines``) and YuNet's network (``preprocessing``).

``ai-edge-litert`` has wheels for some platforms only; where it is missing or
fails to load, TensorFlow runs the networks and libfacedetection YuNet.
"""

from __future__ import annotations

import functools

__all__ = ["litert_available"]


@functools.cache
def litert_available() -> bool:
    """Whether ``ai-edge-litert``'s interpreter imports here.

    Returns
    -------
    available : bool
        False where the package is not installed (no wheel exists for some
        platforms) or fails to load.
    """
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except (ImportError, OSError):
        return False
    return True
