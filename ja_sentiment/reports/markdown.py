"""Markdown pieces the reports share: tables, a number with its interval, paired-comparison rows,
and how a report names the commit of the model behind it (a stand-in marked as one)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ja_sentiment.reports.text import Text

SHOWN = ("better", "worse")  # the verdicts that assert a difference (stats.BETTER, stats.WORSE)
METRICS = (("accuracy", "accuracy"), ("macro_f1", "macro-F1"))


def interval(value: float, low: float | None, high: float | None, signed: bool = False) -> str:
    """`0.8228 [0.7907, 0.8535]` (signed: `+0.0120 [-0.0210, +0.0450]`)."""
    fmt = "{:+.4f}" if signed else "{:.4f}"
    if low is None or high is None:
        return fmt.format(value)
    return f"{fmt.format(value)} [{fmt.format(low)}, {fmt.format(high)}]"


def p_value(p: float | None) -> str:
    """`0.031`, `2.4e-07`; below what a float holds, `< 1e-300`."""
    if p is None:
        return "–"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}" if p > 0 else "< 1e-300"


def verdict_text(verdict: str, low: float | None, high: float | None, t: Text | None = None) -> str:
    """The verdict in the report language; one that shows no difference says which differences the
    data are compatible with (the interval, in points), never that there is one."""
    t = t or Text("en")
    words = t(verdict) if verdict in t.table else verdict
    if verdict in SHOWN or low is None or high is None:
        return words
    return words + t("compatible", low=f"{100 * low:+.1f}", high=f"{100 * high:+.1f}")


def paired_rows(label: str, result: dict, a_scores: dict, b_scores: dict, t: Text | None = None
                ) -> list[str]:
    """One row per metric: A's score, B's score, A - B with its 95% interval, McNemar p (on the accuracy
    row: it tests right/wrong), verdict (`verdict_text`, in `t`'s language; English by default).
    `result` is a `stats.paired_comparison` result; the scores hold the point values of A and B."""
    rows = []
    for key, name in METRICS:
        low, high = result[f"{key}_diff_ci_low"], result[f"{key}_diff_ci_high"]
        diff = interval(result[f"{key}_diff"], low, high, signed=True)
        rows.append(f"| {label} | {name} | {a_scores[key]:.4f} | {b_scores[key]:.4f} | {diff} | "
                    f"{p_value(result['mcnemar_p'] if key == 'accuracy' else None)} | "
                    f"{verdict_text(result[f'{key}_verdict'], low, high, t)} |")
    return rows


MD_SPECIAL = re.compile(r"[\\|*_`~<\[\]]")


def cell(v: object) -> str:
    """A table cell: floats to 4 decimals, empty as a dash, texts escaped and on one line."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "—"
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, float | np.floating):
        return f"{v:.4f}" if v == 0 or abs(v) >= 1e-3 else f"{v:.1e}"
    # Texts are shown verbatim: '|' would end the cell, and emoticons like (^_^) or ~~ would format.
    return MD_SPECIAL.sub(r"\\\g<0>", str(v)).replace("\n", " ")


def table(frame: pd.DataFrame) -> str:
    """A pipe table of the frame's columns and rows."""
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    for row in frame.astype(object).itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def commit_of(card: dict) -> str:
    """The resolved commit as reports show it, with a stand-in's mark: `1a2b3c4` (stand-in)."""
    commit = str(card.get("commit", "–"))
    shown = f"`{commit[:12]}`" if len(commit) == 40 else f"`{commit}`"
    return shown + (" (stand-in)" if card.get("standin") is True else "")
