"""The commands: each parses nothing and computes little; it calls the library
and prints what the library returns.

One module per group: :mod:`._training` (train, finetune, demo),
:mod:`._predicting` (predict), :mod:`._inspecting` (check, evaluate),
:mod:`._video` (video), :mod:`._serving` (serve) and :mod:`._exporting`
(export); what they read is in
:mod:`._inputs`, the pipelines they fit are set up by :mod:`._pipelines`.
"""

from __future__ import annotations

from ._exporting import export
from ._inspecting import check, evaluate
from ._predicting import predict
from ._serving import serve
from ._training import demo, finetune, train
from ._video import video

__all__ = ["COMMANDS"]

#: Every command's function, by the command's name.
COMMANDS = {
    "train": train,
    "predict": predict,
    "check": check,
    "evaluate": evaluate,
    "demo": demo,
    "finetune": finetune,
    "video": video,
    "serve": serve,
    "export": export,
}
