"""Scores shared by the stages that train or evaluate models."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

N_CLASSES = 3  # negative, neutral, positive


def macro_f1(gold: np.ndarray, pred: np.ndarray, n_classes: int = N_CLASSES) -> float:
    """Macro-F1 over all classes, counting a class that is never predicted as F1 = 0."""
    return float(f1_score(gold, pred, labels=list(range(n_classes)), average="macro", zero_division=0))
