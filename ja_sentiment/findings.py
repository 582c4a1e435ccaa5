"""Level 3's findings and possible causes, kept apart by construction.

A `Finding` is a fact the results show: counts, rates and the test behind them. A `Possibility` is
a cause that *might* explain some findings: it is only ever rendered with the possibility wording of
the report language ("may ...", "…可能性がある") and always names the findings it rests on.

Every finding a possibility may rest on compares the errors with a control, and a possibility is
emitted only when that comparison is significant in the direction the cause would predict:
- agreement: error rate of rows without unanimous annotator agreement against unanimous rows (Fisher);
- length: error rate across length buckets (chi-square test of independence, or its permutation
  p-value when an expected count is below 5);
- words: sentences with a word against those without it (one-sided Fisher per word), with
  Benjamini-Hochberg over every word test of the split (all errors and every confusion pair);
- neighbours: test rows whose nearest training sentences mostly carry another label than their
  gold one, among errors against correctly classified rows, stratified by gold class
  (Cochran-Mantel-Haenszel);
- label issues: the fine-tuned model's error rate on label-issue candidates against the other
  training rows, and the candidates' share without unanimous agreement against the other rows
  (Fisher each, Holm over the two).
A count alone (e.g. "some rows are candidates") never yields a possibility: base rates alone make
such counts non-zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ja_sentiment.reports.markdown import p_value
from ja_sentiment.reports.text import Text


@dataclass
class Finding:
    key: str  # what it is about: agreement, length, pair, words, neighbours, label_issues
    split: str
    text: str  # the rendered fact, with its numbers and test
    significant: bool  # whether possibilities may rest on it
    values: dict = field(default_factory=dict)
    id: str = ""  # F1, F2, ... assigned in report order


@dataclass
class Possibility:
    text: str
    rests_on: list[Finding]


def percent(k: int, n: int) -> str:
    return f"{k / n:.1%} ({k}/{n})" if n else "–"


def agreement(t: Text, df: pd.DataFrame, split: str, alpha: float) -> Finding:
    """Error rate of rows without unanimous annotator agreement against unanimous rows (Fisher)."""
    part = df[df["split"] == split]
    split_rows = part["agreement_level"] != "unanimous"
    e1, n1 = int(part.loc[split_rows, "wrong"].sum()), int(split_rows.sum())
    e0, n0 = int(part.loc[~split_rows, "wrong"].sum()), int((~split_rows).sum())
    p = fisher(e1, n1, e0, n0)
    higher = n0 > 0 and n1 > 0 and e1 / n1 > e0 / n0
    return Finding(
        "agreement",
        split,
        t("finding_agreement", split=split, mixed=percent(e1, n1), unanimous=percent(e0, n0), p=p_value(p)),
        significant=p < alpha and higher,
        values={"p": p, "higher": higher},
    )


PERMUTATIONS = 9999  # resamples of the permutation p-values (their smallest value is 1 / 10000)


def independence_test(table: np.ndarray, seed: int = 0) -> tuple[float, str]:
    """p-value of a chi-square test of independence on a contingency table, and which p it is: the
    chi-square distribution's ("chi2") when every expected count is at least 5, else a permutation
    p-value of the same statistic over tables with the same margins ("permutation"), as the
    chi-square approximation is not valid there."""
    from scipy.stats import PermutationMethod, chi2_contingency
    from scipy.stats.contingency import expected_freq

    table = np.asarray(table)
    if (expected_freq(table) >= 5).all():
        return float(chi2_contingency(table)[1]), "chi2"
    method = PermutationMethod(n_resamples=PERMUTATIONS, rng=np.random.default_rng(seed))
    return float(chi2_contingency(table, correction=False, method=method).pvalue), "permutation"


def length(t: Text, by_length: pd.DataFrame, split: str, alpha: float) -> Finding:
    """Error rate per text-length bucket; a test of independence of error and bucket (chi-square, or
    a permutation p where an expected count is below 5)."""
    part = by_length[(by_length["split"] == split) & (by_length["examples"] > 0)]
    table = np.array([part["errors"], part["examples"] - part["errors"]])
    testable = len(part) > 1 and (table.sum(axis=1) > 0).all()
    p, method = independence_test(table) if testable else (1.0, "none")
    rates = ", ".join(
        f"{b}: {percent(int(e), int(n))}"
        for b, e, n in zip(part["length_bucket"], part["errors"], part["examples"], strict=True)
    )
    shortest_worst = testable and part["error_rate"].iloc[0] == part["error_rate"].max()
    return Finding(
        "length",
        split,
        t("finding_length", split=split, rates=rates, test=t(f"length_test_{method}"), p=p_value(p)),
        significant=p < alpha,
        values={
            "p": p,
            "method": method,
            "shortest_worst": bool(shortest_worst),
            "shortest": part["length_bucket"].iloc[0] if len(part) else "",
        },
    )


def pair(t: Text, df: pd.DataFrame, split: str) -> Finding | None:
    """The most frequent confusion (gold → predicted) and its share of the split's errors."""
    errors = df[(df["split"] == split) & df["wrong"]]
    if errors.empty:
        return None
    counts = errors.groupby(["gold", "pred"]).size().sort_values(ascending=False, kind="stable")
    (gold, pred), k = counts.index[0], int(counts.iloc[0])
    return Finding(
        "pair",
        split,
        t("finding_pair", split=split, gold=gold, pred=pred, share=percent(k, len(errors))),
        significant=True,
        values={"gold": gold, "pred": pred},
    )


