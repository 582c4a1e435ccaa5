"""Where a model's errors are: agreement levels, length buckets, error rates per group and per
confusion pair (Level 3's descriptive tables)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

LEVELS = ("unanimous", "2-1", "three-way split")


def agreement_level(votes: str) -> str:
    """From the vote counts ("[0, 2, 1]"): all votes on one class, no two votes alike, or a majority."""
    counts = json.loads(votes)
    top = max(counts)
    return "unanimous" if top == sum(counts) else "three-way split" if top == 1 else "2-1"


def bucket_labels(bins: Sequence[int]) -> list[str]:
    if list(bins) != sorted(set(bins)):
        raise SystemExit(f"error_analysis: length_bins must be strictly increasing, got {list(bins)}")
    middle = [f"{lo + 1}–{hi}" for lo, hi in zip(bins, bins[1:], strict=False)]
    return [f"≤{bins[0]}", *middle, f">{bins[-1]}"]


def length_buckets(lengths: pd.Series, bins: Sequence[int]) -> pd.Series:
    return pd.cut(lengths, [-np.inf, *bins, np.inf], labels=bucket_labels(bins)).astype(str)


def rates(df: pd.DataFrame, column: str, values: Sequence[str]) -> pd.DataFrame:
    """Examples, errors and error rate per split and value of `column` (all values, empty ones too)."""
    rows = []
    for split, part in df.groupby("split", sort=False):
        for value in values:
            group = part[part[column] == value]
            n, e = len(group), int(group["wrong"].sum())
            rows.append({"split": split, column: value, "examples": n, "errors": e,
                         "error_rate": round(e / n, 4) if n else None})
    return pd.DataFrame(rows)


def pair_rates(df: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Errors per gold→pred pair; rate = share of that gold class's examples predicted as `pred`."""
    rows = []
    for split, part in df.groupby("split", sort=False):
        for gold in names:
            n = int((part["gold"] == gold).sum())
            for pred in (p for p in names if p != gold):
                e = int(((part["gold"] == gold) & (part["pred"] == pred)).sum())
                rows.append({"split": split, "gold": gold, "pred": pred, "errors": e, "gold_examples": n,
                             "rate": round(e / n, 4) if n else None})
    return pd.DataFrame(rows)


def json_rate(v: object) -> float | None:
    """A rate for the metrics file: null for an empty group (DVC leaves nulls out of its tables)."""
    return None if v is None or np.isnan(v) else float(v)
