"""A study's statistics: configurations over seeds, each countermeasure against the baseline with
both kinds of noise counted, and what the learning curves say about overfitting.

- `seed_row_moments` (what a study uses): the difference of two configurations' mean scores over
  seeds with a t interval that counts the seed level and the row level, paired by seed and by row:
  a crossed seed x row random-effects estimate by the method of moments on the per-row
  contributions (`row_contributions`: right/wrong, or macro-F1's jackknife pseudo-values), on the
  seed level's S - 1 degrees of freedom; `simultaneous`: the same at the Bonferroni level. Its error
  rates, measured on simulated studies with known truth: docs/statistics.md
  (ja_sentiment/tools/simulate_study.py).
- `two_level_bootstrap` (what studies used before; the simulator's comparison): the difference of two
  configurations' mean scores over seeds, with a 95% percentile interval and a two-sided p-value
  from one set of resamples. Each resample draws the
  seeds with replacement (the same seed indices for both configurations: they are paired by seed),
  then the test rows with replacement (the same rows for both), and recomputes each configuration's
  mean score over the drawn seeds on the drawn rows. The seed level carries the seed-to-seed
  variation, the row level the test set's sampling noise; the interval counts both.
- `holm`: Holm's step-down adjustment across the study's countermeasures (statsmodels).
- `curve_summary`: per run, from the per-epoch plain cross-entropies (train sample and dev, gold
  labels, eval mode): the epoch of lowest dev loss, the rise of dev loss from that minimum to the last
  epoch, and the gap dev loss minus train loss at the epoch the run kept.

Known answers (tests/test_study_stats.py): the moments and jackknife values by hand; on simulated
null studies the seed level method holds its family-wise error where the bootstrap does not, and
finds a planted difference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ja_sentiment.stats import CONFIDENCE, _scores

METRIC_INDEX = {"accuracy": 0, "macro_f1": 1}


def per_seed_scores(gold: np.ndarray, preds: np.ndarray, n_classes: int, metric: str) -> np.ndarray:
    """The metric of each seed's predictions (rows of `preds`) on all test rows."""
    gold = np.broadcast_to(np.asarray(gold), np.shape(preds))
    return _scores(gold, np.asarray(preds), n_classes)[METRIC_INDEX[metric]]


def _from_confusions(c: np.ndarray, n_classes: int, metric: str) -> np.ndarray:
    """Accuracy or macro-F1 from confusion counts c[..., gold * K + pred] (sklearn's zero_division=0)."""
    c = c.reshape(*c.shape[:-1], n_classes, n_classes)  # [..., gold, pred]
    tp = np.diagonal(c, axis1=-2, axis2=-1)
    if metric == "accuracy":
        return tp.sum(axis=-1) / c.sum(axis=(-2, -1))
    denom = c.sum(axis=-1) + c.sum(axis=-2)
    return np.divide(2 * tp, denom, out=np.zeros(tp.shape), where=denom > 0).mean(axis=-1)