def words(t: Text, split: str, tables: dict[str, pd.DataFrame], alpha: float, shown: int = 5) -> Finding:
    """How many words are over-represented among all errors and per confusion pair (BH q < alpha, the
    q-values corrected over every word test of the split: `words.correct_together`)."""
    overall = tables["all"]
    sig = overall[overall["significant"]]
    top = sig.head(shown)
    listed = ", ".join(
        f"「{w}」 {percent(int(e), int(n))}"
        for w, e, n in zip(top["word"], top["errors"], top["sentences"], strict=True)
    )
    pairs = {name: table[table["significant"]] for name, table in tables.items() if name != "all"}
    per_pair = "; ".join(
        f"{name}: " + ", ".join(f"「{w}」" for w in table["word"][:shown])
        for name, table in pairs.items()
        if len(table)
    )
    text = t(
        "finding_words",
        split=split,
        n=len(sig),
        tested=len(overall),
        tests=sum(len(table) for table in tables.values()),
        alpha=alpha,
        listed=listed or "–",
        pairs=per_pair or t("none"),
    )
    return Finding(
        "words",
        split,
        text,
        significant=len(sig) > 0 or any(len(v) for v in pairs.values()),
        values={"pairs": {k: list(v["word"][:shown]) for k, v in pairs.items() if len(v)}},
    )


def stratified_comparison(event: np.ndarray, group: np.ndarray, strata: np.ndarray) -> dict:
    """Is `event` more frequent in `group` than outside it, within strata? Cochran-Mantel-Haenszel
    test (statsmodels `StratifiedTable`, continuity-corrected) over the strata where both the group
    and the rest, and both outcomes, occur (the others carry no information on the association).
    Returns the pooled (Mantel-Haenszel) odds ratio, the two-sided p and the strata used."""
    from statsmodels.stats.contingency_tables import StratifiedTable

    event, group = np.asarray(event, dtype=bool), np.asarray(group, dtype=bool)
    tables = []
    for s in dict.fromkeys(strata):
        rows = np.asarray(strata) == s
        e, g = event[rows], group[rows]
        table = np.array([[(e & g).sum(), (~e & g).sum()], [(e & ~g).sum(), (~e & ~g).sum()]], dtype=float)
        if (table.sum(axis=0) > 0).all() and (table.sum(axis=1) > 0).all():
            tables.append(table)
    if not tables:
        return {"odds_ratio": None, "p": 1.0, "strata": 0}
    result = StratifiedTable(tables)
    odds = float(result.oddsratio_pooled) if np.isfinite(result.oddsratio_pooled) else float("inf")
    return {"odds_ratio": odds, "p": float(result.test_null_odds(correction=True).pvalue),
            "strata": len(tables)}


def neighbours(t: Text, rows: pd.DataFrame, k: int, duplicates: int, alpha: float) -> Finding:
    """Test rows whose k nearest training sentences carry, by strict majority, a label other than the
    row's gold label: their share among the errors against among the correctly classified rows,
    stratified by gold class (CMH). `rows`: one per test row, columns gold, wrong, other_majority."""
    wrong = rows["wrong"].to_numpy(dtype=bool)
    other = rows["other_majority"].to_numpy(dtype=bool)
    test = stratified_comparison(other, wrong, rows["gold"].to_numpy())
    e, n_e = int((other & wrong).sum()), int(wrong.sum())
    c, n_c = int((other & ~wrong).sum()), int((~wrong).sum())
    higher = test["odds_ratio"] is not None and test["odds_ratio"] > 1
    odds = "–" if test["odds_ratio"] is None else f"{test['odds_ratio']:.2f}"
    return Finding(
        "neighbours",
        "test",
        t("finding_neighbours", k=k, errors=percent(e, n_e), correct=percent(c, n_c), p=p_value(test["p"]),
          odds=odds, duplicates=duplicates),
        significant=test["p"] < alpha and higher,
        values={"errors_rate": e / n_e if n_e else None, "correct_rate": c / n_c if n_c else None,
                "p": test["p"], "odds_ratio": test["odds_ratio"], "higher": higher, "duplicates": duplicates},
    )


