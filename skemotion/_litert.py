"""LiteRT for the compiled emotion networks (``engines``) and YuNet's network
(``preprocessing``): the one check of whether it runs here, and the one way
an interpreter's input is resized.

``ai-edge-litert`` has wheels for some platforms only; where it is missing or
fails to load, TensorFlow runs the networks and libfacedetection YuNet.
"""

from __future__ import annotations

import functools

from ._logging import stderr_silenced

__all__ = ["litert_available", "resize_input"]


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


def resize_input(interpreter, index: int, shape, *, first: bool) -> None:
    """Give the interpreter's input ``index`` the ``shape`` and plan its
    tensors again. The ``first`` planning applies XNNPACK, whose C++ prints
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." (no setting
    turns it off): it is kept off the terminal."""
    interpreter.resize_tensor_input(index, list(shape))
    if first:
        with stderr_silenced():
            interpreter.allocate_tensors()
    else:
        interpreter.allocate_tensors()