def two_level_bootstrap(gold: Sequence[int], a: np.ndarray, b: np.ndarray, n_classes: int, metric: str,
                        resamples: int, seed: int, batch: int = 500) -> dict:
    """Mean over seeds of A's metric minus B's, A and B given as (seeds, rows) predicted class ids with
    row s of both from the same seed. Returns the point difference, the 95% percentile interval, the
    two-sided bootstrap p-value (twice the smaller tail share, counting the observed difference as
    one resample: its resolution is 2 / (resamples + 1)) and the numbers of seeds, rows and resamples.
    A resample's rows are counted as weights, so each seed's confusion counts on them are one matrix
    product."""
    gold, a, b = np.asarray(gold), np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != len(gold):
        raise ValueError(f"two_level_bootstrap: A {a.shape} and B {b.shape} must both be "
                         f"(seeds, {len(gold)})")
    n_seeds, n_rows = a.shape
    point = float(per_seed_scores(gold, a, n_classes, metric).mean()
                  - per_seed_scores(gold, b, n_classes, metric).mean())
    pairs = np.eye(n_classes * n_classes)  # one-hot of (gold, pred) per row and seed: (S, n, K*K)
    onehot_a, onehot_b = pairs[gold * n_classes + a], pairs[gold * n_classes + b]
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    for start in range(0, resamples, batch):
        m = min(batch, resamples - start)
        seeds = rng.integers(0, n_seeds, (m, n_seeds))  # drawn with replacement, the same for A and B
        rows = rng.integers(0, n_rows, (m, n_rows))  # drawn with replacement, the same for A and B
        weights = np.bincount((rows + n_rows * np.arange(m)[:, None]).ravel(),
                              minlength=m * n_rows).reshape(m, n_rows).astype(float)
        score = []
        for onehot in (onehot_a, onehot_b):
            conf = np.matmul(weights[None], onehot).transpose(1, 0, 2)  # (m, S, K*K) on the drawn rows
            drawn = np.take_along_axis(conf, seeds[:, :, None], axis=1)  # (m, S drawn, K*K)
            score.append(_from_confusions(drawn, n_classes, metric).mean(axis=-1))
        diffs[start:start + m] = score[0] - score[1]
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    below, above = int((diffs <= 0).sum()), int((diffs >= 0).sum())
    p = min(1.0, 2 * (min(below, above) + 1) / (resamples + 1))
    return {"diff": point, "ci_low": float(low), "ci_high": float(high), "p": p, "seeds": n_seeds,
            "rows": n_rows, "resamples": resamples}


def row_contributions(gold: np.ndarray, preds: np.ndarray, n_classes: int, metric: str) -> np.ndarray:
    """(seeds, rows) per-row contributions whose mean over the rows is each seed's metric: for accuracy
    whether the row is right; for macro-F1 its jackknife pseudo-value n F - (n - 1) F(without the row)
    (a row changes the counts of its gold and its predicted class only, so all rows at once, exactly)."""
    gold, preds = np.asarray(gold), np.asarray(preds)
    if metric == "accuracy":
        return (preds == gold).astype(float)
    n = gold.shape[0]
    classes = np.arange(n_classes)
    g = gold[None, :, None] == classes  # (1, n, K)
    p = preds[..., None] == classes  # (S, n, K)
    tp = (g & p).sum(axis=1, keepdims=True).astype(float)  # (S, 1, K)
    denom = (g.sum(axis=1, keepdims=True) + p.sum(axis=1, keepdims=True)).astype(float)
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    # Without row i: its gold class loses a gold row, its predicted class a predicted row, and a right
    # row takes one true positive from its class.
    tp_out = tp - (g & p)
    denom_out = denom - g - p
    f1_out = np.divide(2 * tp_out, denom_out, out=np.zeros_like(denom_out), where=denom_out > 0)
    macro = f1.mean(axis=-1)  # (S, 1)
    macro_out = macro - (f1 - f1_out).sum(axis=-1) / n_classes  # (S, n)
    return n * macro - (n - 1) * macro_out


