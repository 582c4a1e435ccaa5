"""The study's statistics on synthetic studies whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from ja_sentiment import study_stats
from ja_sentiment.study_stats import (
    curve_summary,
    holm,
    per_seed_scores,
    row_contributions,
    seed_row_moments,
    two_level_bootstrap,
)
from ja_sentiment.tools import simulate_study as sim


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


def test_holm():
    p = [0.01, 0.04, 0.03, 0.2]
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1].tolist())
    assert holm([]) == []


def test_curve_summary_of_a_run_that_overfits():
    # Dev loss falls to its minimum at epoch 2, then rises by 0.3; the run kept epoch 3.
    out = curve_summary([1, 2, 3, 4], train_ce=[0.9, 0.5, 0.3, 0.1], dev_ce=[0.8, 0.6, 0.7, 0.9],
                        kept_epoch=3)
    assert out == {"min_dev_ce_epoch": 2, "min_dev_ce": 0.6, "dev_ce_rise": pytest.approx(0.3),
                   "gap_at_kept": pytest.approx(0.4), "kept_epoch": 3,
                   # after the minimum train loss fell by 0.4 and the gap widened from 0.1 to 0.8
                   "train_ce_change": pytest.approx(-0.4), "gap_at_min": pytest.approx(0.1),
                   "gap_at_last": pytest.approx(0.8)}


# The simulator with known truth (ja_sentiment/tools/simulate_study.py) judges the methods on cells
# chosen in advance, 11 countermeasures, Holm at 0.05 on macro-F1. The check: the Clopper-Pearson 95%
# upper bound of the family-wise error, over N_STUDIES simulated null studies, at most 0.05 + MARGIN.
# With 200 studies a method at exactly 0.05 (10 errors) has an upper bound of 0.090: MARGIN = 0.05
# lets a calibrated method pass, and one at 0.15 or more fails with high probability.
N_STUDIES, MARGIN = 200, 0.05


def fwer_upper(world_name: str, seeds: int, method: str) -> float:
    from ja_sentiment.tools.simulate_study import WORLDS, cell, clopper_pearson

    world = next(w for w in WORLDS if w.name == world_name)
    result = cell(world, seeds, method, N_STUDIES, family=11, resamples=499, seed=7)
    print(world_name, seeds, method, result)
    return clopper_pearson(round(result["fwer"] * N_STUDIES), N_STUDIES)[1]


def test_the_seed_level_method_holds_its_family_wise_error_where_the_bootstrap_does_not():
    """3 seeds, seed sd of accuracy about 2.6 points: the two-level bootstrap's seed level is too
    narrow with so few seeds."""
    assert fwer_upper("seed sd large", 3, "moments") <= 0.05 + MARGIN
    assert fwer_upper("seed sd large", 3, "bootstrap") > 0.05 + MARGIN  # the simulator tells them apart


def test_the_seed_level_method_holds_it_where_ignoring_the_test_rows_does_not():
    """10 seeds that move the score little: an interval over the seeds alone forgets the test set's
    own sampling noise (each configuration's own row effects), and the simulator catches it."""
    assert fwer_upper("rows only", 10, "moments") <= 0.05 + MARGIN
    assert fwer_upper("rows only", 10, "seeds only") > 0.05 + MARGIN


def test_the_seed_level_method_finds_a_planted_effect():
    """A floor chosen in advance, so that a method that never rejects fails: 10 seeds, seed sd about
    1.6 points, one countermeasure with +6 points of macro-F1 among 11, found in at least half."""
    from ja_sentiment.tools.simulate_study import WORLDS, cell, effect_for

    world = next(w for w in WORLDS if w.name == "seed sd moderate")
    result = cell(world, 10, "moments", 30, family=11, planted=effect_for(world, 6), seed=3)
    assert result["power"] >= 0.5, result


def test_row_contributions_are_exact_jackknife_pseudo_values():
    from ja_sentiment.stats import _scores

    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, 60)
    preds = np.where(rng.random((2, 60)) < 0.7, gold, (gold + 1) % 3)
    z = row_contributions(gold, preds, 3, "macro_f1")
    for s in range(2):
        whole = _scores(gold, preds[s], 3)[1]
        for i in range(60):
            keep = np.arange(60) != i
            assert z[s, i] == pytest.approx(60 * whole - 59 * _scores(gold[keep], preds[s][keep], 3)[1])
    assert (row_contributions(gold, preds, 3, "accuracy") == (preds == gold)).all()
    # A class no row has nor predicts (F1 0 by sklearn's zero_division=0), and one with a single row.
    gold = np.array([0, 0, 0, 1, 1, 1, 1, 3])
    pred = np.array([[0, 1, 0, 1, 1, 0, 1, 3]])
    z = row_contributions(gold, pred, 4, "macro_f1")
    whole = _scores(gold, pred[0], 4)[1]
    for i in range(8):
        keep = np.arange(8) != i
        assert z[0, i] == pytest.approx(8 * whole - 7 * _scores(gold[keep], pred[0][keep], 4)[1])


