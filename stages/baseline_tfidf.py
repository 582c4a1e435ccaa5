"""Stage `baseline_tfidf`: character n-gram TF-IDF + logistic regression, the classical comparator.

Trained on train, predicts train/dev/test into predictions/tfidf/ (+ meta.json). Fully offline
and deterministic: the vectoriser's vocabulary is sorted and lbfgs has no randomness, so the same
params and data give byte-identical CSVs.
"""

from __future__ import annotations

import sys
import time

from sklearn.metrics import accuracy_score

from ja_sentiment.data import PREDICTIONS_DIR, SPLITS, read_split, write_json
from ja_sentiment.metrics import macro_f1
from ja_sentiment.params import load_params
from ja_sentiment.predictions import write_predictions
from ja_sentiment.tfidf import ANALYZER, build_model, class_probs

NAME = "tfidf"


def main() -> None:
    params = load_params()
    cfg, names = params.tfidf, params.preprocess.label_names
    started = time.perf_counter()
    frames = {split: read_split(split) for split in SPLITS}
    model = build_model(cfg).fit(frames["train"]["text"].tolist(), frames["train"]["label"].to_numpy())

    scores: dict[str, dict[str, float]] = {}
    for split, frame in frames.items():
        probs = class_probs(model, frame["text"].tolist(), len(names))
        pred = probs.argmax(axis=1)
        write_predictions(PREDICTIONS_DIR / NAME / f"{split}.csv", frame, probs, pred, names)
        gold = frame["label"].to_numpy()
        scores[split] = {
            "accuracy": round(float(accuracy_score(gold, pred)), 6),
            "macro_f1": round(macro_f1(gold, pred, len(names)), 6)}

    write_json(PREDICTIONS_DIR / NAME / "meta.json", {
        "model": "tfidf-char-ngram+logreg", "revision": "trained here", "kind": "trained here",
        "analyzer": ANALYZER, **cfg.model_dump(),
        "vocabulary_size": len(model.named_steps["tfidf"].vocabulary_),
        "iterations": int(model.named_steps["logreg"].n_iter_.max()),
        "dev_accuracy": scores["dev"]["accuracy"], "dev_macro_f1": scores["dev"]["macro_f1"]})
    print(f"baseline_tfidf: {len(model.named_steps['tfidf'].vocabulary_)} features; "
          + ", ".join(f"{s} acc {m['accuracy']:.4f} macro-F1 {m['macro_f1']:.4f}" for s, m in scores.items())
          + f"; {time.perf_counter() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