def seed_row_moments(gold: Sequence[int], a: np.ndarray, b: np.ndarray, n_classes: int, metric: str,
                     confidence: float = CONFIDENCE) -> dict:
    """Mean over seeds of A's metric minus B's (A and B: (seeds, rows) predicted class ids, row s of
    both from the same seed), with a t interval that counts the seed level and the row level.

    The per-row contributions' differences z[s, i] (row_contributions of A minus B) follow a crossed
    random-effects model z = mu + seed_s + row_i + e_si. The method of moments on the two-way table
    (mean squares of seeds, rows and residual) estimates Var(mean z) = s2_seed / S + s2_row / n +
    s2_e / (S n) as max(MS_seed, MS_e) / (S n) + (MS_row - MS_e) / (S n), the row level floored at 0,
    and a t
    interval with the seed level's S - 1 degrees of freedom: with few seeds the interval is wide, as
    it must be (see below why not Satterthwaite's). The centre is the exact
    difference of the mean scores; p is the two-sided t test of 0."""
    from scipy import stats as scipy_stats

    gold, a, b = np.asarray(gold), np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != len(gold):
        raise ValueError(f"seed_row_moments: A {a.shape} and B {b.shape} must both be (seeds, {len(gold)})")
    n_seeds, n_rows = a.shape
    diff = float(per_seed_scores(gold, a, n_classes, metric).mean()
                 - per_seed_scores(gold, b, n_classes, metric).mean())
    out = {"diff": diff, "seeds": n_seeds, "rows": n_rows}
    if n_seeds < 2:
        return {**out, "ci_low": None, "ci_high": None, "p": None, "se": None, "df": None}
    z = row_contributions(gold, a, n_classes, metric) - row_contributions(gold, b, n_classes, metric)
    grand = z.mean()
    by_seed, by_row = z.mean(axis=1), z.mean(axis=0)
    df = np.array([n_seeds - 1, n_rows - 1, (n_seeds - 1) * (n_rows - 1)], dtype=float)
    ms = np.array([n_rows * ((by_seed - grand) ** 2).sum(), n_seeds * ((by_row - grand) ** 2).sum(),
                   ((z - by_seed[:, None] - by_row[None, :] + grand) ** 2).sum()]) / df
    # Var(mean) = MS_seed / (S n) + (MS_row - MS_e) / (S n): the per-seed means' own spread (seed level
    # and residual; S - 1 degrees of freedom) plus the rows' level, which every seed shares, floored
    # at 0. The first term is at least the residual's share, MS_e / (S n), as the model says: per-seed
    # means that happen to agree exactly never make a zero-width interval.
    var = (max(ms[0], ms[2]) + max(0.0, ms[1] - ms[2])) / (n_seeds * n_rows)
    # The seed level's degrees of freedom, S - 1, not Satterthwaite's: that one follows the estimated
    # share of the seed level, and three seeds that happen to agree give it hundreds of degrees of
    # freedom and a far too narrow interval (docs/statistics.md: what the simulations showed).
    # With the row level nearly known, S - 1 is the conservative choice (exact if the rows vanish).
    dof = float(n_seeds - 1)
    if var <= 0:  # the same difference on every row of every seed: no spread, and no claim from it
        return {**out, "ci_low": diff, "ci_high": diff, "p": 1.0, "se": 0.0, "df": dof}
    se = math.sqrt(var)
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, dof)) * se
    p = float(2 * scipy_stats.t.sf(abs(diff) / se, dof))
    return {**out, "ci_low": diff - half, "ci_high": diff + half, "p": p, "se": se, "df": dof,
            "components": {"seed": float(max(0.0, (ms[0] - ms[2]) / n_rows)),
                           "row": float(max(0.0, (ms[1] - ms[2]) / n_seeds)), "residual": float(ms[2])}}


def simultaneous(test: dict, family: int, alpha: float) -> dict:
    """The interval at the Bonferroni level alpha / family (the same t and standard error): it covers
    every countermeasure's true difference at once with probability at least 1 - alpha."""
    from scipy import stats as scipy_stats

    if test.get("se") is None:
        return {"ci_low_simultaneous": None, "ci_high_simultaneous": None}
    half = float(scipy_stats.t.ppf(1 - alpha / (2 * max(family, 1)), test["df"])) * test["se"]
    return {"ci_low_simultaneous": test["diff"] - half, "ci_high_simultaneous": test["diff"] + half}


