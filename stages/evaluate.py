"""Stage `evaluate`: the fine-tuned model's predictions, then the same metrics for every model.

Outputs: predictions/finetuned/{split}.csv + meta.json; per model and split a classification
report (reports/classification/<model>_<split>.txt/.json), a confusion matrix (DVC data
plots/confusion/<model>_<split>.csv with columns actual,predicted, and a PNG); metrics/evaluate.json.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, classification_report

from ja_sentiment.data import FINETUNED_DIR as MODEL_DIR
from ja_sentiment.data import PREDICTIONS_DIR, SPLITS, read_split, split_path, write_json
from ja_sentiment.inference import classify, inference_precision
from ja_sentiment.models import load_text_classifier
from ja_sentiment.params import EvaluateParams, load_params
from ja_sentiment.predictions import predictions_path, read_predictions, write_predictions
from ja_sentiment.provenance import max_length_of, read_provenance

FINETUNED = "finetuned"
# Splits each model is scored on: the ready-made baselines never train, so train says nothing new
# about them; the trained models' train scores are the other half of the overfitting picture.
MODEL_SPLITS: dict[str, tuple[str, ...]] = {
    "baseline_plain": ("dev", "test"), "baseline_band": ("dev", "test"), "tfidf": SPLITS, FINETUNED: SPLITS,
}
METRICS_FILE = Path("metrics/evaluate.json")
REPORTS_DIR = Path("reports/classification")
CONFUSION_DIR = Path("plots/confusion")


class EvaluateError(SystemExit):
    """Missing or inconsistent inputs; the message names the file."""


def label_order(id2label: dict[int, str], names: Sequence[str]) -> list[int]:
    """For each project label name, the model's output column holding it (matched by name, not id)."""
    model_names = [id2label[i] for i in range(len(id2label))]
    if sorted(model_names) != sorted(names):
        raise EvaluateError(f"evaluate: model labels {model_names} differ from label_names {list(names)}")
    return [model_names.index(n) for n in names]


def predict_finetuned(names: Sequence[str], cfg: EvaluateParams) -> None:
    prov = read_provenance()
    max_length = max_length_of(prov)
    out_dir = PREDICTIONS_DIR / FINETUNED
    shutil.rmtree(out_dir, ignore_errors=True)  # no stale split survives from an earlier run
    # A local directory: the revision argument is not used to resolve anything.
    pipe = load_text_classifier(str(MODEL_DIR), revision="main", max_length=max_length)
    columns = label_order(pipe.model.config.id2label, names)
    precision = inference_precision(cfg.precision, pipe.model.device.type)
    for split in SPLITS:
        if not split_path(split).is_file():
            print(f"evaluate: {split_path(split)} absent, {split} skipped", file=sys.stderr)
            continue
        frame = read_split(split)
        probs = classify(pipe, frame["text"].tolist(), cfg.batch_size, max_length,
                                max_tokens=cfg.batch_tokens, bf16=precision == "bf16",
                                desc=f"finetuned {split}")[:, columns]
        write_predictions(out_dir / f"{split}.csv", frame, probs, probs.argmax(axis=1), names)
    meta = {"model": MODEL_DIR.as_posix(), "base_model": str(prov["base_model"]),
            "revision": str(prov["revision"]), "max_length": max_length, "precision": precision}
    if "best_epoch" in prov:
        meta["best_epoch"] = prov["best_epoch"]
    write_json(out_dir / "meta.json", meta)


def load_scored(model: str, split: str, names: Sequence[str]) -> pd.DataFrame | None:
    """Predictions checked against the split they claim to cover; None when the split was not predicted."""
    where = predictions_path(model, split)
    if not where.is_file():
        return None
    pred = read_predictions(model, split)
    gold = read_split(split).set_index("id")["label_name"]
    if len(pred) != len(gold) or set(pred["id"]) != set(gold.index):
        raise EvaluateError(f"evaluate: {where} does not cover exactly the ids of {split_path(split)}")
    if (pred["gold"].to_numpy() != gold.loc[pred["id"]].to_numpy()).any():
        raise EvaluateError(f"evaluate: {where} has gold labels that differ from {split_path(split)}")
    unknown = set(pred["pred"]) - set(names)
    if unknown:
        raise EvaluateError(f"evaluate: {where} predicts unknown label(s) {sorted(unknown)}")
    return pred


def scores(gold: Sequence[str], pred: Sequence[str], names: Sequence[str]) -> tuple[dict, dict, str]:
    """(metrics entry, classification_report dict, classification_report text)."""
    kwargs = dict(labels=list(names), target_names=list(names), zero_division=0, digits=4)
    report = classification_report(gold, pred, output_dict=True, **kwargs)
    entry: dict = {"accuracy": round(float(accuracy_score(gold, pred)), 4),
                   "macro_f1": round(report["macro avg"]["f1-score"], 4),
                   "weighted_f1": round(report["weighted avg"]["f1-score"], 4)}
    for n in names:
        r = report[n]
        entry[n] = {"precision": round(r["precision"], 4), "recall": round(r["recall"], 4),
                    "f1": round(r["f1-score"], 4), "support": int(r["support"])}
    return entry, report, classification_report(gold, pred, **kwargs)


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


def evaluate_all(names: Sequence[str]) -> dict:
    metrics: dict = {"models": {}}
    for d in (REPORTS_DIR, CONFUSION_DIR):
        shutil.rmtree(d, ignore_errors=True)  # this stage's own outputs: rebuilt whole
        d.mkdir(parents=True)
    for model, splits in MODEL_SPLITS.items():
        meta_file = PREDICTIONS_DIR / model / "meta.json"
        if not meta_file.is_file():  # the stage declares every model's predictions as a dependency
            what = meta_file if meta_file.parent.is_dir() else meta_file.parent
            raise EvaluateError(f"evaluate: {what} is missing; run the stage that predicts {model}")
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        metrics["models"][model] = {k: str(v) for k, v in meta.items() if k in ("model", "base_model",
                                                                                "revision", "precision")}
        for split in splits:
            pred = load_scored(model, split, names)
            if pred is None:
                print(f"evaluate: no {split} predictions for {model}, skipped", file=sys.stderr)
                continue
            entry, report, text = scores(pred["gold"], pred["pred"], names)
            metrics.setdefault(model, {})[split] = entry
            stem = f"{model}_{split}"
            (REPORTS_DIR / f"{stem}.txt").write_text(f"{model} on {split} (n={len(pred)})\n\n{text}",
                                                     encoding="utf-8")
            write_json(REPORTS_DIR / f"{stem}.json", report)
            pd.DataFrame({"actual": pred["gold"], "predicted": pred["pred"]}).to_csv(
                CONFUSION_DIR / f"{stem}.csv", index=False)
            plot_confusion(pred["gold"], pred["pred"], names, f"{model} on {split} (n={len(pred)})",
                           CONFUSION_DIR / f"{stem}.png")
            print(f"evaluate: {model:14} {split:5} accuracy {entry['accuracy']:.4f} "
                  f"macro-F1 {entry['macro_f1']:.4f}", file=sys.stderr)
        if model not in metrics:
            raise EvaluateError(f"evaluate: {meta_file.parent} holds none of the splits {splits}")
    return metrics


def main() -> None:
    params = load_params()
    names = list(params.preprocess.label_names)
    predict_finetuned(names, params.evaluate)
    write_json(METRICS_FILE, evaluate_all(names))


if __name__ == "__main__":
    main()
