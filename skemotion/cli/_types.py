"""argparse types: each turns an option's text into its value, or says why not."""

from __future__ import annotations

import argparse
import re

__all__ = [
    "file_size",
    "positive_float",
    "positive_int",
    "seconds",
    "weights_value",
]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*$", re.IGNORECASE)


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def file_size(text: str) -> int:
    """argparse type: a size in bytes, with an optional K, M or G (binary) unit."""
    match = _SIZE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected a size such as 50M, 1G or 1048576 (bytes), got {text!r}"
        )
    factor = 1024 ** " kmg".index(match[2].lower() or " ")
    size = int(float(match[1]) * factor)
    if size < 1:
        raise argparse.ArgumentTypeError(f"the size must be positive, got {text!r}")
    return size


def size_text(size: int) -> str:
    """A size in bytes as :func:`file_size` reads it: ``256M`` for 256 MiB."""
    for unit, factor in (("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def positive_float(text: str) -> float:
    """argparse type: a number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def seconds(text: str) -> float:
    """argparse type: a time in seconds, 0 or more (``90``, ``1:30``)."""
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected seconds such as 90 or 1:30, got {text!r}"
        ) from None
    value = 0.0
    for part in parts:
        value = value * 60 + part
    if value < 0 or len(parts) > 3:
        raise argparse.ArgumentTypeError(f"expected a time of 0 or more, got {text!r}")
    return value


def weights_value(text: str) -> str | None:
    """argparse type: ``fer2013`` (packaged), ``imagenet``, ``none`` (any case:
    random weights) or a file."""
    if text.lower() == "none":
        return None
    if text.lower() in ("imagenet", "fer2013"):
        return text.lower()
    return text