# The seed x row method's family-wise error as the simulator measured it (docs/statistics.md, "Measured
# at every seed count": simulate_study --methods moments --seeds 2 3 4 5 6 7 8 9 10 15 20 --family F,
# null studies per cell: 300 at 11 and 15 countermeasures, 1000 at 1; Holm at 0.05 on macro-F1): by the
# size of Holm's family, then the number of paired seeds, the highest over the four simulated worlds.
# A study gives verdicts only where its family and seed count were measured (or lie between measured
# ones: measured_fwer) with an error at or below its alpha, and only at the level measured; elsewhere it
# gives intervals and says why (`verdict_gate`).
CALIBRATED_ALPHA = 0.05
MEASURED_FWER = {
    11: {2: 0.0, 3: 0.0, 4: 0.0, 5: 0.0, 6: 0.007, 7: 0.01, 8: 0.017, 9: 0.02, 10: 0.03, 15: 0.01, 20: 0.03},
    15: {2: 0.0, 3: 0.0, 4: 0.0, 5: 0.0, 6: 0.003, 7: 0.007, 8: 0.007, 9: 0.013, 10: 0.007, 15: 0.02,
         20: 0.013},
    1: {2: 0.0, 3: 0.006, 4: 0.025, 5: 0.03, 6: 0.027, 7: 0.038, 8: 0.04, 9: 0.04, 10: 0.03, 15: 0.042,
        20: 0.051},
}


def measured_fwer(family: int) -> dict[int, float] | None:
    """The family-wise errors, by paired seeds, that hold for a Holm family of this size: the measured
    ones, or between two measured sizes the higher of the two at each seed count (Holm's smallest
    threshold, alpha / family, lies between theirs: a bracket, not a measurement); None outside the
    measured sizes."""
    if family in MEASURED_FWER:
        return MEASURED_FWER[family]
    below = [f for f in MEASURED_FWER if f < family]
    above = [f for f in MEASURED_FWER if f > family]
    if not below or not above:
        return None
    low, high = MEASURED_FWER[max(below)], MEASURED_FWER[min(above)]
    return {seeds: max(low[seeds], high[seeds]) for seeds in sorted(low.keys() & high.keys())}


def verdict_gate(seeds: int, alpha: float, family: int) -> tuple[str, dict] | None:
    """None when a verdict may be given for a comparison over `seeds` paired seeds at level `alpha` in
    a Holm family of `family` countermeasures; otherwise why not: (reason key, its values) — one_seed
    (fewer than 2 pairs), alpha (not the level measured), family (a family size outside the measured
    ones), not_measured (no measurement at this seed count) or above (measured, and above alpha)."""
    if seeds < 2:
        return "one_seed", {"seeds": seeds}
    if not math.isclose(alpha, CALIBRATED_ALPHA):
        return "alpha", {"alpha": alpha, "measured": CALIBRATED_ALPHA}
    errors = measured_fwer(family)
    if errors is None:
        return "family", {"family": family, "measured": sorted(MEASURED_FWER)}
    error = errors.get(seeds)
    if error is None:
        return "not_measured", {"seeds": seeds, "measured": sorted(errors)}
    if error > alpha:
        return "above", {"seeds": seeds, "error": error, "alpha": alpha}
    return None


def standard_error(components: dict, seeds: int, rows: int) -> float:
    """sqrt(s2_seed / S + s2_row / n + s2_e / (S n)): the standard error of a difference of means over
    `seeds` seeds on `rows` test rows, from fitted variance components (seed_row_moments)."""
    return math.sqrt(components["seed"] / seeds + components["row"] / rows
                     + components["residual"] / (seeds * rows))


