"""Fixtures of the fine-tuning tests."""

from __future__ import annotations

import pytest

from skemotion.finetuning._checkpoints import CheckpointStore


@pytest.fixture
def interrupted_fit(monkeypatch):
    """``interrupted_fit(tuner, X, y)``: fit with a checkpoint saved after
    epoch 2 and then a KeyboardInterrupt, as if Ctrl-C came during epoch 3;
    saving works normally again afterwards."""
    original = CheckpointStore.save

    def save_then_interrupt(self, *args, epoch, **kwargs):
        original(self, *args, epoch=epoch, **kwargs)
        if epoch == 2:
            raise KeyboardInterrupt

    def run(tuner, X, y) -> None:
        monkeypatch.setattr(CheckpointStore, "save", save_then_interrupt)
        try:
            with pytest.raises(KeyboardInterrupt):
                tuner.fit(X, y)
        finally:
            monkeypatch.setattr(CheckpointStore, "save", original)

    return run
