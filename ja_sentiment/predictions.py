"""Prediction files: one CSV per model and split (id, gold, pred, one probability column per class)
under predictions/<model>/, beside the model's meta.json."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ja_sentiment.data import PREDICTIONS_DIR


def prob_columns(names: Sequence[str]) -> list[str]:
    return [f"p_{n}" for n in names]


def predictions_path(model: str, split: str) -> Path:
    return PREDICTIONS_DIR / model / f"{split}.csv"


def write_predictions(path: Path, frame: pd.DataFrame, probs: np.ndarray, pred: np.ndarray,
                      names: Sequence[str]) -> None:
    """Predictions of one model on one split: id, gold and predicted names, per-class probabilities."""
    out = pd.DataFrame({"id": frame["id"].to_numpy(), "gold": frame["label_name"].to_numpy(),
                        "pred": np.asarray(names)[pred]})
    out[prob_columns(names)] = np.round(probs, 6)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False)


def read_predictions(model: str, split: str) -> pd.DataFrame:
    return pd.read_csv(predictions_path(model, split), dtype={"id": str})
