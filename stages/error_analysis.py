"""Stage `error_analysis` (Level 3): every misclassified example of the fine-tuned model.

Outputs: reports/errors.csv (one row per error), reports/error_analysis.md (tables of error counts
and rates, then every error), metrics/error_analysis.json, and plots/errors/ (error rate by
annotator agreement and by text length: PNG + CSV). Facts only: counts, rates and examples. The report
and the metrics name the model behind them: base model, revision, resolved commit, stand-in or not.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ja_sentiment.data import PREDICTIONS_DIR, read_split, write_json
from ja_sentiment.markdown import STANDIN_NOTE, commit_of
from ja_sentiment.params import load_params
from ja_sentiment.predictions import predictions_path, prob_columns, read_predictions

MODEL = "finetuned"
LEVELS = ("unanimous", "2-1", "three-way split")
ERRORS_FILE = Path("reports/errors.csv")
REPORT_FILE = Path("reports/error_analysis.md")
METRICS_FILE = Path("metrics/error_analysis.json")
MODEL_KEYS = ("model", "base_model", "revision", "commit", "standin", "train_precision")  # from meta.json
PLOTS_DIR = Path("plots/errors")
MD_SPECIAL = re.compile(r"[\\|*_`~<\[\]]")
ERROR_COLUMNS = ["split", "id", "text", "gold", "pred", "confidence", "gold_prob", "agreement",
                 "agreement_level", "length", "length_bucket"]


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


def examples(split: str, names: Sequence[str], bins: Sequence[int]) -> pd.DataFrame:
    """One split's rows joined with the model's predictions, plus the derived columns."""
    path = predictions_path(MODEL, split)
    if not path.is_file():
        raise SystemExit(f"error_analysis: {path} is missing (the evaluate stage writes it)")
    data = read_split(split)
    pred = read_predictions(MODEL, split)
    if len(pred) != len(data) or set(pred["id"]) != set(data["id"]):
        raise SystemExit(f"error_analysis: {path} does not cover exactly the ids of the {split} split")
    df = data.merge(pred, on="id", validate="one_to_one")
    if (df["gold"] != df["label_name"]).any() or not set(df["pred"]) <= set(names):
        raise SystemExit(f"error_analysis: {path}: gold labels differ from the {split} split, or "
                         f"predicted labels are not among {list(names)}")
    probs = df[prob_columns(names)].to_numpy()
    rows = np.arange(len(df))
    index = {n: i for i, n in enumerate(names)}
    df["confidence"] = probs[rows, df["pred"].map(index).to_numpy()]
    df["gold_prob"] = probs[rows, df["gold"].map(index).to_numpy()]
    df["agreement_level"] = df["votes"].map(agreement_level)
    edges = [-np.inf, *bins, np.inf]
    df["length_bucket"] = pd.cut(df["length"], edges, labels=bucket_labels(bins)).astype(str)
    df.insert(0, "split", split)
    df["wrong"] = df["gold"] != df["pred"]
    return df


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


def markdown(table: pd.DataFrame) -> str:
    def cell(v: object) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "—"
        if isinstance(v, float):
            return f"{v:.4f}"
        # Texts are shown verbatim: '|' would end the cell, and emoticons like (^_^) or ~~ would format.
        return MD_SPECIAL.sub(r"\\\g<0>", str(v)).replace("\n", " ")

    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    for row in table.astype(object).itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def json_rate(v: object) -> float | None:
    """A rate for the metrics file: null for an empty group (DVC leaves nulls out of its tables)."""
    return None if v is None or np.isnan(v) else float(v)


def plot_rates(table: pd.DataFrame, column: str, title: str, stem: str) -> None:
    # `group` gives DVC's one-series bar templates a distinct bar per split and group.
    data = table.assign(group=table["split"] + ": " + table[column].astype(str))
    data[["split", column, "group", "examples", "errors", "error_rate"]].to_csv(PLOTS_DIR / f"{stem}.csv",
                                                                            index=False)
    wide = table.pivot(index=column, columns="split", values="error_rate").reindex(
        index=table[column].unique(), columns=table["split"].unique()).astype(float)
    ax = wide.plot(kind="bar", figsize=(8, 4.5), rot=0, title=title)
    for bars, split in zip(ax.containers, wide.columns, strict=True):  # label bars errors/examples
        part = table[table["split"] == split].set_index(column).reindex(wide.index)
        ax.bar_label(bars, labels=[f"{e}/{n}" for e, n in zip(part["errors"], part["examples"], strict=True)],
                     fontsize=8)
    ax.set_xlabel("")
    ax.set_ylabel("error rate")
    ax.margins(y=0.12)  # room for the bar labels
    plt.tight_layout()
    plt.savefig(PLOTS_DIR / f"{stem}.png", dpi=100)
    plt.close()


def main() -> None:
    params = load_params()
    names = list(params.preprocess.label_names)
    cfg = params.error_analysis
    meta_file = PREDICTIONS_DIR / MODEL / "meta.json"
    if not meta_file.is_file() or not cfg.splits:
        raise SystemExit(f"error_analysis: needs {meta_file} (the evaluate stage writes it) and a split")
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    df = pd.concat([examples(s, names, cfg.length_bins) for s in cfg.splits], ignore_index=True)
    errors = df.loc[df["wrong"], ERROR_COLUMNS]
    ERRORS_FILE.parent.mkdir(parents=True, exist_ok=True)
    errors.to_csv(ERRORS_FILE, index=False)

    by_split = rates(df.assign(all="all"), "all", ["all"]).drop(columns="all")
    by_agreement = rates(df, "agreement_level", LEVELS)
    by_length = rates(df, "length_bucket", bucket_labels(cfg.length_bins))
    shutil.rmtree(PLOTS_DIR, ignore_errors=True)  # this stage's own output: rebuilt whole
    PLOTS_DIR.mkdir(parents=True)
    plot_rates(by_agreement, "agreement_level", f"{MODEL}: error rate by annotator agreement", "by_agreement")
    plot_rates(by_length, "length_bucket", f"{MODEL}: error rate by text length (characters)", "by_length")

    shown = ["id", "text", "gold", "pred", "confidence", "gold_prob", "agreement_level", "length"]
    parts = [f"# Error analysis: fine-tuned model `{meta.get('model', MODEL)}`", "",
             f"Base model `{meta.get('base_model')}`, revision `{meta.get('revision')}`, commit "
             f"{commit_of(meta)}.", "", *([STANDIN_NOTE, ""] if meta.get("standin") is True else []),
             f"Splits: {', '.join(cfg.splits)}. An error is an example whose predicted label differs from "
             "the gold label. confidence = predicted probability of the predicted class; gold_prob = of "
             "the gold class. Rates = errors / examples in the group.",
             "", "## Errors by split", "", markdown(by_split),
             "", "## Errors by confusion pair (rate = share of the gold class's examples)", "",
             markdown(pair_rates(df, names)),
             "", "## Errors by annotator agreement (from the vote counts)", "", markdown(by_agreement),
             "", "## Errors by text length (characters)", "", markdown(by_length)]
    for split in cfg.splits:
        part = errors[errors["split"] == split]
        top = part.sort_values("confidence", ascending=False, kind="stable").head(cfg.examples)
        if len(top):
            parts += ["", f"## {split}: the {len(top)} highest-confidence errors", "", markdown(top[shown])]
        parts += ["", f"## {split}: all {len(part)} errors", "", markdown(part[shown])]
    REPORT_FILE.write_text("\n".join(parts) + "\n", encoding="utf-8")

    # The model first: which weights the numbers come from, and whether they are a stand-in's.
    metrics: dict = {"model": {k: meta[k] for k in MODEL_KEYS if k in meta}}
    metrics |= {row.split: {"examples": int(row.examples), "errors": int(row.errors),
                           "error_rate": json_rate(row.error_rate)} for row in by_split.itertuples()}
    for row in by_agreement.itertuples():
        metrics[row.split].setdefault("error_rate_by_agreement", {})[row.agreement_level] = json_rate(
            row.error_rate)
    write_json(METRICS_FILE, metrics)
    summary = ", ".join(f"{s} {m['errors']}/{m['examples']}" for s, m in metrics.items() if s != "model")
    print(f"error_analysis: errors {summary}", file=sys.stderr)


if __name__ == "__main__":
    main()
