"""How far to trust a number: intervals and tests for scores on a few hundred test sentences.

- `score_intervals`: accuracy, macro-F1 and each class's F1 with percentile-bootstrap 95% intervals
  over the examples (scipy.stats.bootstrap, seeded).
- `paired_comparison`: two models on the same rows: the difference in accuracy and in macro-F1 with
  a paired-bootstrap interval (the same resampled rows for both models) and the exact McNemar
  p-value on right/wrong (statsmodels), then a verdict.
- `seed_summary` / `compare_seeds`: a configuration over several seeds, and two configurations run
  with the same seeds compared by the mean of their per-seed differences with the paired t interval
  (scipy.stats.ttest_rel). That interval counts seed-to-seed variation only, on one fixed test set,
  and its verdicts say so.

Every score is computed from the same counts as sklearn's classification_report, with one rule for a
class that has no gold and no predicted row (possible only in a bootstrap resample): its F1 is 0, as
sklearn's `zero_division=0`, which the evaluate stage and training use.

A verdict says "better" or "worse" only when the whole interval lies on one side of 0; otherwise the
data do not show a difference, and the report gives the interval as the range of differences they
are compatible with (`reports.markdown.verdict_text`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar

CONFIDENCE = 0.95
BETTER, WORSE, UNCLEAR = "better", "worse", "not distinguishable"
# Over seeds, on one fixed test set: the verdict names what the interval covers.
SEEDS_NOTE = " across these seeds, on this one test set"
SEEDS_BETTER, SEEDS_WORSE, UNCLEAR_SEEDS = (v + SEEDS_NOTE for v in (BETTER, WORSE, UNCLEAR))
NO_SPREAD = "no interval: the difference was the same on every seed"


def _scores(gold: np.ndarray, pred: np.ndarray, n_classes: int, axis: int = -1) -> np.ndarray:
    """[accuracy, macro-F1, F1 of class 0, 1, ...] along `axis` (vectorised over the other axes)."""
    gold, pred = np.moveaxis(gold, axis, -1), np.moveaxis(pred, axis, -1)
    classes = np.arange(n_classes)
    g = gold[..., None] == classes  # (..., n, k)
    p = pred[..., None] == classes
    tp = (g & p).sum(axis=-2)
    denom = g.sum(axis=-2) + p.sum(axis=-2)  # 2TP + FP + FN
    # A class with no gold and no predicted row (possible in a resample of a small split): F1 0, the
    # rule of sklearn's zero_division=0 that the point estimates use (evaluate, training), so that a
    # point and its interval never follow two rules. A real split never meets this case (preprocess
    # requires every class in every split).
    f1 = np.divide(2 * tp, denom, out=np.zeros(tp.shape, dtype=float), where=denom > 0)
    accuracy = (gold == pred).mean(axis=-1)
    return np.concatenate([accuracy[None], f1.mean(axis=-1)[None], np.moveaxis(f1, -1, 0)])


def point_scores(gold: Sequence[int], pred: Sequence[int], n_classes: int) -> dict[str, float]:
    """Accuracy and macro-F1 of one prediction set (the values `paired_comparison` differences)."""
    accuracy, macro = _scores(np.asarray(gold), np.asarray(pred), n_classes)[:2]
    return {"accuracy": float(accuracy), "macro_f1": float(macro)}


def _bootstrap(data: tuple[np.ndarray, ...], statistic, resamples: int, seed: int):
    return stats.bootstrap(data, statistic, paired=True, vectorized=True, axis=-1, n_resamples=resamples,
                           confidence_level=CONFIDENCE, method="percentile", batch=200,
                           rng=np.random.default_rng(seed))


def score_intervals(gold: Sequence[int], pred: Sequence[int], names: Sequence[str], resamples: int,
                    seed: int) -> dict:
    """{"accuracy": (low, high), "macro_f1": (low, high), "<class>": (low, high) of its F1}."""
    gold, pred = np.asarray(gold), np.asarray(pred)
    k = len(names)
    res = _bootstrap((gold, pred), lambda g, p, axis=-1: _scores(g, p, k, axis), resamples, seed)
    low, high = res.confidence_interval
    keys = ["accuracy", "macro_f1", *names]
    return {key: (float(lo), float(hi)) for key, lo, hi in zip(keys, low, high, strict=True)}


def verdict(low: float, high: float, seeds: bool = False) -> str:
    """Better or worse only when the whole interval of the difference lies on one side of 0; with
    `seeds`, the words say that the interval covers seed-to-seed variation on one test set."""
    if seeds:
        return SEEDS_BETTER if low > 0 else SEEDS_WORSE if high < 0 else UNCLEAR_SEEDS
    return BETTER if low > 0 else WORSE if high < 0 else UNCLEAR


def mcnemar_p(right_a: np.ndarray, right_b: np.ndarray) -> float:
    """Exact McNemar p-value: do A and B err on different rows more often than chance would say?"""
    right_a, right_b = np.asarray(right_a, dtype=bool), np.asarray(right_b, dtype=bool)
    table = [[int((right_a & right_b).sum()), int((right_a & ~right_b).sum())],
             [int((~right_a & right_b).sum()), int((~right_a & ~right_b).sum())]]
    return float(mcnemar(table, exact=True).pvalue)


def paired_comparison(gold: Sequence[int], pred_a: Sequence[int], pred_b: Sequence[int], n_classes: int,
                      resamples: int, seed: int) -> dict:
    """A minus B on the same rows: accuracy and macro-F1 differences with paired-bootstrap intervals,
    the exact McNemar p on right/wrong, the discordant counts, and a verdict per metric."""
    gold, a, b = (np.asarray(x) for x in (gold, pred_a, pred_b))

    def diff(g, pa, pb, axis=-1):
        return _scores(g, pa, n_classes, axis)[:2] - _scores(g, pb, n_classes, axis)[:2]

    point = diff(gold, a, b)
    low, high = _bootstrap((gold, a, b), diff, resamples, seed).confidence_interval
    out: dict = {"n": int(len(gold))}
    for i, key in enumerate(("accuracy", "macro_f1")):
        out[f"{key}_diff"] = float(point[i])
        out[f"{key}_diff_ci_low"], out[f"{key}_diff_ci_high"] = float(low[i]), float(high[i])
        out[f"{key}_verdict"] = verdict(float(low[i]), float(high[i]))
    right_a, right_b = a == gold, b == gold
    out["only_a_right"] = int((right_a & ~right_b).sum())
    out["only_b_right"] = int((~right_a & right_b).sum())
    out["mcnemar_p"] = mcnemar_p(right_a, right_b)
    return out


def compare_rows(a, b, names: Sequence[str], resamples: int, seed: int) -> tuple[dict, dict, dict]:
    """`paired_comparison` of two prediction tables (pandas, indexed by row id, columns gold and pred
    holding label names), aligned on A's rows; with the point scores of A and of B. A label outside
    `names` is an error, never a silent miss (it would count as wrong)."""
    index = {n: i for i, n in enumerate(names)}
    columns = {"gold": a["gold"], "A's pred": a["pred"], "B's pred": b.loc[a.index, "pred"]}
    for what, values in columns.items():
        unknown = sorted(set(values) - set(index))
        if unknown:
            raise ValueError(f"compare_rows: {what} label(s) {unknown} are not among {list(names)}")
    gold, pred_a, pred_b = (v.map(index).to_numpy() for v in columns.values())  # same rows, same order
    k = len(names)
    return (paired_comparison(gold, pred_a, pred_b, k, resamples, seed), point_scores(gold, pred_a, k),
            point_scores(gold, pred_b, k))


def seed_summary(values: Sequence[float]) -> dict:
    """Mean, sample standard deviation, min and max over seeds."""
    v = np.asarray(values, dtype=float)
    return {"seeds": int(len(v)), "mean": float(v.mean()),
            "std": float(v.std(ddof=1)) if len(v) > 1 else None, "min": float(v.min()), "max": float(v.max())}


def compare_seeds(a: Sequence[float], b: Sequence[float]) -> dict:
    """Mean of A minus mean of B, where A[i] and B[i] come from the same seed, with the paired t 95%
    interval over the per-seed differences (needs 2+ seeds) and a verdict. The interval counts
    seed-to-seed variation on one fixed test set, not the test set's own noise. When the per-seed
    differences do not vary there is no spread to build an interval from: no interval, and a verdict
    that says so (never "better" from a zero-width interval)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"compare_seeds: paired by seed, so the same seeds in both: {a.shape} vs {b.shape}")
    diff = float(a.mean() - b.mean())
    if len(a) < 2:
        return {"diff": diff, "ci_low": None, "ci_high": None, "p": None, "verdict": UNCLEAR_SEEDS}
    if np.ptp(a - b) <= 1e-12:  # the same difference on every seed, but for rounding
        return {"diff": diff, "ci_low": None, "ci_high": None, "p": None, "verdict": NO_SPREAD}
    with warnings.catch_warnings():  # near-identical seed scores: scipy warns, the interval is still right
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        test = stats.ttest_rel(a, b)
    ci = test.confidence_interval(CONFIDENCE)
    low, high = float(ci.low), float(ci.high)
    return {"diff": diff, "ci_low": low, "ci_high": high, "p": float(test.pvalue),
            "verdict": verdict(low, high, seeds=True)}
