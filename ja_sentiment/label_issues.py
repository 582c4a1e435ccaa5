"""Label-issue candidates (Level 3): training rows whose gold label a held-out model finds unlikely.

Confident learning (Northcutt et al., 2021), built on scikit-learn rather than cleanlab (which is
AGPL-3.0): k-fold cross-validation gives every training row class probabilities from a model that
never saw it; a row's *self-confidence* is that out-of-fold probability of its own gold label, and
rows are ranked from least to most likely. Each class j has a threshold t_j, the mean out-of-fold
probability of j over the rows labelled j. As in the confident joint of Northcutt et al., a row
counts for the class with the largest probability among the classes whose probability reaches
their threshold, its own class included; it is a *candidate* when that class is not its own (the
off-diagonal of the confident joint). A row whose own class wins is never a candidate, even when
another class also passes its threshold.
A candidate is a row worth re-reading, not a proven labelling mistake.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

# data/label_issues/ranking.csv, one row per training row, least likely gold label first.
RANKING_COLUMNS = ["rank", "id", "text", "gold", "self_confidence", "candidate", "confident_other",
                   "agreement_level", "votes", "majority_status"]


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
    confident = probs >= thresholds  # per row and class: confidently that class (own class included)
    counted = np.where(confident.any(axis=1), np.where(confident, probs, -1.0).argmax(axis=1), -1)
    other = np.where((counted >= 0) & (counted != labels), counted, -1)
    order = np.argsort(self_confidence, kind="stable")
    ranks = np.empty(len(labels), dtype=int)
    ranks[order] = np.arange(1, len(labels) + 1)
    return pd.DataFrame({"self_confidence": self_confidence, "confident_other": other,
                         "candidate": other >= 0, "rank": ranks})


def read_ranking(path, n_rows: int | None = None) -> pd.DataFrame:
    """The stage's ranking, least likely first (`n_rows`: the first n only)."""
    frame = pd.read_csv(path, dtype={"id": str, "text": str}, keep_default_na=False)
    return frame if n_rows is None else frame.head(n_rows)


def majority_status(votes: Sequence[int], gold: int) -> str:
    """Whether the gold label is the annotators' majority, one of a tie, or not the majority."""
    votes = list(votes)
    top = max(votes)
    if votes[gold] < top:
        return "gold ≠ majority"
    return "no majority (tie)" if votes.count(top) > 1 else "gold = majority"
