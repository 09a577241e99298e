"""What a network computes in: float32, or bfloat16 where the hardware has it.

Nothing here changes Keras' global state: each network is built with a dtype
policy given to its own layers (:func:`dtype_policy`), so a user's other
models keep the global policy (``keras.config.dtype_policy()``).
"""

from __future__ import annotations

import functools
import logging
import platform
import subprocess

__all__ = ["PRECISIONS", "bfloat16_support", "dtype_policy", "resolve_precision"]

logger = logging.getLogger(__name__)

#: Values of every ``precision`` parameter.
PRECISIONS = ("auto", "float32", "bfloat16")
#: Keras dtype policy of each resolved precision: bfloat16 computes in
#: bfloat16 and keeps its variables in float32 (Keras' mixed precision).
_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
#: CPU features with native bfloat16 matrix instructions, used by oneDNN.
_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def _cpu_flags() -> set[str]:
    """The CPU's feature flags, lower case (empty when they cannot be read)."""
    system = platform.system()
    try:
        if system == "Linux":
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
                for line in fh:
                    if line.startswith("flags"):
                        return set(line.split(":", 1)[1].lower().split())
        elif system == "Darwin":
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.features", "machdep.cpu.leaf7_features"],
                capture_output=True, text=True, timeout=5, check=False,
            )  # fmt: skip
            return set(out.stdout.lower().replace(".", "_").split())
    except (OSError, subprocess.SubprocessError):
        pass
    return set()


def _gpu_bfloat16() -> tuple[bool, str] | None:
    """bfloat16 support of the first GPU TensorFlow sees, or None without one."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    try:
        details = tf.config.experimental.get_device_details(gpus[0])
    except (RuntimeError, ValueError):  # pragma: no cover - driver specific
        details = {}
    name = details.get("device_name", "GPU")
    capability = details.get("compute_capability")
    if capability is not None and tuple(capability) >= (8, 0):
        return True, f"{name} (compute capability {capability[0]}.{capability[1]})"
    return False, f"{name} without bfloat16 matrix units (compute capability < 8.0)"


@functools.cache
def bfloat16_support() -> tuple[bool, str]:
    """Whether this machine runs bfloat16 natively, and why, in words.

    A GPU, when TensorFlow sees one, decides (NVIDIA compute capability 8.0
    and above: Ampere, Hopper...); otherwise the CPU does (x86 with AMX-BF16
    or AVX512-BF16, which TensorFlow's oneDNN kernels use). Elsewhere bfloat16
    would be emulated, slower than float32.

    Returns
    -------
    supported : bool
    reason : str
    """
    gpu = _gpu_bfloat16()
    if gpu is not None:
        return gpu
    flags = _cpu_flags()
    found = [flag for flag in _BF16_CPU_FLAGS if flag in flags]
    machine = platform.machine() or "unknown"
    if found:
        return True, f"{machine} CPU with {' and '.join(found)}"
    if not flags:
        return False, f"{machine} CPU whose features could not be read"
    return False, f"{machine} CPU without AMX-BF16 or AVX512-BF16"


def resolve_precision(precision: str) -> str:
    """``"float32"`` or ``"bfloat16"`` for a ``precision`` parameter.

    ``"auto"`` is bfloat16 where :func:`bfloat16_support` finds native
    support, float32 elsewhere; the others are taken as they are.
    """
    if precision == "auto":
        supported, reason = bfloat16_support()
        chosen = "bfloat16" if supported else "float32"
        logger.info("precision='auto': %s (%s)", chosen, reason)
        return chosen
    if precision not in _POLICIES:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def dtype_policy(precision: str) -> str:
    """The Keras dtype policy name of a resolved precision."""
    return _POLICIES[precision]
