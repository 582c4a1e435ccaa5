"""A study's statistics: configurations over seeds, each countermeasure against the baseline with
both kinds of noise counted, and what the learning curves say about overfitting.

- `two_level_bootstrap`: the difference of two configurations' mean scores over seeds, with a 95%
  percentile interval and a two-sided p-value from one set of resamples. Each resample draws the
  seeds with replacement (the same seed indices for both configurations: they are paired by seed),
  then the test rows with replacement (the same rows for both), and recomputes each configuration's
  mean score over the drawn seeds on the drawn rows. The seed level carries the seed-to-seed
  variation, the row level the test set's sampling noise; the interval counts both.
- `holm`: Holm's step-down adjustment across the study's countermeasures (statsmodels).
- `curve_summary`: per run, from the per-epoch plain cross-entropies (train sample and dev, gold
  labels, eval mode): the epoch of lowest dev loss, the rise of dev loss from that minimum to the last
  epoch, and the gap dev loss minus train loss at the epoch the run kept.

Known answers (tests/test_study_stats.py): on null studies the interval covers 0 in about 95% of
repetitions; a planted difference is found.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ja_sentiment.stats import CONFIDENCE, _scores

METRIC_INDEX = {"accuracy": 0, "macro_f1": 1}


def min_resamples(n_tests: int, alpha: float, per_threshold: int = 20) -> int:
    """Resamples enough for the smallest Holm threshold (alpha / n_tests) to be resolved by at least
    `per_threshold` resamples. The two-sided p-value is twice the smaller tail's share, counting the
    observed difference as one resample: its resolution is 2 / (resamples + 1), so the smallest
    threshold is 20 / 2 = 10 times the resolution."""
    return math.ceil(per_threshold * max(n_tests, 1) / alpha)


def per_seed_scores(gold: np.ndarray, preds: np.ndarray, n_classes: int, metric: str) -> np.ndarray:
    """The metric of each seed's predictions (rows of `preds`) on all test rows."""
    gold = np.broadcast_to(np.asarray(gold), np.shape(preds))
    return _scores(gold, np.asarray(preds), n_classes)[METRIC_INDEX[metric]]


def two_level_bootstrap(gold: Sequence[int], a: np.ndarray, b: np.ndarray, n_classes: int, metric: str,
                        resamples: int, seed: int, batch: int = 250) -> dict:
    """Mean over seeds of A's metric minus B's, A and B given as (seeds, rows) predicted class ids with
    row s of both from the same seed. Returns the point difference, the 95% percentile interval, the
    two-sided bootstrap p-value (twice the smaller tail share, counting the observed difference as
    one resample) and the numbers of seeds, rows and resamples."""
    gold, a, b = np.asarray(gold), np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != len(gold):
        raise ValueError(f"two_level_bootstrap: A {a.shape} and B {b.shape} must both be "
                         f"(seeds, {len(gold)})")
    n_seeds, n_rows = a.shape
    k = METRIC_INDEX[metric]
    point = float(per_seed_scores(gold, a, n_classes, metric).mean()
                  - per_seed_scores(gold, b, n_classes, metric).mean())
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    for start in range(0, resamples, batch):
        m = min(batch, resamples - start)
        seeds = rng.integers(0, n_seeds, (m, n_seeds))[:, :, None]  # (m, S, 1)
        rows = rng.integers(0, n_rows, (m, n_rows))  # (m, N)
        g = np.broadcast_to(gold[rows][:, None, :], (m, n_seeds, n_rows))
        score_a = _scores(g, a[seeds, rows[:, None, :]], n_classes)[k]  # (m, S)
        score_b = _scores(g, b[seeds, rows[:, None, :]], n_classes)[k]
        diffs[start:start + m] = score_a.mean(axis=-1) - score_b.mean(axis=-1)
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    below, above = int((diffs <= 0).sum()), int((diffs >= 0).sum())
    p = min(1.0, 2 * (min(below, above) + 1) / (resamples + 1))
    return {"diff": point, "ci_low": float(low), "ci_high": float(high), "p": p, "seeds": n_seeds,
            "rows": n_rows, "resamples": resamples}


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (statsmodels), in the order given."""
    from statsmodels.stats.multitest import multipletests

    return [float(q) for q in multipletests(list(p_values), method="holm")[1]] if len(p_values) else []


def curve_summary(epochs: Sequence[int], train_ce: Sequence[float], dev_ce: Sequence[float],
                  kept_epoch: int) -> dict:
    """What one run's per-epoch plain cross-entropies say: the epoch of lowest dev loss, how much dev
    loss rose from that minimum to the last epoch (0: it never rose), and dev minus train loss at the
    epoch the run kept (its best dev macro-F1)."""
    epochs, train_ce, dev_ce = list(epochs), np.asarray(train_ce, float), np.asarray(dev_ce, float)
    lowest = int(np.argmin(dev_ce))
    kept = epochs.index(kept_epoch)
    return {"min_dev_ce_epoch": int(epochs[lowest]), "min_dev_ce": float(dev_ce[lowest]),
            "dev_ce_rise": float(dev_ce[-1] - dev_ce[lowest]),
            "gap_at_kept": float(dev_ce[kept] - train_ce[kept]), "kept_epoch": int(kept_epoch)}