def fisher(a: int, n_a: int, b: int, n_b: int) -> float:
    """Two-sided Fisher p of a/n_a against b/n_b (1 when either group is empty)."""
    from scipy.stats import fisher_exact

    return float(fisher_exact([[a, n_a - a], [b, n_b - b]])[1]) if n_a and n_b else 1.0


def label_issues(t: Text, ranking: pd.DataFrame, alpha: float) -> Finding:
    """Label-issue candidates among the train rows against the other train rows, on two outcomes
    that label noise would raise: the fine-tuned model's error rate, and the share of rows without
    unanimous annotator agreement (Fisher each; Holm over the two)."""
    from statsmodels.stats.multitest import multipletests

    cand = ranking["candidate"].to_numpy(dtype=bool)
    n_c, n_o = int(cand.sum()), int((~cand).sum())
    out: dict = {"candidates": n_c}
    cells = {}
    for key, column in (("wrong", ranking["finetuned_wrong"].to_numpy(dtype=bool)),
                        ("mixed", (ranking["agreement_level"] != "unanimous").to_numpy())):
        a, b = int((cand & column).sum()), int((~cand & column).sum())
        out[key] = {"p": fisher(a, n_c, b, n_o), "higher": bool(n_c and n_o and a / n_c > b / n_o)}
        cells[key] = (percent(a, n_c), percent(b, n_o))
    holm = multipletests([out["wrong"]["p"], out["mixed"]["p"]], method="holm")[1]
    for key, q in zip(("wrong", "mixed"), holm, strict=True):
        out[key]["p_holm"] = float(q)
        out[key]["significant"] = bool(q < alpha and out[key]["higher"])
    out["not_majority"] = int((ranking["majority_status"] == "gold ≠ majority").sum())
    return Finding(
        "label_issues",
        "train",
        t(
            "finding_label_issues",
            candidates=percent(n_c, len(ranking)),
            wrong_candidates=cells["wrong"][0],
            wrong_rest=cells["wrong"][1],
            p_wrong=p_value(out["wrong"]["p"]),
            holm_wrong=p_value(out["wrong"]["p_holm"]),
            mixed_candidates=cells["mixed"][0],
            mixed_rest=cells["mixed"][1],
            p_mixed=p_value(out["mixed"]["p"]),
            holm_mixed=p_value(out["mixed"]["p_holm"]),
            not_majority=out["not_majority"],
        ),
        significant=out["wrong"]["significant"] or out["mixed"]["significant"],
        values=out,
    )


def possibilities(t: Text, findings: Sequence[Finding]) -> list[Possibility]:
    """The possible causes the significant findings allow; each names its findings. A finding is
    significant only when its comparison against its control is, in the direction of the cause."""
    by_key: dict[str, list[Finding]] = {}
    for f in findings:
        if f.significant:
            by_key.setdefault(f.key, []).append(f)
    out = []
    if by_key.get("agreement"):
        out.append(Possibility(t("possible_ambiguity"), by_key["agreement"]))
    for f in by_key.get("words", []):
        for name, ws in f.values["pairs"].items():
            gold, pred = name.split("→")
            out.append(
                Possibility(
                    t(
                        "possible_words",
                        words="、".join(f"「{w}」" for w in ws),
                        gold=gold,
                        pred=pred,
                        split=f.split,
                    ),
                    [f],
                )
            )
    if by_key.get("neighbours"):
        out.append(Possibility(t("possible_neighbours"), by_key["neighbours"]))
    if by_key.get("label_issues"):
        out.append(Possibility(t("possible_label_noise"), by_key["label_issues"]))
    short = [f for f in by_key.get("length", []) if f.values["shortest_worst"]]
    if short:
        out.append(Possibility(t("possible_short", bucket=short[0].values["shortest"]), short))
    return out


def number(findings: Sequence[Finding]) -> None:
    for i, f in enumerate(findings, start=1):
        f.id = f"F{i}"


def render(t: Text, findings: Sequence[Finding], possible: Sequence[Possibility]) -> list[str]:
    lines = [f"## {t('findings')}", "", t("findings_intro"), ""]
    lines += [f"- **{f.id}** ({f.split}). {f.text}" for f in findings]
    lines += ["", f"## {t('possible_causes')}", "", t("possible_intro"), ""]
    if not possible:
        lines.append(t("no_possible_causes"))
    for i, p in enumerate(possible, start=1):
        refs = ", ".join(f.id for f in p.rests_on)
        lines.append(f"- **P{i}** {t('possibility')}: {p.text} ({t('rests_on')} {refs})")
    return lines