def detectable(components: dict, seeds: int, rows: int, family: int, alpha: float, power: float = 0.8
               ) -> float:
    """The smallest true difference that a study with these variance components, `seeds` paired seeds
    and `rows` test rows judges different `power` of the time at the Bonferroni level alpha / family
    (Holm's first step: what a lone real effect among nulls must pass): the non-centrality at which
    the two-sided t test on S - 1 degrees of freedom rejects with probability `power`, times the
    standard error."""
    from scipy import optimize
    from scipy import stats as scipy_stats

    se = standard_error(components, seeds, rows)
    if se == 0:
        return 0.0
    dof = seeds - 1
    crit = float(scipy_stats.t.ppf(1 - alpha / (2 * max(family, 1)), dof))

    # P(|T| > crit) for T = (Z + nc) / sqrt(V / dof), V chi-square: the mean over V's quantiles of the
    # normal probabilities (scipy's nct returns NaN in the far tails that few seeds need).
    root = np.sqrt(scipy_stats.chi2.ppf((np.arange(4000) + 0.5) / 4000, dof) / dof)

    def shortfall(nc: float) -> float:
        return float(np.mean(scipy_stats.norm.cdf(nc - crit * root) + scipy_stats.norm.cdf(-nc - crit * root))
                     ) - power

    high = 2 * crit + 4
    while shortfall(high) < 0:
        high *= 2
    return float(optimize.brentq(shortfall, 0.0, high, xtol=1e-6)) * se


def floor(components: dict, rows: int, family: int, alpha: float, power: float = 0.8) -> float:
    """What `detectable` tends to with unlimited seeds: the test set's own floor, set by its rows'
    level alone (normal quantiles)."""
    from scipy import stats as scipy_stats

    z = float(scipy_stats.norm.ppf(1 - alpha / (2 * max(family, 1))) + scipy_stats.norm.ppf(power))
    return z * math.sqrt(components["row"] / rows)


def power_of(components: dict, seeds: int, rows: int, family: int, alpha: float,
             max_seeds: int = 200) -> dict:
    """Per comparison: the smallest difference detected 80% of the time with these seeds, the number
    of seeds (at most max_seeds) that would halve it (None: more seeds cannot, the test set's floor
    is above half), and that floor."""
    now = detectable(components, seeds, rows, family, alpha)
    bottom = floor(components, rows, family, alpha)
    halve = None
    if bottom < now / 2 and detectable(components, max_seeds, rows, family, alpha) <= now / 2:
        # detectable falls with every seed added (the t quantile and the standard error both do): the
        # smallest count that halves it, by bisection
        low, halve = seeds, max_seeds  # detectable(low) > now / 2 >= detectable(halve)
        while halve - low > 1:
            mid = (low + halve) // 2
            if detectable(components, mid, rows, family, alpha) <= now / 2:
                halve = mid
            else:
                low = mid
    return {"detectable": now, "seeds_to_halve": halve, "floor": bottom, "power": 0.8, "max_seeds": max_seeds}


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (statsmodels), in the order given."""
    from statsmodels.stats.multitest import multipletests

    return [float(q) for q in multipletests(list(p_values), method="holm")[1]] if len(p_values) else []


def curve_summary(epochs: Sequence[int], train_ce: Sequence[float], dev_ce: Sequence[float],
                  kept_epoch: int) -> dict:
    """What one run's per-epoch plain cross-entropies say: the epoch of lowest dev loss, how much dev
    loss rose from that minimum to the last epoch (0: it never rose), dev minus train loss at the
    epoch the run kept (its best dev macro-F1), and from the minimum to the last epoch how train loss
    changed and the gap dev minus train loss at both ends."""
    epochs, train_ce, dev_ce = list(epochs), np.asarray(train_ce, float), np.asarray(dev_ce, float)
    lowest = int(np.argmin(dev_ce))
    kept = epochs.index(kept_epoch)
    return {"min_dev_ce_epoch": int(epochs[lowest]), "min_dev_ce": float(dev_ce[lowest]),
            "dev_ce_rise": float(dev_ce[-1] - dev_ce[lowest]),
            "gap_at_kept": float(dev_ce[kept] - train_ce[kept]), "kept_epoch": int(kept_epoch),
            # the overfitting picture after the minimum: train loss still falling, the gap widening
            "train_ce_change": float(train_ce[-1] - train_ce[lowest]),
            "gap_at_min": float(dev_ce[lowest] - train_ce[lowest]),
            "gap_at_last": float(dev_ce[-1] - train_ce[-1])}
