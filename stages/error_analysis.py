"""Stage `error_analysis` (Level 3): every misclassified example of the fine-tuned model, and what
the results say about why.

Outputs:
- reports/error_analysis.md: "Findings" (facts with their numbers and tests), "Possible causes"
  (possibilities, each naming the findings it rests on), words over-represented among errors
  (overall and per confusion pair), the nearest training sentences of each test error, label-issue
  candidates among the training rows, token attributions of the most confident test errors, the
  error-rate tables, and every error; in English or Japanese (params `report.language`);
- reports/errors.csv (one row per error), reports/error_words.csv (every tested word),
  reports/error_neighbours.csv, reports/label_issues.csv (every training row as the `label_issues`
  stage ranks it, with the fine-tuned model's prediction),
  reports/error_attributions.csv (one row per token; header only when attributions are off);
- metrics/error_analysis.json; plots/errors/: error rate by annotator agreement, by text length and
  for the significant words (PNG + CSV; Japanese words drawn with IPAexGothic).

This script computes the evidence and writes the tables; ja_sentiment/reports/error_analysis.py
assembles the report, the plots and the metrics.
"""


from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ja_sentiment import findings as fnd
from ja_sentiment.attributions import attributions_of
from ja_sentiment.data import (
    FINETUNED_DIR,
    LABEL_ISSUES_DIR,
    LABEL_ISSUES_FILE,
    PREDICTIONS_DIR,
    read_json,
    read_split,
    write_json,
)
from ja_sentiment.error_tables import LEVELS, agreement_level, bucket_labels, length_buckets, rates
from ja_sentiment.label_issues import read_ranking
from ja_sentiment.neighbours import neighbour_votes, neighbours_of
from ja_sentiment.params import load_params
from ja_sentiment.predictions import predictions_path, prob_columns, read_predictions
from ja_sentiment.reports import error_analysis as report
from ja_sentiment.reports.text import Text
from ja_sentiment.words import word_tables

MODEL = "finetuned"
REPORTS = Path("reports")
ERRORS_FILE = REPORTS / "errors.csv"
REPORT_FILE = REPORTS / "error_analysis.md"
WORDS_FILE = REPORTS / "error_words.csv"
NEIGHBOURS_FILE = REPORTS / "error_neighbours.csv"
LABEL_ISSUES_REPORT = REPORTS / "label_issues.csv"
ATTRIBUTIONS_FILE = REPORTS / "error_attributions.csv"
METRICS_FILE = Path("metrics/error_analysis.json")
PLOTS_DIR = Path("plots/errors")
ERROR_COLUMNS = ["split", "id", "text", "gold", "pred", "confidence", "gold_prob", "agreement",
                 "agreement_level", "length", "length_bucket"]
NEIGHBOUR_COLUMNS = ["id", "gold", "pred", "rank", "neighbour_id", "neighbour_text", "neighbour_gold",
                     "neighbour_agreement", "similarity"]
DUPLICATE = 0.9  # similarity from which a training sentence counts as near-identical


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
        raise SystemExit(
            f"error_analysis: {path}: gold labels differ from the {split} split, or "
            f"predicted labels are not among {list(names)}"
        )
    probs = df[prob_columns(names)].to_numpy()
    rows = np.arange(len(df))
    index = {n: i for i, n in enumerate(names)}
    df["confidence"] = probs[rows, df["pred"].map(index).to_numpy()]
    df["gold_prob"] = probs[rows, df["gold"].map(index).to_numpy()]
    df["agreement_level"] = df["votes"].map(agreement_level)
    df["length_bucket"] = length_buckets(df["length"], bins)
    df.insert(0, "split", split)
    df["wrong"] = df["gold"] != df["pred"]
    return df


