"""The classical comparator's model: character n-gram TF-IDF + logistic regression.

Used by the `baseline_tfidf` stage (params `tfidf`) and, refitted fold by fold, by the `label_issues`
stage (params `label_issues`, the same fields plus the folds).
"""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from ja_sentiment.params import TfidfParams

# Character n-grams need no word segmenter (Japanese has no spaces). "char_wb" pads each
# whitespace-separated chunk with a space, so n-grams at the start and end of a text (a final
# "。" or "!") are features of their own; on the corpus' dev split it ties with "char" (macro-F1
# 0.763 both), so this is a choice, not a tuned result.
ANALYZER = "char_wb"
MAX_ITER = 5000  # lbfgs needs < 100 iterations on the corpus; the margin is for larger C / data


def build_model(cfg: TfidfParams) -> Pipeline:
    return Pipeline([
        ("tfidf", TfidfVectorizer(analyzer=ANALYZER, ngram_range=(cfg.ngram_min, cfg.ngram_max),
                                  max_features=cfg.max_features, sublinear_tf=True)),
        ("logreg", LogisticRegression(C=cfg.C, max_iter=MAX_ITER, random_state=cfg.seed,
                                      class_weight=None if cfg.class_weight == "none" else "balanced")),
    ])


def class_probs(model: Pipeline, texts: list[str], n_classes: int) -> np.ndarray:
    """predict_proba with one column per class id, in id order, even for a class absent from train."""
    probs = np.zeros((len(texts), n_classes))
    probs[:, model.classes_] = model.predict_proba(texts)
    return probs
