"""Calibration: how well the predicted probabilities match how often the model is right.

- `reliability`: expected calibration error (ECE) of the predicted label's probability (the largest
  one, unless a decision rule such as the neutral band predicts another label: then that label's) over
  equal-width confidence bins, and the per-bin table that a reliability diagram draws.
- `fit_temperature` / `apply_temperature`: temperature scaling (Guo et al., 2017) fitted on dev by
  minimising the negative log-likelihood. Dividing the logits by one positive number never changes
  which class is largest, so predicted labels stay the same; only the probabilities move.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

ECE_BINS = 15
TEMPERATURE_BOUNDS = (0.05, 20.0)


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / T), from the softmax probabilities: log p = logits - const, so
    softmax(log p / T) = softmax(logits / T) exactly."""
    logp = np.log(np.clip(np.asarray(probs, dtype=float), 1e-12, None))
    return np.exp(log_softmax(logp / temperature, axis=1))


def fit_temperature(probs: np.ndarray, gold: Sequence[int]) -> float:
    """The T in TEMPERATURE_BOUNDS that minimises the mean negative log-likelihood of `gold`."""
    gold = np.asarray(gold)
    rows = np.arange(len(gold))

    def nll(t: float) -> float:
        return float(-np.log(np.clip(apply_temperature(probs, t)[rows, gold], 1e-12, None)).mean())

    return float(minimize_scalar(nll, bounds=TEMPERATURE_BOUNDS, method="bounded").x)


def reliability(probs: np.ndarray, gold: Sequence[int], bins: int = ECE_BINS,
                pred: Sequence[int] | None = None) -> tuple[float, list[dict]]:
    """Expected calibration error of the predicted label over `bins` equal-width confidence bins, and
    per bin: its range, examples, mean confidence and accuracy (the reliability diagram's data)."""
    probs, gold = np.asarray(probs, dtype=float), np.asarray(gold)
    # The confidence of a prediction is the probability of the label predicted: the top one, unless a
    # decision rule (the neutral band) predicts another label than the argmax.
    pred = probs.argmax(axis=1) if pred is None else np.asarray(pred)
    confidence = probs[np.arange(len(pred)), pred]
    right = pred == gold
    # Bin i holds confidences in (i/bins, (i+1)/bins]; a confidence of exactly 0 goes to the first.
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    rows, ece = [], 0.0
    for i in range(bins):
        mask = which == i
        n = int(mask.sum())
        row = {"bin": i + 1, "low": round(i / bins, 6), "high": round((i + 1) / bins, 6), "examples": n,
               "confidence": float(confidence[mask].mean()) if n else None,
               "accuracy": float(right[mask].mean()) if n else None}
        if n:
            ece += n / len(gold) * abs(row["accuracy"] - row["confidence"])
        rows.append(row)
    return float(ece), rows
