"""Stage `summary`: reports/summary.md answers the study's report items from the pipeline's outputs.

Model names, revisions and the commits they resolved to (a run on offline stand-ins says so at the
top); a side-by-side comparison with 95% intervals and ECE; the fine-tuned model against every other
model on the same test rows (paired differences with intervals, McNemar p, verdicts); classification
reports, confusion matrices and reliability diagrams; the learning curve (plots/learning_curve.png,
drawn here from the DVCLive logs); the error-analysis headline numbers. Facts only: every verdict
follows a stated rule.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import MaxNLocator

from ja_sentiment.data import PREDICTIONS_DIR, read_json
from ja_sentiment.markdown import STANDIN_NOTE, commit_of, interval, paired_rows

SUMMARY_FILE = Path("reports/summary.md")
CURVE_FILE = Path("plots/learning_curve.png")
LIVE_DIR = Path("dvclive/plots/metrics")
TITLES = {"baseline_plain": "Level 1: ready-made model, plain 2→3 label mapping",
          "baseline_band": "Level 1: ready-made model, neutral band",
          "tfidf": "Comparator: TF-IDF character n-grams + logistic regression",
          "finetuned": "Level 2: fine-tuned model"}


def learning_curve() -> pd.DataFrame:
    """Per epoch: train loss, dev loss, dev accuracy, dev macro-F1 (from DVCLive's TSV files)."""
    columns = {"train_loss": "train/loss.tsv", "dev_loss": "dev/loss.tsv",
               "dev_accuracy": "dev/accuracy.tsv", "dev_macro_f1": "dev/macro_f1.tsv"}
    frames = [pd.read_csv(LIVE_DIR / f, sep="\t").set_index("step").iloc[:, 0].rename(c)
              for c, f in columns.items()]
    return pd.concat(frames, axis=1).rename_axis("epoch")


def plot_curve(curve: pd.DataFrame) -> None:
    fig, (loss, score) = plt.subplots(1, 2, figsize=(11, 4))
    curve[["train_loss", "dev_loss"]].plot(ax=loss, marker="o", title="Loss per epoch")
    curve[["dev_accuracy", "dev_macro_f1"]].plot(ax=score, marker="o", title="Dev scores per epoch")
    for ax in (loss, score):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    CURVE_FILE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(CURVE_FILE, dpi=100)
    plt.close(fig)


def comparison(metrics: dict) -> list[str]:
    lines = ["| model | split | accuracy [95% interval] | macro-F1 [95% interval] | weighted-F1 | ECE |",
             "|---|---|---|---|---|---|"]
    for model in TITLES:
        for split in ("test", "dev"):
            m = metrics.get(model, {}).get(split)
            if m:
                acc, f1 = (interval(m[k], m.get(f"{k}_ci_low"), m.get(f"{k}_ci_high"))
                           for k in ("accuracy", "macro_f1"))
                ece = f"{m['ece']:.4f}" if "ece" in m else "–"
                lines.append(f"| {model} | {split} | {acc} | {f1} | {m['weighted_f1']:.4f} | {ece} |")
    boot = metrics.get("bootstrap", {})
    lines += ["", f"Intervals: {boot.get('confidence', 0.95):.0%} percentile bootstrap over the rows of "
              f"the split ({boot.get('resamples')} resamples, seed {boot.get('seed')}). ECE: expected "
              "calibration error of the top label over 15 equal-width confidence bins (test only)."]
    return lines


def paired(metrics: dict) -> list[str]:
    """The fine-tuned model against every other model on the same test rows."""
    comparisons = metrics.get("comparisons") or {}
    if not comparisons:
        return ["No paired comparison: the fine-tuned model's test predictions are missing."]
    lines = ["| fine-tuned vs | metric | fine-tuned | other | difference [95% interval] | McNemar p "
             "| verdict |", "|---|---|---|---|---|---|---|"]
    for key, result in comparisons.items():
        other = key.removeprefix("finetuned_vs_")
        lines += paired_rows(other, result, metrics["finetuned"]["test"], metrics[other]["test"])
    n = next(iter(comparisons.values()))["n"]
    return [*lines, "", f"Same {n} test rows for both models. Difference = fine-tuned minus the "
            "other, with a paired-bootstrap interval (the same resampled rows for both). McNemar: exact "
            "test on the rows where exactly one of the two is right. Verdict: better or worse only when "
            "the whole interval lies above or below 0; otherwise the test set is too small to tell the "
            "two apart."]


def model_section(model: str, card: dict) -> list[str]:
    meta = read_json(PREDICTIONS_DIR / model / "meta.json")
    lines = [f"### {TITLES[model]}", "", f"Model: `{card.get('model')}`"
             + (f" (base `{card['base_model']}`)" if "base_model" in card else "")
             + f", revision `{card.get('revision')}`"
             + (f", commit {commit_of(card)}" if "commit" in card else "")
             + (f", trained in {card['train_precision']}" if "train_precision" in card else "") + "."]
    if meta.get("threshold") is not None:
        lines.append(f"Neutral band threshold: {meta['threshold']} ({meta.get('neutral_band')}).")
    if "best_epoch" in meta:
        lines.append(f"Best epoch on dev macro-F1: {meta['best_epoch']}.")
    report = Path(f"reports/classification/{model}_test.txt").read_text(encoding="utf-8")
    return [*lines, "", "Test classification report:", "", "```", report.rstrip(), "```", "",
            f"![confusion matrix, test](../plots/confusion/{model}_test.png)",
            f"![reliability diagram, test](../plots/calibration/{model}_test.png)", ""]


def error_headline(errors: dict) -> list[str]:
    lines = ["| split | examples | errors | error rate | rate, unanimous | rate, 2-1 | rate, three-way |",
             "|---|---|---|---|---|---|---|"]
    for split, e in errors.items():
        if split == "model":  # which model the numbers come from, not a split
            continue
        by = e.get("error_rate_by_agreement", {})
        cells = [by.get(k) for k in ("unanimous", "2-1", "three-way split")]
        shown = " | ".join("–" if c is None else f"{c:.4f}" for c in cells)
        lines.append(f"| {split} | {e['examples']} | {e['errors']} | {e['error_rate']:.4f} | {shown} |")
    return lines


def main() -> None:
    metrics = read_json("metrics/evaluate.json")
    curve = learning_curve()
    plot_curve(curve)
    lines = ["# Study summary", "", "Generated by the `summary` stage from this run's outputs; every "
             "number below comes from metrics/ and reports/ of the same run.", "",
             *([STANDIN_NOTE, ""] if metrics.get("standin") is True else []),
             "## Models", "", "| slot | model | revision | commit |", "|---|---|---|---|"]
    lines += [f"| {m} | `{c.get('model')}`" + (f" (base `{c['base_model']}`)" if "base_model" in c else "")
              + f" | `{c.get('revision')}` | {commit_of(c) if 'commit' in c else '–'} |"
              for m, c in metrics["models"].items()]
    lines += ["", "## Comparison", "", *comparison(metrics), ""]
    lines += ["## Is the fine-tuned model better? Paired comparison on the test rows", "",
              *paired(metrics), ""]
    lines += ["## Classification reports and confusion matrices (test)", ""]
    for model in TITLES:
        if model in metrics["models"]:
            lines += model_section(model, metrics["models"][model])
    lines += ["## Learning curve (Level 2 / Level 4)", "", curve.round(4).to_markdown(), "",
              "![learning curve](../plots/learning_curve.png)", ""]
    lines += ["## Error analysis (Level 3), headline numbers", "",
              *error_headline(read_json("metrics/error_analysis.json")), "",
              "Every misclassified example: reports/error_analysis.md and reports/errors.csv.", ""]
    SUMMARY_FILE.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY_FILE.write_text("\n".join(lines), encoding="utf-8")
    print(f"summary: wrote {SUMMARY_FILE} and {CURVE_FILE}", file=sys.stderr)


if __name__ == "__main__":
    main()