def test_seed_row_moments_on_a_known_two_way_table():
    """Accuracy differences whose per-seed means and per-row means are set by hand: the variance is
    max(MS_seed, MS_e) / (S n) + (MS_row - MS_e) / (S n), on S - 1 degrees of freedom."""
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 3, 400)
    a = np.where(rng.random((4, 400)) < 0.8, gold, (gold + 1) % 3)
    b = np.where(rng.random((4, 400)) < 0.7, gold, (gold + 2) % 3)
    result = seed_row_moments(gold, a, b, 3, "accuracy")
    z = (a == gold).astype(float) - (b == gold)
    s_, n = z.shape
    ms_seed = n * ((z.mean(1) - z.mean()) ** 2).sum() / (s_ - 1)
    ms_row = s_ * ((z.mean(0) - z.mean()) ** 2).sum() / (n - 1)
    resid = z - z.mean(1, keepdims=True) - z.mean(0, keepdims=True) + z.mean()
    ms_e = (resid ** 2).sum() / ((s_ - 1) * (n - 1))
    var = (max(ms_seed, ms_e) + max(0, ms_row - ms_e)) / (s_ * n)
    assert result["diff"] == pytest.approx(z.mean()) and result["se"] == pytest.approx(np.sqrt(var))
    assert result["df"] == 3
    half = stats.t.ppf(0.975, 3) * np.sqrt(var)
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((z.mean() - half, z.mean() + half))
    assert result["p"] == pytest.approx(2 * stats.t.sf(abs(z.mean()) / np.sqrt(var), 3))
    assert seed_row_moments(gold, a[:1], b[:1], 3, "accuracy")["ci_low"] is None  # one seed: none
    same = seed_row_moments(gold, a, a.copy(), 3, "macro_f1")
    assert (same["diff"], same["p"]) == (0.0, 1.0)


def test_the_weighted_bootstrap_equals_resampling_the_rows_themselves():
    """two_level_bootstrap counts a resample's rows as weights; resampling the rows themselves (the
    direct way, as it was written before) with the same draws gives the same interval and p."""
    from ja_sentiment.stats import CONFIDENCE, _scores

    rng = np.random.default_rng(5)
    gold = rng.integers(0, 3, 120)
    a = np.where(rng.random((3, 120)) < 0.8, gold, (gold + 1) % 3)
    b = np.where(rng.random((3, 120)) < 0.7, gold, (gold + 2) % 3)
    for metric, k in (("macro_f1", 1), ("accuracy", 0)):
        got = two_level_bootstrap(gold, a, b, 3, metric, resamples=300, seed=9, batch=100)
        draws = np.random.default_rng(9)
        diffs = []
        for _ in range(3):
            seeds = draws.integers(0, 3, (100, 3))[:, :, None]
            rows = draws.integers(0, 120, (100, 120))
            g = np.broadcast_to(gold[rows][:, None, :], (100, 3, 120))
            diffs.append(_scores(g, a[seeds, rows[:, None, :]], 3)[k].mean(-1)
                         - _scores(g, b[seeds, rows[:, None, :]], 3)[k].mean(-1))
        diffs = np.concatenate(diffs)
        tail = (1 - CONFIDENCE) / 2
        assert (got["ci_low"], got["ci_high"]) == pytest.approx(tuple(np.quantile(diffs, [tail, 1 - tail])))
        low, high = int((diffs <= 0).sum()), int((diffs >= 0).sum())
        assert got["p"] == pytest.approx(min(1.0, 2 * (min(low, high) + 1) / 301))


def test_the_smallest_detectable_difference_is_detected_about_80_percent_of_the_time():
    """Known truth: in a simulated world, the variance components fitted on pilot studies give the
    smallest difference detected 80% of the time at 5 seeds (Holm over 11); a countermeasure planted
    with exactly that true difference is then judged better in about 80% of simulated studies."""
    world = sim.WORLDS[1]
    components = sim.prior_components(world, n_seeds=5)
    power = study_stats.power_of(components, 5, sum(sim.CLASS_COUNTS), 11, 0.05)
    assert 0.04 < power["detectable"] < 0.15 and power["floor"] < power["detectable"] / 2
    assert power["seeds_to_halve"] > 5
    found = sim.cell(world, 5, "moments", 100, planted=sim.effect_for(world, 100 * power["detectable"]),
                     seed=3)["power"]
    assert 0.65 <= found <= 0.93, found
    # More seeds: a smaller detectable difference, never below the test set's floor.
    ladder = [study_stats.detectable(components, s, 553, 11, 0.05) for s in (3, 5, 10, 40, 200)]
    assert ladder == sorted(ladder, reverse=True) and ladder[-1] > power["floor"]


def test_the_verdict_gate_is_the_simulators_table_in_the_docs():
    """study_stats.MEASURED_FWER is, per Holm family size, the highest family-wise error per seed count
    of the measured tables in docs/statistics.md, and verdicts are gated on it."""
    import re
    from pathlib import Path

    docs = (Path(__file__).resolve().parent.parent / "docs/statistics.md").read_text(encoding="utf-8")
    section = docs.split("### Measured at every seed count")[1].split("\n## ")[0]
    worst: dict[int, dict[int, float]] = {}
    heading = r"^#### Holm over (\d+) countermeasures?\b[^\n]*\n(.*?)(?=^#### |\Z)"
    for family, table in re.findall(heading, section, flags=re.M | re.S):
        errors = worst.setdefault(int(family), {})
        for seeds, error in re.findall(r"^\| [^|]+ \| (\d+) \| moments \(\d+\) \| [\d.]+ \| ([\d.]+) \[",
                                       table, flags=re.M):
            errors[int(seeds)] = max(errors.get(int(seeds), 0.0), float(error))
    assert worst == study_stats.MEASURED_FWER and sorted(worst) == [1, 11, 15]
    assert all(len(errors) == 11 for errors in worst.values())
    for family in (1, 2, 11, 14, 15):
        assert all(study_stats.verdict_gate(s, 0.05, family) is None for s in range(2, 11))
    assert study_stats.verdict_gate(11, 0.05, 15)[0] == "not_measured"
    assert study_stats.verdict_gate(20, 0.05, 1)[0] == "above"  # 0.051 measured with one countermeasure
    assert study_stats.verdict_gate(5, 0.05, 16)[0] == "family"
