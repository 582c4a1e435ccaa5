"""Level 3's findings and possible causes, kept apart by construction.

A `Finding` is a fact the results show: counts, rates and the test behind them (Fisher's exact test,
a chi-square test of independence, Benjamini-Hochberg-corrected word tests). A `Possibility` is a
cause that *might* explain some findings: it is only ever rendered with the possibility wording of
the report language ("may ...", "…可能性がある") and always names the findings it rests on. A
possibility is emitted only when the findings it rests on are significant (or, for counts, non-zero).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ja_sentiment.markdown import p_value
from ja_sentiment.report_text import Text


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
    from scipy.stats import fisher_exact

    part = df[df["split"] == split]
    split_rows = part["agreement_level"] != "unanimous"
    e1, n1 = int(part.loc[split_rows, "wrong"].sum()), int(split_rows.sum())
    e0, n0 = int(part.loc[~split_rows, "wrong"].sum()), int((~split_rows).sum())
    p = float(fisher_exact([[e1, n1 - e1], [e0, n0 - e0]])[1]) if n0 and n1 else 1.0
    higher = n0 > 0 and n1 > 0 and e1 / n1 > e0 / n0
    return Finding(
        "agreement",
        split,
        t("finding_agreement", split=split, mixed=percent(e1, n1), unanimous=percent(e0, n0), p=p_value(p)),
        significant=p < alpha and higher,
        values={"p": p, "higher": higher},
    )


def length(t: Text, by_length: pd.DataFrame, split: str, alpha: float) -> Finding:
    """Error rate per text-length bucket; chi-square test of independence of error and bucket."""
    from scipy.stats import chi2_contingency

    part = by_length[(by_length["split"] == split) & (by_length["examples"] > 0)]
    table = np.array([part["errors"], part["examples"] - part["errors"]])
    testable = len(part) > 1 and (table.sum(axis=1) > 0).all()
    p = float(chi2_contingency(table)[1]) if testable else 1.0
    rates = ", ".join(
        f"{b}: {percent(int(e), int(n))}"
        for b, e, n in zip(part["length_bucket"], part["errors"], part["examples"], strict=True)
    )
    shortest_worst = testable and part["error_rate"].iloc[0] == part["error_rate"].max()
    return Finding(
        "length",
        split,
        t("finding_length", split=split, rates=rates, p=p_value(p)),
        significant=p < alpha,
        values={
            "p": p,
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
    """How many words are over-represented among all errors and per confusion pair (BH q < alpha)."""
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


def neighbours(t: Text, votes: pd.DataFrame, k: int, duplicates: int) -> Finding:
    m, n = int(votes["mostly_pred"].sum()), len(votes)
    return Finding(
        "neighbours",
        "test",
        t("finding_neighbours", k=k, share=percent(m, n), duplicates=duplicates),
        significant=m > 0,
        values={"count": m, "errors": n, "duplicates": duplicates},
    )


def label_issues(t: Text, ranking: pd.DataFrame, alpha: float) -> Finding:
    """Candidates among the train rows, and whether they lack unanimous agreement more often (Fisher)."""
    from scipy.stats import fisher_exact

    cand = ranking["candidate"].to_numpy()
    mixed = (ranking["agreement_level"] != "unanimous").to_numpy()
    a, b = int((cand & mixed).sum()), int(cand.sum())
    c, d = int((~cand & mixed).sum()), int((~cand).sum())
    p = float(fisher_exact([[a, b - a], [c, d - c]])[1]) if b and d else 1.0
    also_wrong = int((cand & ranking["finetuned_wrong"].to_numpy()).sum())
    not_majority = int((ranking["majority_status"] == "gold ≠ majority").sum())
    return Finding(
        "label_issues",
        "train",
        t(
            "finding_label_issues",
            candidates=percent(b, len(ranking)),
            mixed_candidates=percent(a, b),
            mixed_rest=percent(c, d),
            p=p_value(p),
            also_wrong=percent(also_wrong, b),
            not_majority=not_majority,
        ),
        significant=b > 0,
        values={
            "candidates": b,
            "p": p,
            "mixed_more": b > 0 and d > 0 and a / b > c / d,
            "not_majority": not_majority,
        },
    )


def possibilities(t: Text, findings: Sequence[Finding], alpha: float) -> list[Possibility]:
    """The possible causes the significant findings allow; each names its findings."""
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
        f = by_key["label_issues"][0]
        rests = [f] + (
            by_key.get("agreement", []) if f.values["mixed_more"] and f.values["p"] < alpha else []
        )
        out.append(Possibility(t("possible_label_noise"), rests))
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
