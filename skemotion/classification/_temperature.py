"""Temperature scaling: probabilities that mean what they say."""

from __future__ import annotations

import numpy as np

__all__ = ["apply_temperature", "fit_temperature"]


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature-scale probabilities: ``softmax(log(proba) / temperature)``.

    Equal to dividing the network's logits by ``temperature`` (a softmax's
    log-probabilities are its logits less a constant per row).

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_classes)
        Class probabilities, each row summing to 1.
    temperature : float
        Above 1 softens, below 1 sharpens; 1 returns ``proba`` unchanged.

    Returns
    -------
    proba : ndarray of float32, same shape
        The scaled probabilities, each row summing to 1.
    """
    proba = np.asarray(proba, dtype=np.float32)
    if temperature == 1.0:
        return proba
    z = np.log(np.clip(proba, 1e-12, None)) / np.float32(temperature)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(log_proba: np.ndarray, codes: np.ndarray) -> float:
    """The temperature minimising the log loss of ``codes`` (0.05 to 20).

    Parameters
    ----------
    log_proba : ndarray of shape (n_samples, n_classes)
        Log-probabilities (or logits) on held-out samples.
    codes : ndarray of shape (n_samples,)
        Each sample's true class index.

    Returns
    -------
    temperature : float
    """
    from scipy.optimize import minimize_scalar
    from scipy.special import logsumexp

    z = np.asarray(log_proba, dtype=np.float64)
    rows = np.arange(len(codes))

    def loss(log_t):
        scaled = z / np.exp(log_t)
        return float(np.mean(logsumexp(scaled, axis=1) - scaled[rows, codes]))

    best = minimize_scalar(loss, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(best.x))
