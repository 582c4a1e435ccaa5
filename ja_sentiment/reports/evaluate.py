"""The evaluate stage's reports: per model and split, the classification report with its bootstrap
intervals (the text file, and the entry of metrics/evaluate.json) and the confusion matrix's picture;
per model on test, the reliability diagram; the paired comparisons of one model against the others on
the same test rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, classification_report

from ja_sentiment.calibration import reliability
from ja_sentiment.params import EvaluateParams
from ja_sentiment.predictions import prob_columns
from ja_sentiment.stats import CONFIDENCE, compare_rows, score_intervals


def with_ci(key: str, value: float, interval: tuple[float, float]) -> dict:
    """The point value and its interval as flat numeric keys (listed by `dvc metrics show/diff`)."""
    low, high = interval
    return {key: round(value, 4), f"{key}_ci_low": round(low, 4), f"{key}_ci_high": round(high, 4)}


def scores(gold: Sequence[str], pred: Sequence[str], names: Sequence[str], cfg: EvaluateParams
           ) -> tuple[dict, dict, str]:
    """(metrics entry, classification_report dict, classification_report text), with 95% percentile-
    bootstrap intervals for accuracy, macro-F1 and each class's F1 (flat keys `<key>_ci_low/high`)."""
    kwargs = dict(labels=list(names), target_names=list(names), zero_division=0, digits=4)
    report = classification_report(gold, pred, output_dict=True, **kwargs)
    index = {n: i for i, n in enumerate(names)}
    ci = score_intervals([index[g] for g in gold], [index[p] for p in pred], names, cfg.bootstrap_resamples,
                         cfg.bootstrap_seed)

    entry: dict = {**with_ci("accuracy", float(accuracy_score(gold, pred)), ci["accuracy"]),
                   **with_ci("macro_f1", report["macro avg"]["f1-score"], ci["macro_f1"]),
                   "weighted_f1": round(report["weighted avg"]["f1-score"], 4)}
    for n in names:
        r = report[n]
        entry[n] = {"precision": round(r["precision"], 4), "recall": round(r["recall"], 4),
                    **with_ci("f1", r["f1-score"], ci[n]), "support": int(r["support"])}
    lines = [f"{CONFIDENCE:.0%} intervals (percentile bootstrap over the {len(gold)} rows, "
             f"{cfg.bootstrap_resamples} resamples, seed {cfg.bootstrap_seed}):"]
    for label, key in (("accuracy", "accuracy"), ("macro-F1", "macro_f1"), *((f"F1 {n}", n) for n in names)):
        lines.append(f"  {label:<20} [{ci[key][0]:.4f}, {ci[key][1]:.4f}]")
    text = classification_report(gold, pred, **kwargs) + "\n" + "\n".join(lines) + "\n"
    return entry, report, text


def plot_confusion(gold: Sequence[str], pred: Sequence[str], names: Sequence[str], title: str,
                   path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, norm, fmt, sub in ((axes[0], None, "d", "counts"), (axes[1], "true", ".2f", "row-normalised")):
        ConfusionMatrixDisplay.from_predictions(gold, pred, labels=list(names), normalize=norm, ax=ax,
                                                values_format=fmt, colorbar=False, cmap="Blues")
        ax.set_title(sub)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_reliability(table: pd.DataFrame, ece: float, title: str, path: Path) -> None:
    """Accuracy against mean confidence per bin (the diagonal is perfect calibration), with counts."""
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5.5, 6.5), sharex=True, height_ratios=(3, 1))
    filled = table.dropna(subset=["confidence"])
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfect calibration")
    ax.plot(filled["confidence"], filled["accuracy"], marker="o", label="model")
    ax.set_ylabel("accuracy in bin")
    ax.set_title(f"{title}\nECE {ece:.4f} ({len(table)} equal-width bins)")
    ax.legend(loc="upper left")
    hist.bar((table["low"] + table["high"]) / 2, table["examples"], width=1 / len(table), edgecolor="white")
    hist.set_xlabel("confidence (probability of the predicted label)")
    hist.set_ylabel("examples")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def calibrate(model: str, pred: pd.DataFrame, names: Sequence[str], out_dir: Path) -> float:
    """ECE of a model's test predictions (confidence = probability of the label it predicted); writes
    the reliability diagram's PNG and, for the bins that hold examples, its CSV (DVC plot data) to
    `out_dir`/<model>_test.png/.csv."""
    index = {n: i for i, n in enumerate(names)}
    ece, rows = reliability(pred[prob_columns(names)].to_numpy(), pred["gold"].map(index).to_numpy(),
                            pred=pred["pred"].map(index).to_numpy())
    table = pd.DataFrame(rows)
    table[table["examples"] > 0].to_csv(out_dir / f"{model}_test.csv", index=False)
    plot_reliability(table, ece, f"{model} on test (n={len(pred)})", out_dir / f"{model}_test.png")
    return round(ece, 4)


def compare(scored: dict[str, pd.DataFrame], reference: str, names: Sequence[str], cfg: EvaluateParams
            ) -> dict:
    """The `reference` model against every other model on the same test rows (A = reference), keyed
    `<reference>_vs_<model>`."""
    if reference not in scored:
        return {}
    ref = scored[reference].set_index("id")
    out = {}
    for model, pred in scored.items():
        if model == reference:
            continue
        result, _, _ = compare_rows(ref, pred.set_index("id"), names, cfg.bootstrap_resamples,
                                    cfg.bootstrap_seed)
        # Differences to 6 decimals; the p-value to 4 significant digits (it can be 1e-20).
        out[f"{reference}_vs_{model}"] = {k: (float(f"{v:.4g}") if k == "mcnemar_p" else round(v, 6))
                                          if isinstance(v, float) else v for k, v in result.items()}
    return out
