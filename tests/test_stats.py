"""ja_sentiment.stats and .calibration on cases whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from ja_sentiment.calibration import apply_temperature, fit_temperature, reliability
from ja_sentiment.stats import (
    BETTER,
    NO_SPREAD,
    SEEDS_BETTER,
    UNCLEAR,
    UNCLEAR_SEEDS,
    WORSE,
    _scores,
    compare_seeds,
    mcnemar_p,
    paired_comparison,
    point_scores,
    score_intervals,
    seed_summary,
)

NAMES = ["negative", "neutral", "positive"]
RNG = np.random.default_rng(0)
GOLD = RNG.integers(0, 3, 553)


def noisy(right_share: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.random(len(GOLD)) < right_share, GOLD, (GOLD + rng.integers(1, 3, len(GOLD))) % 3)


def test_point_scores_equal_sklearn():
    from sklearn.metrics import accuracy_score, f1_score

    pred = noisy(0.8, 1)
    got = point_scores(GOLD, pred, 3)
    assert got["accuracy"] == pytest.approx(accuracy_score(GOLD, pred))
    assert got["macro_f1"] == pytest.approx(f1_score(GOLD, pred, average="macro"))


def test_a_perfect_model_has_zero_width_intervals():
    expected = {k: (1.0, 1.0) for k in ["accuracy", "macro_f1", *NAMES]}
    assert score_intervals(GOLD, GOLD, NAMES, 1000, 0) == expected


def test_intervals_cover_the_point_are_seeded_and_shrink_with_more_rows():
    pred = noisy(0.8, 1)
    ci = score_intervals(GOLD, pred, NAMES, 1000, 0)
    point = point_scores(GOLD, pred, 3)
    for key in ("accuracy", "macro_f1"):
        assert ci[key][0] < point[key] < ci[key][1]
    assert score_intervals(GOLD, pred, NAMES, 1000, 0) == ci  # same seed, same interval
    assert score_intervals(GOLD, pred, NAMES, 1000, 1) != ci
    # A binomial proportion's 95% interval is about +-1.96 sqrt(p(1-p)/n): about +-0.033 at n = 553.
    half = (ci["accuracy"][1] - ci["accuracy"][0]) / 2
    assert half == pytest.approx(1.96 * np.sqrt(point["accuracy"] * (1 - point["accuracy"]) / 553), rel=0.15)
    four = score_intervals(np.tile(GOLD, 4), np.tile(pred, 4), NAMES, 1000, 0)["accuracy"]
    assert (four[1] - four[0]) / 2 == pytest.approx(half / 2, rel=0.2)  # 4x the rows: half the width


def test_two_identical_models_are_not_distinguishable():
    pred = noisy(0.8, 1)
    result = paired_comparison(GOLD, pred, pred, 3, 1000, 0)
    for key in ("accuracy", "macro_f1"):
        assert result[f"{key}_diff"] == result[f"{key}_diff_ci_low"] == result[f"{key}_diff_ci_high"] == 0
        assert result[f"{key}_verdict"] == UNCLEAR
    assert result["mcnemar_p"] == 1.0 and result["only_a_right"] == result["only_b_right"] == 0


def test_a_clearly_better_model_is_better_and_the_reverse_worse():
    strong, weak = noisy(0.9, 1), noisy(0.6, 2)
    better = paired_comparison(GOLD, strong, weak, 3, 1000, 0)
    assert better["accuracy_diff"] == pytest.approx((strong == GOLD).mean() - (weak == GOLD).mean())
    assert better["accuracy_diff_ci_low"] > 0 and better["accuracy_verdict"] == BETTER
    assert better["macro_f1_verdict"] == BETTER and better["mcnemar_p"] < 1e-6
    worse = paired_comparison(GOLD, weak, strong, 3, 1000, 0)
    assert worse["accuracy_verdict"] == worse["macro_f1_verdict"] == WORSE


def test_a_one_point_difference_on_553_rows_is_not_distinguishable():
    base = noisy(0.85, 1)
    other = base.copy()
    fixed = np.flatnonzero(base != GOLD)[:12]  # 12 rows only `other` gets right...
    other[fixed] = GOLD[fixed]
    broken = np.flatnonzero(base == GOLD)[:6]  # ...and 6 only `base` gets right: +6 rows, +1.1 points
    other[broken] = (GOLD[broken] + 1) % 3
    result = paired_comparison(GOLD, other, base, 3, 1000, 0)
    assert result["accuracy_diff"] == pytest.approx(6 / 553)
    assert (result["only_a_right"], result["only_b_right"]) == (12, 6)
    assert result["mcnemar_p"] == pytest.approx(scipy_stats.binomtest(12, 18).pvalue)  # 0.238
    # 18 discordant rows, 12-6: the interval spans 0, and the verdict says no difference is shown.
    assert result["accuracy_diff_ci_low"] < 0 < result["accuracy_diff_ci_high"]
    assert result["accuracy_verdict"] == UNCLEAR


def test_a_verdict_without_a_difference_gives_the_compatible_range_never_a_difference():
    from ja_sentiment.reports.markdown import verdict_text
    from ja_sentiment.reports.text import Text

    text = verdict_text(UNCLEAR, -0.0123, 0.0345)
    assert text == ("not distinguishable: the data do not show a difference; they are compatible with "
                    "differences from -1.2 to +3.5 points")
    assert "too small" not in text
    assert verdict_text(BETTER, 0.01, 0.05) == "better"
    ja = verdict_text(UNCLEAR, -0.0123, 0.0345, Text("ja"))
    assert ja.startswith("差は示されない") and "-1.2 〜 +3.5 ポイント" in ja


def test_a_class_absent_from_a_sample_follows_one_rule_in_points_and_resamples():
    from sklearn.metrics import f1_score

    gold, pred = np.array([0, 0, 2, 2, 2]), np.array([0, 2, 2, 2, 0])  # class 1: no gold, no prediction
    expected = f1_score(gold, pred, labels=[0, 1, 2], average=None, zero_division=0)
    assert expected[1] == 0.0
    scores = _scores(gold, pred, 3)  # what every bootstrap resample computes
    np.testing.assert_allclose(scores[2:], expected)
    assert point_scores(gold, pred, 3)["macro_f1"] == pytest.approx(expected.mean()) == scores[1]


@pytest.mark.parametrize("only_a, only_b, p", [(5, 1, 0.21875), (10, 0, 2 * 0.5 ** 10), (3, 3, 1.0),
                                               (0, 0, 1.0)])
def test_mcnemar_matches_a_hand_built_table(only_a, only_b, p):
    both, neither = 40, 7
    right_a = np.array([True] * both + [True] * only_a + [False] * only_b + [False] * neither)
    right_b = np.array([True] * both + [False] * only_a + [True] * only_b + [False] * neither)
    assert mcnemar_p(right_a, right_b) == pytest.approx(p)
    # Exact McNemar = two-sided binomial test on the discordant rows.
    if only_a + only_b:
        assert p == pytest.approx(scipy_stats.binomtest(only_a, only_a + only_b).pvalue)


def test_seed_summary_and_paired_seed_interval():
    assert seed_summary([0.8, 0.82, 0.81]) == {"seeds": 3, "mean": pytest.approx(0.81),
                                               "std": pytest.approx(0.01), "min": 0.8, "max": 0.82}
    # The same seeds in both: per-seed differences 0.11, 0.09, 0.10: mean 0.1, sd 0.01, 2 degrees of freedom.
    result = compare_seeds([0.81, 0.80, 0.79], [0.70, 0.71, 0.69])
    half = scipy_stats.t.ppf(0.975, 2) * 0.01 / np.sqrt(3)
    assert result["diff"] == pytest.approx(0.1)
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((0.1 - half, 0.1 + half))
    assert result["verdict"] == SEEDS_BETTER == "better across these seeds, on this one test set"
    # Paired, not Welch: a seed effect shared by both configurations cancels. Unpaired, the spread of
    # 0.05 between seeds would swamp the 0.01 difference; paired, the differences are 0.01 +- 0.001.
    shared = compare_seeds([0.801, 0.851, 0.9], [0.79, 0.84, 0.89])
    assert shared["ci_low"] > 0 and shared["verdict"] == SEEDS_BETTER
    assert scipy_stats.ttest_ind([0.801, 0.851, 0.9], [0.79, 0.84, 0.89]).pvalue > 0.5  # Welch sees nothing
    assert compare_seeds([0.80, 0.82, 0.79], [0.80, 0.79, 0.81])["verdict"] == UNCLEAR_SEEDS
    assert compare_seeds([0.8], [0.7])["ci_low"] is None  # one seed: no interval
    with pytest.raises(ValueError, match="paired by seed"):
        compare_seeds([0.8, 0.7], [0.7])


def test_seeds_without_spread_give_no_interval_and_no_better():
    result = compare_seeds([0.80, 0.81, 0.79], [0.70, 0.71, 0.69])  # the same difference on every seed
    assert result["diff"] == pytest.approx(0.1)
    assert (result["ci_low"], result["ci_high"], result["p"]) == (None, None, None)
    assert result["verdict"] == NO_SPREAD and "better" not in result["verdict"]
    # Differences that vary give an interval, though one configuration's scores do not.
    assert compare_seeds([0.80, 0.81, 0.79], [0.70, 0.70, 0.70])["ci_low"] is not None


def test_ece_of_known_cases():
    onehot = np.eye(3)[GOLD]
    assert reliability(onehot, GOLD)[0] == 0.0  # certain and always right
    probs = onehot * 0.7 + 0.1  # confidence 0.8 on the gold class
    pred_wrong = np.roll(probs, 1, axis=1)  # confidence 0.8, always wrong
    assert reliability(probs, GOLD)[0] == pytest.approx(0.2)
    assert reliability(pred_wrong, GOLD)[0] == pytest.approx(0.8)
    ece, rows = reliability(probs, GOLD)
    assert len(rows) == 15 and sum(r["examples"] for r in rows) == len(GOLD)
    assert [r["examples"] for r in rows if r["examples"]] == [len(GOLD)] and rows[11]["high"] == 0.8


def test_temperature_scaling_recovers_a_known_temperature_and_keeps_labels():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4000, 3)) * 4
    true_t = 2.5  # labels drawn from softmax(logits / 2.5): the model is overconfident
    p_true = np.exp(logits / true_t) / np.exp(logits / true_t).sum(axis=1, keepdims=True)
    gold = np.array([rng.choice(3, p=p) for p in p_true])
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    t = fit_temperature(probs, gold)
    assert t == pytest.approx(true_t, rel=0.15)
    scaled = apply_temperature(probs, t)
    assert (scaled.argmax(axis=1) == probs.argmax(axis=1)).all()
    assert reliability(scaled, gold)[0] < reliability(probs, gold)[0] / 3
    np.testing.assert_allclose(apply_temperature(probs, 1.0), probs, atol=1e-9)


def test_reports_print_small_p_values_by_their_magnitude():
    from ja_sentiment.reports.markdown import interval, p_value

    assert [p_value(p) for p in (1.0, 0.21875, 0.0004, 2.4e-7, 0.0, None)] == [
        "1.000", "0.219", "4.0e-04", "2.4e-07", "< 1e-300", "–"]
    assert interval(0.1, -0.02, 0.2, signed=True) == "+0.1000 [-0.0200, +0.2000]"
    assert interval(0.8228, 0.7902, 0.8553) == "0.8228 [0.7902, 0.8553]"


def test_ece_uses_the_label_a_decision_rule_predicts():
    probs = np.eye(3)[GOLD] * 0.7 + 0.1  # probability 0.8 on the gold class
    neutral = np.ones_like(GOLD)  # a rule that predicts neutral everywhere
    share = (GOLD == 1).mean()
    # Right (and confident at 0.8) on the neutral rows; wrong at confidence 0.1 on the others.
    ece, rows = reliability(probs, GOLD, pred=neutral)
    assert ece == pytest.approx(share * 0.2 + (1 - share) * 0.1)
    assert [r["examples"] for r in rows if r["examples"]] == [int((GOLD != 1).sum()), int((GOLD == 1).sum())]
