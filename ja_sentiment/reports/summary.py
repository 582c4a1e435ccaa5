"""reports/summary.md: the study's report items, answered from the pipeline's outputs, and the
learning curve (plots/learning_curve.png, drawn from the DVCLive logs).

Model names, revisions and the commits they resolved to (a run on offline stand-ins says so at the
top); a side-by-side comparison with 95% intervals and ECE; the fine-tuned model against every other
model on the same test rows (paired differences with intervals, McNemar p, verdicts); classification
reports, confusion matrices and reliability diagrams; the learning curve; the error-analysis headline
numbers. Facts only: every verdict follows a stated rule. In the language of `Text`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import MaxNLocator

from ja_sentiment.data import PREDICTIONS_DIR, read_json
from ja_sentiment.reports.markdown import commit_of, interval, paired_rows
from ja_sentiment.reports.text import Text

MODELS = ("baseline_plain", "baseline_band", "tfidf", "finetuned")


def learning_curve(live_dir: Path) -> pd.DataFrame:
    """Per epoch: train and dev loss (the configuration's own), train and dev plain cross-entropy,
    dev accuracy, dev macro-F1 (from DVCLive's TSV files)."""
    columns = {"train_loss": "train/loss.tsv", "dev_loss": "dev/loss.tsv", "train_ce": "train/ce.tsv",
               "dev_ce": "dev/ce.tsv", "dev_accuracy": "dev/accuracy.tsv", "dev_macro_f1": "dev/macro_f1.tsv"}
    frames = [pd.read_csv(live_dir / f, sep="\t").set_index("step").iloc[:, 0].rename(c)
              for c, f in columns.items() if (live_dir / f).is_file()]  # ce: logged since the studies
    return pd.concat(frames, axis=1).rename_axis("epoch")


def plot_curve(t: Text, curve: pd.DataFrame, path: Path) -> None:
    fig, (loss, score) = plt.subplots(1, 2, figsize=(11, 4))
    curve[[c for c in ("train_loss", "dev_loss", "train_ce", "dev_ce") if c in curve]].plot(
        ax=loss, marker="o", title=t("plot_loss"))
    curve[["dev_accuracy", "dev_macro_f1"]].plot(ax=score, marker="o", title=t("plot_dev"))
    loss.set_ylabel(t("plot_loss_axis"))
    score.set_ylabel(t("plot_score_axis"))
    for ax in (loss, score):
        ax.set_xlabel(t("epoch"))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def comparison(t: Text, metrics: dict) -> list[str]:
    lines = [t("sm_comparison_header"), "|---|---|---|---|---|---|"]
    for model in MODELS:
        for split in ("test", "dev"):
            m = metrics.get(model, {}).get(split)
            if m:
                acc, f1 = (interval(m[k], m.get(f"{k}_ci_low"), m.get(f"{k}_ci_high"))
                           for k in ("accuracy", "macro_f1"))
                ece = f"{m['ece']:.4f}" if "ece" in m else "–"
                lines.append(f"| {model} | {split} | {acc} | {f1} | {m['weighted_f1']:.4f} | {ece} |")
    boot = metrics.get("bootstrap", {})
    lines += ["", t("sm_intervals", confidence=boot.get("confidence", 0.95), resamples=boot.get("resamples"),
                    seed=boot.get("seed"))]
    return lines


def paired(t: Text, metrics: dict) -> list[str]:
    """The fine-tuned model against every other model on the same test rows."""
    comparisons = metrics.get("comparisons") or {}
    if not comparisons:
        return [t("sm_paired_missing")]
    lines = [t("sm_paired_header"), "|---|---|---|---|---|---|---|"]
    for key, result in comparisons.items():
        other = key.removeprefix("finetuned_vs_")
        lines += paired_rows(other, result, metrics["finetuned"]["test"], metrics[other]["test"], t)
    return [*lines, "", t("sm_paired_note", n=next(iter(comparisons.values()))["n"])]


def model_section(t: Text, model: str, card: dict) -> list[str]:
    meta = read_json(PREDICTIONS_DIR / model / "meta.json")
    lines = [f"### {t(f'title_{model}')}", "", t("sm_model", model=card.get("model"))
             + (t("sm_base", base=card["base_model"]) if "base_model" in card else "")
             + t("sm_revision", revision=card.get("revision"))
             + (t("commit", commit=commit_of(card)) if "commit" in card else "")
             + (t("trained_in", precision=card["train_precision"]) if "train_precision" in card else "")
             + t("sentence_end")]
    if meta.get("threshold") is not None:
        lines.append(t("sm_threshold", threshold=meta["threshold"], band=meta.get("neutral_band")))
    if "best_epoch" in meta:
        lines.append(t("sm_best_epoch", epoch=meta["best_epoch"]))
    report = Path(f"reports/classification/{model}_test.txt").read_text(encoding="utf-8")
    return [*lines, "", t("sm_report"), "", "```", report.rstrip(), "```", "",
            f"![{t('sm_confusion')}](../plots/confusion/{model}_test.png)",
            f"![{t('sm_reliability')}](../plots/calibration/{model}_test.png)", ""]


def error_headline(t: Text, errors: dict) -> list[str]:
    lines = [t("sm_errors_header"), "|---|---|---|---|---|---|---|"]
    for split, e in errors.items():
        if "examples" not in e:  # "model": which model the numbers come from, not a split
            continue
        by = e.get("error_rate_by_agreement", {})
        cells = [by.get(k) for k in ("unanimous", "2-1", "three-way split")]
        shown = " | ".join("–" if c is None else f"{c:.4f}" for c in cells)
        lines.append(f"| {split} | {e['examples']} | {e['errors']} | {e['error_rate']:.4f} | {shown} |")
    return lines


def markdown(t: Text, metrics: dict, errors: dict, curve: pd.DataFrame) -> str:
    """reports/summary.md from metrics/evaluate.json (`metrics`), metrics/error_analysis.json (`errors`)
    and the learning curve; each model's section also reads its predictions' meta.json and its
    classification report (reports/classification/<model>_test.txt)."""
    lines = [f"# {t('sm_title')}", "", t("sm_intro"), "",
             *([t("standin_note"), ""] if metrics.get("standin") is True else []),
             f"## {t('sm_models')}", "", t("sm_models_header"), "|---|---|---|---|"]
    lines += [f"| {m} | `{c.get('model')}`" + (f" (base `{c['base_model']}`)" if "base_model" in c else "")
              + f" | `{c.get('revision')}` | {commit_of(c) if 'commit' in c else '–'} |"
              for m, c in metrics["models"].items()]
    lines += ["", f"## {t('sm_comparison')}", "", *comparison(t, metrics), ""]
    lines += [f"## {t('sm_paired')}", "", *paired(t, metrics), ""]
    lines += [f"## {t('sm_reports')}", ""]
    for model in MODELS:
        if model in metrics["models"]:
            lines += model_section(t, model, metrics["models"][model])
    lines += [f"## {t('sm_curve')}", "", curve.round(4).to_markdown(), "",
              "![learning curve](../plots/learning_curve.png)", ""]
    lines += [f"## {t('sm_errors')}", "", *error_headline(t, errors), "", t("sm_errors_more"), ""]
    return "\n".join(lines)
