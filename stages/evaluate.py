"""Stage `evaluate`: the fine-tuned model's predictions, then the same metrics for every model, each
with the interval that says how far to trust it.

Outputs: predictions/finetuned/{split}.csv + meta.json, and models/finetuned_calibration.json (the
temperature the predict CLI applies: 1 unless `evaluate.temperature_scaling`); per model and split a
classification report with 95% bootstrap intervals (reports/classification/<model>_<split>.txt/.json)
and a confusion matrix (DVC data plots/confusion/<model>_<split>.csv with columns actual,predicted,
and a PNG); per model on test a reliability diagram (plots/calibration/<model>_test.csv/.png) and its
per-row predictions (reports/test_predictions/<model>.csv, git-tracked for paired comparisons in pull
requests); metrics/evaluate.json: point values, intervals, ECE, and the fine-tuned model compared with
every other model on the same test rows (paired-bootstrap intervals, exact McNemar p, verdicts).
The reports, the plots and the comparisons are built by ja_sentiment/reports/evaluate.py.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ja_sentiment.calibration import apply_temperature, fit_temperature, reliability
from ja_sentiment.data import FINETUNED_DIR as MODEL_DIR
from ja_sentiment.data import PREDICTIONS_DIR, SPLITS, read_split, split_path, write_json
from ja_sentiment.inference import classify, inference_precision
from ja_sentiment.models import load_text_classifier
from ja_sentiment.params import EvaluateParams, load_params
from ja_sentiment.predictions import predictions_path, read_predictions, write_predictions
from ja_sentiment.provenance import CALIBRATION_FILE, max_length_of, read_provenance, weights_sha256
from ja_sentiment.reports.evaluate import calibrate, compare, plot_confusion, scores
from ja_sentiment.stats import CONFIDENCE

FINETUNED = "finetuned"
# Splits each model is scored on: the ready-made baselines never train, so train says nothing new
# about them; the trained models' train scores are the other half of the overfitting picture.
MODEL_SPLITS: dict[str, tuple[str, ...]] = {
    "baseline_plain": ("dev", "test"), "baseline_band": ("dev", "test"), "tfidf": SPLITS, FINETUNED: SPLITS,
}
METRICS_FILE = Path("metrics/evaluate.json")
REPORTS_DIR = Path("reports/classification")
CONFUSION_DIR = Path("plots/confusion")
CALIBRATION_DIR = Path("plots/calibration")
TEST_ROWS_DIR = Path("reports/test_predictions")  # small, git-tracked: what `make report` pairs
# From the fine-tuned model's provenance: the base model's resolved commit, whether it is a stand-in,
# the finetune run's id (a study checks it against dvclive/metrics.json) and the precision it was
# trained in (`precision` in meta.json is the one evaluate ran inference in).
BASE_KEYS = {"commit": "commit", "standin": "standin", "train_precision": "precision", "run_id": "run_id"}
# What metrics/evaluate.json says about each model (from its predictions' meta.json).
MODEL_KEYS = ("model", "base_model", "revision", "commit", "standin", "precision", "train_precision",
              "run_id")


class EvaluateError(SystemExit):
    """Missing or inconsistent inputs; the message names the file."""


def label_order(id2label: dict[int, str], names: Sequence[str]) -> list[int]:
    """For each project label name, the model's output column holding it (matched by name, not id)."""
    model_names = [id2label[i] for i in range(len(id2label))]
    if sorted(model_names) != sorted(names):
        raise EvaluateError(f"evaluate: model labels {model_names} differ from label_names {list(names)}")
    return [model_names.index(n) for n in names]


def temperature_scale(frames: dict[str, pd.DataFrame], probs: dict[str, np.ndarray]
                      ) -> tuple[float, dict, dict[str, np.ndarray]]:
    """The temperature fitted on dev, each split's ECE before scaling, and the scaled probabilities."""
    if "dev" not in probs:
        raise EvaluateError(f"evaluate.temperature_scaling: fitted on dev, but {split_path('dev')} is absent")
    gold = {split: frame["label"].to_numpy() for split, frame in frames.items()}
    # Rounded as stored, so that the predict CLI applies exactly the same temperature.
    temperature = round(fit_temperature(probs["dev"], gold["dev"]), 6)
    before = {f"ece_{split}_before_scaling": round(reliability(p, gold[split])[0], 4)
              for split, p in probs.items()}
    return temperature, before, {split: apply_temperature(p, temperature) for split, p in probs.items()}


