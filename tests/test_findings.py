"""Level 3's findings against their controls, on built data whose answer is known: a possible cause
only where the errors differ from the control significantly, never from a count alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency
from statsmodels.stats.multitest import multipletests

from ja_sentiment import findings as fnd
from ja_sentiment.label_issues import rank
from ja_sentiment.reports.text import Text
from ja_sentiment.words import correct_together

T = Text("en")
ALPHA = 0.05


def block(n: int, k: int, **columns) -> pd.DataFrame:
    """n rows of which the first k have flag = True, with constant columns."""
    return pd.DataFrame({"flag": [i < k for i in range(n)], **columns})


def built_rows(err_rate: float, correct_rate: float) -> pd.DataFrame:
    """Test rows in two gold classes: per class 40 errors and 200 correct rows, of which the given
    shares have neighbours mostly labelled other than their gold label."""
    parts = []
    for gold in ("negative", "positive"):
        parts += [block(40, round(40 * err_rate), gold=gold, wrong=True),
                  block(200, round(200 * correct_rate), gold=gold, wrong=False)]
    return pd.concat(parts, ignore_index=True).rename(columns={"flag": "other_majority"})


def test_neighbours_at_the_correct_rows_rate_give_no_possibility():
    finding = fnd.neighbours(T, built_rows(0.2, 0.2), 5, 0, ALPHA)
    assert finding.values["errors_rate"] == finding.values["correct_rate"] == pytest.approx(0.2)
    assert not finding.significant and finding.values["p"] > 0.5
    assert ("20.0% (16/80) of the errors against 20.0% (80/400) of the correctly classified rows"
            in finding.text)
    assert "Cochran-Mantel-Haenszel" in finding.text
    assert fnd.possibilities(T, [finding]) == []


def test_neighbours_planted_higher_among_errors_give_exactly_one_possibility():
    finding = fnd.neighbours(T, built_rows(0.6, 0.2), 5, 0, ALPHA)
    assert finding.significant and finding.values["p"] < 1e-6 and finding.values["odds_ratio"] > 1
    [possible] = fnd.possibilities(T, [finding])
    assert possible.rests_on == [finding] and "may" in possible.text
    # Higher among the correct rows: significant as a test, but not in the direction of the cause.
    reverse = fnd.neighbours(T, built_rows(0.0, 0.4), 5, 0, ALPHA)
    assert reverse.values["p"] < ALPHA and not reverse.significant
    assert fnd.possibilities(T, [reverse]) == []


def test_neighbours_stratify_by_gold_class():
    """Errors all in a class where most rows have other-label neighbours (a base rate), at that class's
    own rate: pooled, errors look higher; stratified, they are not."""
    rows = pd.concat([block(60, 30, gold="negative", wrong=True), block(60, 30, gold="negative", wrong=False),
                      block(300, 15, gold="positive", wrong=False)], ignore_index=True)
    rows = rows.rename(columns={"flag": "other_majority"})
    finding = fnd.neighbours(T, rows, 5, 0, ALPHA)
    assert finding.values["errors_rate"] == 0.5 and finding.values["correct_rate"] == pytest.approx(45 / 360)
    assert finding.values["odds_ratio"] == pytest.approx(1.0) and not finding.significant


def ranking(cand_wrong: float, rest_wrong: float, cand_mixed: float, rest_mixed: float) -> pd.DataFrame:
    """300 candidate and 1500 other train rows with the given shares wrong and without unanimity."""
    frames = []
    groups = ((True, 300, cand_wrong, cand_mixed), (False, 1500, rest_wrong, rest_mixed))
    for candidate, n, wrong, mixed in groups:
        rng = np.random.default_rng(int(candidate))
        order = rng.permutation(n)  # wrong and mixed independent within the group
        frames.append(pd.DataFrame({"candidate": candidate, "finetuned_wrong": order < round(n * wrong),
                                    "agreement_level": np.where(rng.permutation(n) < round(n * mixed), "2-1",
                                                                "unanimous"),
                                    "majority_status": "gold = majority"}))
    return pd.concat(frames, ignore_index=True)


def test_label_issue_candidates_like_the_other_rows_give_no_possibility():
    finding = fnd.label_issues(T, ranking(0.1, 0.1, 0.3, 0.3), ALPHA)
    assert finding.values["candidates"] == 300  # candidates exist, as they always do
    assert not finding.significant and fnd.possibilities(T, [finding]) == []
    assert "10.0% (30/300) of the candidates wrong against 10.0% (150/1500)" in finding.text


def test_label_issue_candidates_planted_wrong_more_often_give_exactly_one_possibility():
    finding = fnd.label_issues(T, ranking(0.3, 0.1, 0.3, 0.3), ALPHA)
    assert finding.values["wrong"]["significant"] and not finding.values["mixed"]["significant"]
    assert finding.values["wrong"]["p_holm"] == pytest.approx(min(1.0, 2 * finding.values["wrong"]["p"]))
    [possible] = fnd.possibilities(T, [finding])
    assert possible.rests_on == [finding] and "may" in possible.text


def test_the_confident_joint_counts_a_row_for_its_own_class_when_that_class_wins():
    labels = np.array([0, 0, 1, 1, 2])
    probs = np.array([[0.6, 0.4, 0.0],   # own class 0 above t0 = 0.55 and 1 above t1 = 0.35: 0 wins
                      [0.5, 0.3, 0.2],   # nothing above its threshold
                      [0.3, 0.4, 0.3],   # own class 1 only
                      [0.6, 0.3, 0.1],   # class 0 above t0, own class 1 below t1: a candidate for 0
                      [0.1, 0.1, 0.8]])
    ranked = rank(probs, labels)
    assert ranked["candidate"].tolist() == [False, False, False, True, False]
    assert ranked["confident_other"].tolist() == [-1, -1, -1, 0, -1]


def test_non_significant_findings_give_no_possibility():
    found = [fnd.Finding(key, "test", "x", significant=False, values=values) for key, values in (
        ("agreement", {}), ("length", {"shortest_worst": True, "shortest": "≤10"}),
        ("words", {"pairs": {"negative→positive": ["予約"]}}), ("neighbours", {}), ("label_issues", {}))]
    assert fnd.possibilities(T, found) == []
    assert fnd.render(T, found, [])[-1] == T("no_possible_causes")


def test_length_uses_a_permutation_p_where_an_expected_count_is_below_5():
    small = np.array([[3, 1, 0], [20, 30, 25]])  # errors per bucket, correct rows per bucket
    p, method = fnd.independence_test(small)
    assert method == "permutation" and 0 < p <= 1
    assert fnd.independence_test(small) == (p, method)  # seeded
    large = np.array([[30, 20, 10], [200, 300, 250]])
    assert fnd.independence_test(large) == (pytest.approx(chi2_contingency(large)[1]), "chi2")
    by_length = pd.DataFrame({"split": "train", "length_bucket": ["≤10", "11–20", "21–40"],
                              "errors": small[0], "examples": small.sum(axis=0)})
    by_length["error_rate"] = by_length["errors"] / by_length["examples"]
    finding = fnd.length(T, by_length, "train", ALPHA)
    assert finding.values["method"] == "permutation"
    assert "an expected count is below 5, so permutation test of independence" in finding.text


def test_word_tests_are_corrected_over_the_whole_split():
    """A word at p = 0.01 passes on its own (q = 0.01) but not among 50 other tests of the split."""
    one = pd.DataFrame({"word": ["予約"], "sentences": [10], "errors": [8], "p": [0.01]})
    rest = pd.DataFrame({"word": [f"w{i}" for i in range(50)], "sentences": 10, "errors": 1,
                         "p": np.linspace(0.3, 1.0, 50)})
    alone = correct_together({"pair": one}, ALPHA)["pair"]
    assert alone["significant"].tolist() == [True]
    joint = correct_together({"all": rest, "pair": one}, ALPHA)
    expected = multipletests(np.r_[rest["p"], one["p"]], method="fdr_bh")[1]
    assert joint["pair"]["q"].tolist() == pytest.approx([expected[-1]])
    assert not joint["pair"]["significant"].any() and not joint["all"]["significant"].any()
