"""Stage `label_issues`: rank every training row by how likely a held-out model finds its gold label.

Confident learning (ja_sentiment/label_issues.py) with a k-fold TF-IDF + logistic-regression model,
which needs no fine-tuned model: it runs between `preprocess` and `finetune`, so that the ranking can
both feed Level 3 (`error_analysis` reads it) and, with `train.drop_label_issues: N`, leave the N
lowest-ranked rows out of fine-tuning (Level 4's countermeasure from the failure analysis). Its own
params section (`label_issues`) keeps it apart from the `tfidf` comparator: tuning the comparator
never changes the ranking, nor retrains BERT.

Outputs:
- data/label_issues/ranking.csv: every training row, least likely gold label first: id, text, gold,
  agreement_level, votes, majority_status, self_confidence, confident_other, candidate, rank;
- data/label_issues/meta.json: the folds used, or why the ranking could not be computed (a class with
  fewer than 2 training rows; the ranking file then has its header only).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd

from ja_sentiment.data import LABEL_ISSUES_DIR, LABEL_ISSUES_FILE, read_split, write_json
from ja_sentiment.error_tables import agreement_level
from ja_sentiment.label_issues import RANKING_COLUMNS, majority_status, out_of_fold_probs, rank
from ja_sentiment.params import load_params
from ja_sentiment.tfidf import build_model


def main() -> None:
    params = load_params()
    cfg, names = params.label_issues, list(params.preprocess.label_names)
    train = read_split("train")
    labels = train["label"].to_numpy()
    smallest = int(np.bincount(labels, minlength=len(names)).min())
    folds = min(cfg.folds, smallest)
    LABEL_ISSUES_DIR.mkdir(parents=True, exist_ok=True)
    if folds < 2:
        note = f"a class has {smallest} training row(s); cross-validation needs 2 per class"
        pd.DataFrame(columns=RANKING_COLUMNS).to_csv(LABEL_ISSUES_FILE, index=False)
        write_json(LABEL_ISSUES_DIR / "meta.json", {"folds": None, "note": note})
        print(f"label_issues: not computed: {note}", file=sys.stderr)
        return
    probs = out_of_fold_probs(build_model(cfg), train["text"].tolist(), labels, len(names), folds, cfg.seed)
    ranked = rank(probs, labels)
    out = pd.DataFrame({"id": train["id"], "text": train["text"], "gold": train["label_name"],
                        "agreement_level": train["votes"].map(agreement_level), "votes": train["votes"],
                        "majority_status": [majority_status(json.loads(v), g)
                                            for v, g in zip(train["votes"], labels, strict=True)]})
    out = pd.concat([out, ranked], axis=1)
    out["confident_other"] = [names[i] if i >= 0 else "" for i in out["confident_other"]]
    out.sort_values("rank")[RANKING_COLUMNS].to_csv(LABEL_ISSUES_FILE, index=False)
    write_json(LABEL_ISSUES_DIR / "meta.json", {"folds": folds, "note": ""})
    print(f"label_issues: {int(ranked['candidate'].sum())} candidates among {len(out)} training rows "
          f"({folds}-fold out-of-fold TF-IDF) -> {LABEL_ISSUES_FILE}", file=sys.stderr)


if __name__ == "__main__":
    main()
