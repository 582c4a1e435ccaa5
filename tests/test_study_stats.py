"""The study's statistics on synthetic studies whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from ja_sentiment.study_stats import (
    curve_summary,
    holm,
    min_resamples,
    per_seed_scores,
    two_level_bootstrap,
)


def synthetic(rng: np.random.Generator, gold: np.ndarray, difficulty: np.ndarray, seeds: int,
              shift: float = 0.0, seed_sd: float = 0.02) -> np.ndarray:
    """(seeds, rows) predictions: row i is right with probability difficulty[i] + the seed's own
    effect (+ `shift`); a wrong row gets one of the two other classes."""
    effect = rng.normal(0, seed_sd, (seeds, 1)) + shift
    right = rng.random((seeds, len(gold))) < np.clip(difficulty + effect, 0, 1)
    wrong = (gold + rng.integers(1, 3, (seeds, len(gold)))) % 3
    return np.where(right, gold, wrong)


def null_coverage(seeds: int, seed_sd: float, reps: int = 100) -> float:
    """Share of null studies (two configurations from one process, a new test set each repetition)
    whose 95% interval of the difference of mean macro-F1 covers the true difference, 0."""
    rng = np.random.default_rng(0)
    covered = 0
    for rep in range(reps):
        gold = rng.integers(0, 3, 300)
        difficulty = rng.beta(0.3, 0.3, 300) * 0.9 + 0.05  # most rows easy or hard, as for a trained model
        a = synthetic(rng, gold, difficulty, seeds, seed_sd=seed_sd)
        b = synthetic(rng, gold, difficulty, seeds, seed_sd=seed_sd)
        result = two_level_bootstrap(gold, a, b, 3, "macro_f1", resamples=300, seed=rep)
        covered += result["ci_low"] <= 0 <= result["ci_high"]
    return covered / reps


def test_null_studies_cover_zero_about_95_percent_of_the_time():
    """With 5 seeds whose scores differ by a few points (sd 0.05): about 95%. Where seeds differ only
    by rows flipping at random (no seed effect), the row flips are counted at both levels and the
    interval is conservative (wider than needed): it then covers 0 more often, never less."""
    share = null_coverage(seeds=5, seed_sd=0.05)
    print(f"null coverage, 5 seeds, seed sd 0.05: {share:.3f}")
    assert 0.90 <= share <= 0.99
    flips_only = null_coverage(seeds=5, seed_sd=0.0, reps=40)
    print(f"null coverage, 5 seeds, row flips only: {flips_only:.3f}")
    assert flips_only >= 0.95


def test_a_planted_difference_is_found_with_its_size():
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 3, 553)
    difficulty = rng.uniform(0.5, 0.9, 553)
    base, better = synthetic(rng, gold, difficulty, 5), synthetic(rng, gold, difficulty, 5, shift=0.08)
    result = two_level_bootstrap(gold, better, base, 3, "accuracy", resamples=2000, seed=0)
    assert result["diff"] == pytest.approx(
        (better == gold).mean(axis=1).mean() - (base == gold).mean(axis=1).mean())
    assert 0 < result["ci_low"] < result["diff"] < result["ci_high"]
    assert result["p"] < 0.01 and (result["seeds"], result["rows"], result["resamples"]) == (5, 553, 2000)
    reverse = two_level_bootstrap(gold, base, better, 3, "accuracy", resamples=2000, seed=0)
    assert reverse["ci_high"] < 0 and reverse["diff"] == pytest.approx(-result["diff"])


def test_identical_configurations_give_a_zero_interval_and_p_one():
    rng = np.random.default_rng(2)
    gold = rng.integers(0, 3, 200)
    a = synthetic(rng, gold, np.full(200, 0.8), 3)
    result = two_level_bootstrap(gold, a, a.copy(), 3, "macro_f1", resamples=500, seed=0)
    assert (result["diff"], result["ci_low"], result["ci_high"], result["p"]) == (0.0, 0.0, 0.0, 1.0)


def test_per_seed_scores_and_shapes():
    gold = np.array([0, 1, 2, 2])
    preds = np.array([[0, 1, 2, 2], [0, 0, 2, 1]])
    assert per_seed_scores(gold, preds, 3, "accuracy").tolist() == [1.0, 0.5]
    with pytest.raises(ValueError, match="must both be"):
        two_level_bootstrap(gold, preds, preds[:1], 3, "accuracy", 10, 0)


def test_holm_and_the_resamples_its_smallest_threshold_needs():
    p = [0.01, 0.04, 0.03, 0.2]
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1].tolist())
    assert holm([]) == []
    # 11 countermeasures at 0.05: the smallest threshold 0.0045 needs 20 / 0.0045 = 4400 resamples.
    assert min_resamples(11, 0.05) == 4400


def test_curve_summary_of_a_run_that_overfits():
    # Dev loss falls to its minimum at epoch 2, then rises by 0.3; the run kept epoch 3.
    out = curve_summary([1, 2, 3, 4], train_ce=[0.9, 0.5, 0.3, 0.1], dev_ce=[0.8, 0.6, 0.7, 0.9],
                        kept_epoch=3)
    assert out == {"min_dev_ce_epoch": 2, "min_dev_ce": 0.6, "dev_ce_rise": pytest.approx(0.3),
                   "gap_at_kept": pytest.approx(0.4), "kept_epoch": 3}
