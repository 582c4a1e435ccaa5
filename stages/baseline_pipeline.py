"""Stage `baseline_pipeline` (Level 1): a ready-made sentiment model used as-is through pipeline().

The model's own labels are mapped onto the project's classes with `baseline.label_map`; dev and
test get two prediction sets:

- predictions/baseline_plain: each class's probability is the sum over the model labels mapped
  to it (0 for a class nothing maps to), pred = argmax. A 2-label model never predicts neutral.
- predictions/baseline_band: same probability columns, but pred = neutral wherever the top
  probability is below a threshold t (`baseline.neutral_band`: tuned on dev, fixed, or off).
  p_neutral stays the mapped probability (0 for a model without a neutral label): the band is a
  decision rule on top of the probabilities, not a recalibration, so pred need not be their argmax.

Probabilities are rounded to the 6 decimals the CSVs hold *before* any decision, so every pred
and the threshold can be reproduced exactly from the written files.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence

import numpy as np

from ja_sentiment.data import CORPUS_LABELS, PREDICTIONS_DIR, read_split, write_json
from ja_sentiment.inference import classify
from ja_sentiment.metrics import macro_f1
from ja_sentiment.models import load_text_classifier
from ja_sentiment.params import ParamsError, load_params
from ja_sentiment.predictions import write_predictions
from ja_sentiment.provenance import model_card

NEUTRAL = CORPUS_LABELS.index(0)  # class id of neutral


def resolve_mapping(model_labels: Sequence[str], label_map: Mapping[str, str]) -> dict[str, str]:
    """{model label: project label}, with `label_map` keys matched case-insensitively."""
    def fail(problem: str) -> ParamsError:  # a params problem: exits naming the key
        return ParamsError(f"baseline.label_map: {problem}; the model's labels: {list(model_labels)}")

    wanted = {k.lower(): v for k, v in label_map.items()}
    if len(wanted) != len(label_map):
        raise fail(f"keys {sorted(label_map)} collide when compared case-insensitively")
    if len({m.lower() for m in model_labels}) != len(model_labels):
        raise fail("the model has labels differing only in case, which cannot be matched")
    # Both directions are errors: an unmapped model label would silently drop probability mass,
    # and a key the model lacks is a typo or the wrong model.
    missing = [m for m in model_labels if m.lower() not in wanted]
    if missing:
        raise fail(f"no entry for model label(s) {missing}")
    unknown = [k for k in label_map if k.lower() not in {m.lower() for m in model_labels}]
    if unknown:
        raise fail(f"key(s) {unknown} are not labels of the model")
    return {m: wanted[m.lower()] for m in model_labels}


def label_matrix(mapping: Mapping[str, str], names: Sequence[str]) -> np.ndarray:
    """0/1 matrix (model label, in the model's id order x project class): probs @ matrix sums per class."""
    matrix = np.zeros((len(mapping), len(names)))
    for row, target in enumerate(mapping.values()):
        matrix[row, list(names).index(target)] = 1.0
    return matrix


def band_predict(probs: np.ndarray, threshold: float | None) -> np.ndarray:
    """Argmax, except neutral where the top probability is below the threshold (None: no band)."""
    pred = probs.argmax(axis=1)
    return pred if threshold is None else np.where(probs.max(axis=1) < threshold, NEUTRAL, pred)


def tune_threshold(gold: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    """The threshold t maximising dev macro-F1 of `band_predict(probs, t)`; ties -> smallest t.

    Exact, not a grid: the rows below t change only at a top score, so the candidates are the
    distinct top scores (the smallest = no band at all) plus one just above the largest (all neutral).
    """
    top = probs.max(axis=1)
    candidates = np.append(np.unique(top), np.round(top.max() + 1e-6, 6))
    f1 = [round(macro_f1(gold, band_predict(probs, t), probs.shape[1]), 12) for t in candidates]
    best = int(np.argmax(f1))  # first maximum = smallest threshold
    return float(candidates[best]), float(f1[best])


def main() -> None:
    params = load_params()
    cfg, names = params.baseline, params.preprocess.label_names
    started = time.perf_counter()
    pipe = load_text_classifier(cfg.model, cfg.revision, cfg.max_length)
    id2label = pipe.model.config.id2label
    model_labels = [id2label[i] for i in range(len(id2label))]
    mapping = resolve_mapping(model_labels, cfg.label_map)  # fails before any classification
    matrix = label_matrix(mapping, names)

    frames = {split: read_split(split) for split in ("dev", "test")}
    probs = {}
    for split, frame in frames.items():
        raw = classify(pipe, frame["text"].tolist(), cfg.batch_size, cfg.max_length,
                              desc=f"baseline {split}")
        probs[split] = np.round(raw @ matrix, 6)
    gold = frames["dev"]["label"].to_numpy()

    if cfg.neutral_band == "off":
        mode, threshold = "off", None
    elif cfg.neutral_band == "tune":
        mode, threshold = "tune", tune_threshold(gold, probs["dev"])[0]
    else:
        mode, threshold = "fixed", float(cfg.neutral_band)

    card = model_card(cfg.model, cfg.revision)
    scores = {}
    for name, t in (("baseline_plain", None), ("baseline_band", threshold)):
        for split, frame in frames.items():
            write_predictions(PREDICTIONS_DIR / name / f"{split}.csv", frame,
                                     probs[split], band_predict(probs[split], t), names)
        scores[name] = macro_f1(gold, band_predict(probs["dev"], t), len(names))
        write_json(PREDICTIONS_DIR / name / "meta.json", {
            **card, "kind": "ready-made pipeline", "mapping": mapping,
            "neutral_band": "off" if name == "baseline_plain" else mode, "threshold": t,
            "dev_macro_f1_at_threshold": round(scores[name], 6),
            "probabilities": "mapped model probabilities (summed per class); p_neutral is 0 when no "
                             "model label maps to neutral; the band rule does not change them"})
    shown = "off" if threshold is None else f"{mode}, t={threshold:.6g}"
    print(f"baseline_pipeline: {card['model']}: dev macro-F1 plain {scores['baseline_plain']:.4f}, "
          f"band ({shown}) {scores['baseline_band']:.4f}; {len(frames['dev'])} dev + "
          f"{len(frames['test'])} test texts in {time.perf_counter() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