def label_issue_ranking(train: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The label_issues stage's ranking of the training rows, with the fine-tuned model's prediction
    of each; the folds used, or why the ranking was not computed."""
    meta = read_json(LABEL_ISSUES_DIR / "meta.json")
    ranking = read_ranking(LABEL_ISSUES_FILE)
    if meta.get("folds") is None or ranking.empty:
        return pd.DataFrame(), meta.get("note") or f"{LABEL_ISSUES_FILE} is empty"
    if set(ranking["id"]) != set(train["id"]):
        raise SystemExit(f"error_analysis: {LABEL_ISSUES_FILE} does not rank exactly the train split's rows; "
                         "re-run the label_issues stage (dvc repro)")
    pred = train.set_index("id").loc[ranking["id"], ["pred", "wrong"]].reset_index(drop=True)
    ranking = ranking.assign(finetuned_pred=pred["pred"].to_numpy(), finetuned_wrong=pred["wrong"].to_numpy())
    return ranking, str(meta["folds"])


def main() -> None:
    params = load_params()
    names = list(params.preprocess.label_names)
    cfg = params.error_analysis
    t = Text(params.report.language)
    meta_file = PREDICTIONS_DIR / MODEL / "meta.json"
    if not meta_file.is_file() or not cfg.splits:
        raise SystemExit(f"error_analysis: needs {meta_file} (the evaluate stage writes it) and a split")
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    frames = {s: examples(s, names, cfg.length_bins) for s in dict.fromkeys([*cfg.splits, "train"])}
    df = pd.concat([frames[s] for s in cfg.splits], ignore_index=True)
    errors = df.loc[df["wrong"], ERROR_COLUMNS]
    REPORTS.mkdir(parents=True, exist_ok=True)
    errors.to_csv(ERRORS_FILE, index=False)
    max_length = params.train.max_length

    by_split = rates(df.assign(all="all"), "all", ["all"]).drop(columns="all")
    by_agreement = rates(df, "agreement_level", LEVELS)
    by_length = rates(df, "length_bucket", bucket_labels(cfg.length_bins))

    words = {s: word_tables(frames[s], names, cfg.min_word_count, cfg.alpha) for s in cfg.splits}
    all_words = pd.concat(
        [tb.assign(split=s, analysis=name) for s, tables in words.items() for name, tb in tables.items()],
        ignore_index=True,
    )
    all_words[
        ["split", "analysis", *[c for c in all_words.columns if c not in ("split", "analysis")]]
    ].to_csv(WORDS_FILE, index=False)

    test_errors = df[(df["split"] == "test") & df["wrong"]]
    if "test" in cfg.splits:
        near, test_rows = neighbours_of(frames["test"], frames["train"], cfg.similarity, cfg.neighbours,
                                        FINETUNED_DIR, max_length)
    else:
        near, test_rows = pd.DataFrame(columns=NEIGHBOUR_COLUMNS), None
    near.to_csv(NEIGHBOURS_FILE, index=False)
    votes = neighbour_votes(near, cfg.neighbours)
    duplicates = int(
        near[(near["similarity"] >= DUPLICATE) & (near["neighbour_gold"] == near["pred"])]["id"].nunique()
    )

    ranking, note = label_issue_ranking(frames["train"])
    ranking.to_csv(LABEL_ISSUES_REPORT, index=False)
    scores = attributions_of(FINETUNED_DIR, test_errors, names, cfg.attributions, cfg.attribution_steps,
                             max_length)  # none when cfg.attributions is 0
    scores.to_csv(ATTRIBUTIONS_FILE, index=False)

    found: list[fnd.Finding] = []
    for split in cfg.splits:
        found.append(fnd.agreement(t, df, split, cfg.alpha))
        found.append(fnd.length(t, by_length, split, cfg.alpha))
        found += [f for f in [fnd.pair(t, df, split)] if f]
        found.append(fnd.words(t, split, words[split], cfg.alpha))
    if test_rows is not None:
        found.append(fnd.neighbours(t, test_rows, cfg.neighbours, duplicates, cfg.alpha))
    if not ranking.empty:
        found.append(fnd.label_issues(t, ranking, cfg.alpha))
    fnd.number(found)
    possible = fnd.possibilities(t, found)
    results = report.Results(
        df=df, errors=errors, test_errors=test_errors, by_split=by_split, by_agreement=by_agreement,
        by_length=by_length, words=words, all_words=all_words, near=near, votes=votes, duplicates=duplicates,
        ranking=ranking, note=note, scores=scores, found=found, possible=possible)

    shutil.rmtree(PLOTS_DIR, ignore_errors=True)  # this stage's own output: rebuilt whole
    PLOTS_DIR.mkdir(parents=True)
    report.plots(PLOTS_DIR, t, MODEL, results)
    REPORT_FILE.write_text(report.markdown(t, meta, MODEL, cfg, names, results), encoding="utf-8")
    metrics = report.metrics(meta, results)
    write_json(METRICS_FILE, metrics)
    summary = ", ".join(f"{s} {m['errors']}/{m['examples']}" for s, m in metrics.items() if "errors" in m)
    print(
        f"error_analysis: errors {summary}; {len(found)} findings, {len(possible)} possible causes",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
