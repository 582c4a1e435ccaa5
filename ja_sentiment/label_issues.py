"""Label-issue candidates (Level 3): training rows whose gold label a held-out model finds unlikely.

Confident learning (Northcutt et al., 2021), built on scikit-learn rather than cleanlab (which is
AGPL-3.0): k-fold cross-validation gives every training row class probabilities from a model that
never saw it; a row's *self-confidence* is that out-of-fold probability of its own gold label, and
rows are ranked from least to most likely. A row is a *candidate* when the held-out model is
confident of another class j: its probability of j reaches the per-class threshold t_j, the mean
probability of j over the rows labelled j (the off-diagonal of the "confident joint").
A candidate is a row worth re-reading, not a proven labelling mistake.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def out_of_fold_probs(model, texts: Sequence[str], labels: np.ndarray, n_classes: int, folds: int,
                      seed: int) -> np.ndarray:
    """Class probabilities (columns in class-id order) of every row from the fold that held it out."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    texts = np.asarray(texts, dtype=object)
    probs = np.zeros((len(texts), n_classes))
    for fit_rows, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(texts, labels):
        fitted = clone(model).fit(list(texts[fit_rows]), labels[fit_rows])
        probs[np.ix_(held, fitted.classes_)] = fitted.predict_proba(list(texts[held]))
    return probs


def rank(probs: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """Per row (in input order): self-confidence, the class the held-out model is confident of
    instead (-1: none), candidate flag, and rank by self-confidence (1 = least likely label)."""
    rows = np.arange(len(labels))
    self_confidence = probs[rows, labels]
    thresholds = np.array([probs[labels == j, j].mean() if (labels == j).any() else np.inf
                           for j in range(probs.shape[1])])
    confident = probs >= thresholds  # per row and class: confidently that class
    confident[rows, labels] = False
    other = np.where(confident.any(axis=1), np.where(confident, probs, -1.0).argmax(axis=1), -1)
    order = np.argsort(self_confidence, kind="stable")
    ranks = np.empty(len(labels), dtype=int)
    ranks[order] = np.arange(1, len(labels) + 1)
    return pd.DataFrame({"self_confidence": self_confidence, "confident_other": other,
                         "candidate": other >= 0, "rank": ranks})


def majority_status(votes: Sequence[int], gold: int) -> str:
    """Whether the gold label is the annotators' majority, one of a tie, or not the majority."""
    votes = list(votes)
    top = max(votes)
    if votes[gold] < top:
        return "gold ≠ majority"
    return "no majority (tie)" if votes.count(top) > 1 else "gold = majority"