def predict_finetuned(names: Sequence[str], cfg: EvaluateParams) -> None:
    prov = read_provenance()
    max_length = max_length_of(prov)
    out_dir = PREDICTIONS_DIR / FINETUNED
    shutil.rmtree(out_dir, ignore_errors=True)  # no stale split survives from an earlier run
    # A local directory: the revision argument is not used to resolve anything.
    pipe = load_text_classifier(str(MODEL_DIR), revision="main", max_length=max_length)
    columns = label_order(pipe.model.config.id2label, names)
    precision = inference_precision(cfg.precision, pipe.model.device.type)
    frames, probs = {}, {}
    for split in SPLITS:
        if not split_path(split).is_file():
            print(f"evaluate: {split_path(split)} absent, {split} skipped", file=sys.stderr)
            continue
        frames[split] = read_split(split)
        probs[split] = classify(pipe, frames[split]["text"].tolist(), cfg.batch_size, max_length,
                                max_tokens=cfg.batch_tokens, bf16=precision == "bf16",
                                desc=f"finetuned {split}")[:, columns]
    temperature, before = 1.0, {}
    if cfg.temperature_scaling:
        temperature, before, probs = temperature_scale(frames, probs)
    for split, frame in frames.items():
        write_predictions(out_dir / f"{split}.csv", frame, probs[split], probs[split].argmax(axis=1), names)
    meta = {"model": MODEL_DIR.as_posix(), "base_model": str(prov["base_model"]),
            "revision": str(prov["revision"]), **{k: prov[v] for k, v in BASE_KEYS.items() if v in prov},
            "max_length": max_length, "precision": precision, "temperature": temperature, **before}
    if "best_epoch" in prov:
        meta["best_epoch"] = prov["best_epoch"]
    write_json(out_dir / "meta.json", meta)
    # Stored beside the model, tied to its weights, so that `sentiment-predict` gives the same scores.
    write_json(CALIBRATION_FILE, {"model": MODEL_DIR.as_posix(), "weights_sha256": weights_sha256(MODEL_DIR),
                                  "temperature": temperature, "fitted_on": "dev" if
                                  cfg.temperature_scaling else None, **before})


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


def evaluate_all(names: Sequence[str], cfg: EvaluateParams | None = None) -> dict:
    cfg = cfg or EvaluateParams()
    metrics: dict = {"models": {}}
    for d in (REPORTS_DIR, CONFUSION_DIR, CALIBRATION_DIR, TEST_ROWS_DIR):
        shutil.rmtree(d, ignore_errors=True)  # this stage's own outputs: rebuilt whole
        d.mkdir(parents=True)
    on_test: dict[str, pd.DataFrame] = {}
    for model, splits in MODEL_SPLITS.items():
        meta_file = PREDICTIONS_DIR / model / "meta.json"
        if not meta_file.is_file():  # the stage declares every model's predictions as a dependency
            what = meta_file if meta_file.parent.is_dir() else meta_file.parent
            raise EvaluateError(f"evaluate: {what} is missing; run the stage that predicts {model}")
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        metrics["models"][model] = {k: v if isinstance(v, bool) else str(v) for k, v in meta.items()
                                    if k in MODEL_KEYS}
        for split in splits:
            pred = load_scored(model, split, names)
            if pred is None:
                print(f"evaluate: no {split} predictions for {model}, skipped", file=sys.stderr)
                continue
            entry, report, text = scores(pred["gold"], pred["pred"], names, cfg)
            metrics.setdefault(model, {})[split] = entry
            stem = f"{model}_{split}"
            (REPORTS_DIR / f"{stem}.txt").write_text(f"{model} on {split} (n={len(pred)})\n\n{text}",
                                                     encoding="utf-8")
            write_json(REPORTS_DIR / f"{stem}.json", report)
            pd.DataFrame({"actual": pred["gold"], "predicted": pred["pred"]}).to_csv(
                CONFUSION_DIR / f"{stem}.csv", index=False)
            plot_confusion(pred["gold"], pred["pred"], names, f"{model} on {split} (n={len(pred)})",
                           CONFUSION_DIR / f"{stem}.png")
            if split == "test":
                on_test[model] = pred
                entry["ece"] = calibrate(model, pred, names, CALIBRATION_DIR)
                if "ece_test_before_scaling" in meta:  # temperature scaling on: ECE of the raw probabilities
                    entry["ece_before_scaling"] = meta["ece_test_before_scaling"]
                pred[["id", "gold", "pred"]].to_csv(TEST_ROWS_DIR / f"{model}.csv", index=False)
            shown = "  ".join(f"{k} {entry[k]:.4f} [{entry[k + '_ci_low']:.4f}, {entry[k + '_ci_high']:.4f}]"
                              for k in ("accuracy", "macro_f1"))
            print(f"evaluate: {model:14} {split:5} {shown}", file=sys.stderr)
        if model not in metrics:
            raise EvaluateError(f"evaluate: {meta_file.parent} holds none of the splits {splits}")
        if "temperature" in meta:
            metrics[model]["temperature"] = meta["temperature"]
    # One flag for the whole file: a result made with any offline stand-in is no real result.
    metrics["standin"] = any(card.get("standin") is True for card in metrics["models"].values())
    metrics["comparisons"] = compare(on_test, FINETUNED, names, cfg)
    metrics["bootstrap"] = {"resamples": cfg.bootstrap_resamples, "seed": cfg.bootstrap_seed,
                            "confidence": CONFIDENCE, "method": "percentile"}
    return metrics


def main() -> None:
    params = load_params()
    names = list(params.preprocess.label_names)
    predict_finetuned(names, params.evaluate)
    write_json(METRICS_FILE, evaluate_all(names, params.evaluate))


if __name__ == "__main__":
    main()
