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
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ja_sentiment import findings as fnd
from ja_sentiment.attributions import attribute
from ja_sentiment.data import (
    FINETUNED_DIR,
    LABEL_ISSUES_DIR,
    LABEL_ISSUES_FILE,
    PREDICTIONS_DIR,
    read_json,
    read_split,
    write_json,
)
from ja_sentiment.error_tables import (
    LEVELS,
    agreement_level,
    bucket_labels,
    json_rate,
    length_buckets,
    pair_rates,
    rates,
)
from ja_sentiment.label_issues import read_ranking
from ja_sentiment.markdown import commit_of, table
from ja_sentiment.neighbours import (
    model_vectors,
    nearest,
    neighbour_table,
    neighbour_votes,
    other_label_majority,
    tfidf_vectors,
)
from ja_sentiment.params import ErrorAnalysisParams, load_params
from ja_sentiment.plotting import japanese_font
from ja_sentiment.predictions import predictions_path, prob_columns, read_predictions
from ja_sentiment.report_text import Text
from ja_sentiment.words import containing, correct_together, evidence, word_sets

MODEL = "finetuned"
REPORTS = Path("reports")
ERRORS_FILE = REPORTS / "errors.csv"
REPORT_FILE = REPORTS / "error_analysis.md"
WORDS_FILE = REPORTS / "error_words.csv"
NEIGHBOURS_FILE = REPORTS / "error_neighbours.csv"
LABEL_ISSUES_REPORT = REPORTS / "label_issues.csv"
ATTRIBUTIONS_FILE = REPORTS / "error_attributions.csv"
METRICS_FILE = Path("metrics/error_analysis.json")
MODEL_KEYS = ("model", "base_model", "revision", "commit", "standin", "train_precision")  # from meta.json
PLOTS_DIR = Path("plots/errors")
ERROR_COLUMNS = [
    "split",
    "id",
    "text",
    "gold",
    "pred",
    "confidence",
    "gold_prob",
    "agreement",
    "agreement_level",
    "length",
    "length_bucket",
]
NEIGHBOUR_COLUMNS = ["id", "gold", "pred", "rank", "neighbour_id", "neighbour_text", "neighbour_gold",
                     "neighbour_agreement", "similarity"]
SHOWN = ["id", "text", "gold", "pred", "confidence", "gold_prob", "agreement_level", "length"]
DUPLICATE = 0.9  # similarity from which a training sentence counts as near-identical
WORDS_SHOWN = 10  # words per table in the report (all of them in reports/error_words.csv)


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


def word_tables(
    part: pd.DataFrame, names: Sequence[str], cfg: ErrorAnalysisParams
) -> dict[str, pd.DataFrame]:
    """Word evidence of one split: all errors ("all"), then each confusion pair "gold→pred" (among
    the gold class's sentences, predicted as pred); each row with up to two example sentences.
    Benjamini-Hochberg runs over every word test of the split together."""
    texts, sets = part["text"].tolist(), word_sets(part["text"])
    out = {"all": (part, part["wrong"].to_numpy())}
    for gold in names:
        rows = (part["gold"] == gold).to_numpy()
        for pred in (p for p in names if p != gold):
            out[f"{gold}→{pred}"] = (part[rows], (part.loc[rows, "pred"] == pred).to_numpy())
    tables = {}
    for name, (rows, event) in out.items():
        idx = [part.index.get_loc(i) for i in rows.index]
        sub_sets, sub_texts = [sets[i] for i in idx], [texts[i] for i in idx]
        found = evidence(sub_sets, event, cfg.min_word_count)
        hit_texts = [t for t, e in zip(sub_texts, event, strict=True) if e]
        hit_sets = [s for s, e in zip(sub_sets, event, strict=True) if e]
        found["examples"] = [" / ".join(containing(hit_texts, hit_sets, w, 2)) for w in found["word"]]
        tables[name] = found
    return correct_together(tables, cfg.alpha)


def plot_words(words: pd.DataFrame, t: Text) -> None:
    """Significant overall words per split: error rate with the word against without it."""
    sig = words[(words["analysis"] == "all") & words["significant"]].groupby("split", sort=False).head(15)
    data = sig.assign(group=sig["split"] + ": " + sig["word"])
    data[["split", "word", "group", "sentences", "errors", "error_rate", "rest_rate", "q"]].to_csv(
        PLOTS_DIR / "words.csv", index=False
    )
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.35 * len(data) + 1.2)))
    if len(data):
        y = np.arange(len(data))[::-1]
        ax.barh(y + 0.2, data["error_rate"], height=0.4, label=t("with_word"))
        ax.barh(y - 0.2, data["rest_rate"], height=0.4, label=t("without_word"))
        ax.set_yticks(
            y,
            [
                f"{g} ({e}/{n})"
                for g, e, n in zip(data["group"], data["errors"], data["sentences"], strict=True)
            ],
        )
        ax.legend(loc="lower right")
    else:
        ax.text(0.5, 0.5, "—", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(t("error_rate"))
    ax.set_title(t("ea_words_plot"))
    fig.tight_layout()
    fig.savefig(PLOTS_DIR / "words.png", dpi=100)
    plt.close(fig)


def plot_rates(frame: pd.DataFrame, column: str, title: str, stem: str, error_rate: str) -> None:
    # `group` gives DVC's one-series bar templates a distinct bar per split and group.
    data = frame.assign(group=frame["split"] + ": " + frame[column].astype(str))
    data[["split", column, "group", "examples", "errors", "error_rate"]].to_csv(
        PLOTS_DIR / f"{stem}.csv", index=False
    )
    wide = (
        frame.pivot(index=column, columns="split", values="error_rate")
        .reindex(index=frame[column].unique(), columns=frame["split"].unique())
        .astype(float)
    )
    ax = wide.plot(kind="bar", figsize=(8, 4.5), rot=0, title=title)
    for bars, split in zip(ax.containers, wide.columns, strict=True):  # label bars errors/examples
        part = frame[frame["split"] == split].set_index(column).reindex(wide.index)
        ax.bar_label(
            bars,
            labels=[f"{e}/{n}" for e, n in zip(part["errors"], part["examples"], strict=True)],
            fontsize=8,
        )
    ax.set_xlabel("")
    ax.set_ylabel(error_rate)
    ax.margins(y=0.12)  # room for the bar labels
    plt.tight_layout()
    plt.savefig(PLOTS_DIR / f"{stem}.png", dpi=100)
    plt.close()


def neighbours_of(
    test: pd.DataFrame, train: pd.DataFrame, cfg: ErrorAnalysisParams, max_length: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The nearest training sentences of every test row: the table of the errors' neighbours, and
    per test row (errors and correct rows alike: the control) whether a strict majority of its
    neighbours carries a label other than its gold label."""
    if cfg.similarity == "model":
        train_vec = model_vectors(FINETUNED_DIR, train["text"].tolist(), max_length)
        query_vec = model_vectors(FINETUNED_DIR, test["text"].tolist(), max_length)
    else:
        train_vec, query_vec = tfidf_vectors(train["text"].tolist(), test["text"].tolist())
    index, sims = nearest(train_vec, query_vec, cfg.neighbours)
    rows = test[["id", "gold", "wrong"]].reset_index(drop=True)
    labels = train["label_name"].to_numpy()
    rows["other_majority"] = other_label_majority(index, labels, rows["gold"].to_numpy())
    wrong = rows["wrong"].to_numpy()
    return neighbour_table(test[wrong], train, index[wrong], sims[wrong]), rows


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


def attributions_of(
    errors: pd.DataFrame, cfg: ErrorAnalysisParams, names: Sequence[str], max_length: int
) -> pd.DataFrame:
    top = errors.sort_values("confidence", ascending=False, kind="stable").head(cfg.attributions)
    columns = ["id", "text", "gold", "pred", "confidence", "position", "token", "score", "delta", "change"]
    if top.empty:
        return pd.DataFrame(columns=columns)
    scores = attribute(
        FINETUNED_DIR,
        top["text"].tolist(),
        [names.index(p) for p in top["pred"]],
        cfg.attribution_steps,
        max_length,
    )
    info = top[["id", "text", "gold", "pred", "confidence"]].reset_index(drop=True)
    return scores.join(info, on="text_index")[columns]


def neighbour_section(
    t: Text, errors: pd.DataFrame, table_: pd.DataFrame, votes: pd.DataFrame, cfg: ErrorAnalysisParams
) -> list[str]:
    lines = [
        f"## {t('ea_neighbours')}",
        "",
        t("ea_neighbours_intro", similarity=t(f"similarity_{cfg.similarity}"), k=cfg.neighbours),
        "",
    ]
    cells = (
        table_.assign(
            cell=[
                f"{r}. {txt} [{g}, {a}, {s:.2f}]"
                for r, txt, g, a, s in zip(
                    table_["rank"],
                    table_["neighbour_text"],
                    table_["neighbour_gold"],
                    table_["neighbour_agreement"],
                    table_["similarity"],
                    strict=True,
                )
            ]
        )
        .groupby("id", sort=False)["cell"]
        .agg(" ⏎ ".join)
    )
    shown = (
        errors[["id", "text", "gold", "pred"]]
        .merge(votes, on="id")
        .assign(neighbours=lambda d: d["id"].map(cells))
    )
    return [*lines, table(shown[["id", "text", "gold", "pred", "with_pred", "with_gold", "neighbours"]]), ""]


def label_issue_section(t: Text, ranking: pd.DataFrame, note: str, cfg: ErrorAnalysisParams) -> list[str]:
    lines = [f"## {t('ea_label_issues')}", ""]
    if ranking.empty:
        return [*lines, t("ea_label_issues_skipped", reason=note), ""]
    lines += [t("ea_label_issues_intro", folds=note), ""]
    for title, column in (
        ("ea_crosstab_agreement", "agreement_level"),
        ("ea_crosstab_majority", "majority_status"),
    ):
        cross = pd.crosstab(ranking[column], ranking["candidate"]).reindex(
            columns=[True, False], fill_value=0
        )
        cross = cross.rename(columns={True: "candidates", False: "others"}).reset_index()
        cross["candidate_rate"] = cross["candidates"] / (cross["candidates"] + cross["others"])
        lines += [f"### {t(title)}", "", table(cross), ""]
    top = ranking.head(cfg.label_issues_shown)
    lines += [
        f"### {t('ea_top_candidates', n=len(top))}",
        "",
        table(
            top[
                [
                    "rank",
                    "id",
                    "text",
                    "gold",
                    "self_confidence",
                    "candidate",
                    "confident_other",
                    "finetuned_pred",
                    "agreement_level",
                    "votes",
                ]
            ]
        ),
        "",
    ]
    return lines


def attribution_section(t: Text, scores: pd.DataFrame, cfg: ErrorAnalysisParams) -> list[str]:
    if cfg.attributions == 0:
        return [f"## {t('ea_attributions', n=0)}", "", t("ea_attributions_off"), ""]
    rows = []
    for _, group in scores.groupby("id", sort=False):
        first = group.iloc[0]
        top = group.sort_values("score", ascending=False, kind="stable").head(5)
        rows.append(
            {
                "id": first["id"],
                "text": first["text"],
                "gold": first["gold"],
                "pred": first["pred"],
                "confidence": first["confidence"],
                "change": first["change"],
                "delta": first["delta"],
                "top tokens": ", ".join(
                    f"{tok} ({s:+.3f})" for tok, s in zip(top["token"], top["score"], strict=True)
                ),
            }
        )
    n = len(rows)
    return [
        f"## {t('ea_attributions', n=n)}",
        "",
        t("ea_attributions_intro", steps=cfg.attribution_steps),
        "",
        table(
            pd.DataFrame(
                rows, columns=["id", "text", "gold", "pred", "confidence", "change", "delta", "top tokens"]
            )
        ),
        "",
    ]


def word_section(t: Text, split: str, tables: dict[str, pd.DataFrame]) -> list[str]:
    lines = []
    for name, found in tables.items():
        heading = (
            t("ea_words_all", split=split) if name == "all" else t("ea_words_pair", split=split, pair=name)
        )
        sig = found[found["significant"]]
        lines += [f"### {heading}", ""]
        shown = sig.head(WORDS_SHOWN)
        if shown.empty:
            shown = found.head(3)
            lines += [t("ea_words_none", n=len(shown)), ""]
        if len(shown):
            lines += [
                table(
                    shown[["word", "sentences", "errors", "error_rate", "rest_rate", "p", "q", "examples"]]
                ),
                "",
            ]
    return lines


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

    words = {s: word_tables(frames[s], names, cfg) for s in cfg.splits}
    all_words = pd.concat(
        [tb.assign(split=s, analysis=name) for s, tables in words.items() for name, tb in tables.items()],
        ignore_index=True,
    )
    all_words[
        ["split", "analysis", *[c for c in all_words.columns if c not in ("split", "analysis")]]
    ].to_csv(WORDS_FILE, index=False)

    test_errors = df[(df["split"] == "test") & df["wrong"]]
    if "test" in cfg.splits:
        near, test_rows = neighbours_of(frames["test"], frames["train"], cfg, max_length)
    else:
        near, test_rows = pd.DataFrame(columns=NEIGHBOUR_COLUMNS), None
    near.to_csv(NEIGHBOURS_FILE, index=False)
    votes = neighbour_votes(near, cfg.neighbours)
    duplicates = int(
        near[(near["similarity"] >= DUPLICATE) & (near["neighbour_gold"] == near["pred"])]["id"].nunique()
    )

    ranking, note = label_issue_ranking(frames["train"])
    ranking.to_csv(LABEL_ISSUES_REPORT, index=False)
    scores = attributions_of(test_errors, cfg, names, max_length)  # none when cfg.attributions is 0
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

    shutil.rmtree(PLOTS_DIR, ignore_errors=True)  # this stage's own output: rebuilt whole
    PLOTS_DIR.mkdir(parents=True)
    japanese_font()
    plot_rates(
        by_agreement, "agreement_level", t("plot_agreement", model=MODEL), "by_agreement", t("error_rate")
    )
    plot_rates(by_length, "length_bucket", t("plot_length", model=MODEL), "by_length", t("error_rate"))
    plot_words(all_words, t)

    parts = [
        f"# {t('ea_title', model=meta.get('model', MODEL))}",
        "",
        t("ea_base", base=meta.get("base_model"), revision=meta.get("revision"), commit=commit_of(meta)),
        "",
        *([t("standin_note"), ""] if meta.get("standin") is True else []),
        t("ea_intro", splits=", ".join(cfg.splits), alpha=cfg.alpha),
        "",
        *fnd.render(t, found, possible),
        "",
        f"## {t('ea_words')}",
        "",
        t("ea_words_intro", min_count=cfg.min_word_count),
        "",
        "![words](../plots/errors/words.png)",
        "",
    ]
    for split in cfg.splits:
        parts += word_section(t, split, words[split])
    if "test" in cfg.splits:
        parts += neighbour_section(t, test_errors, near, votes, cfg)
    parts += label_issue_section(t, ranking, note, cfg)
    parts += attribution_section(t, scores, cfg)
    parts += [
        f"## {t('ea_tables')}",
        "",
        f"### {t('ea_by_split')}",
        "",
        table(by_split),
        "",
        f"### {t('ea_by_pair')}",
        "",
        table(pair_rates(df, names)),
        "",
        f"### {t('ea_by_agreement')}",
        "",
        table(by_agreement),
        "",
        "![by agreement](../plots/errors/by_agreement.png)",
        "",
        f"### {t('ea_by_length')}",
        "",
        table(by_length),
        "",
        "![by length](../plots/errors/by_length.png)",
    ]
    for split in cfg.splits:
        part = errors[errors["split"] == split]
        top = part.sort_values("confidence", ascending=False, kind="stable").head(cfg.examples)
        if len(top):
            parts += ["", f"## {t('ea_top_errors', split=split, n=len(top))}", "", table(top[SHOWN])]
        parts += ["", f"## {t('ea_all_errors', split=split, n=len(part))}", "", table(part[SHOWN])]
    REPORT_FILE.write_text("\n".join(parts) + "\n", encoding="utf-8")

    # The model first: which weights the numbers come from, and whether they are a stand-in's.
    metrics: dict = {"model": {k: meta[k] for k in MODEL_KEYS if k in meta}}
    metrics |= {
        row.split: {
            "examples": int(row.examples),
            "errors": int(row.errors),
            "error_rate": json_rate(row.error_rate),
        }
        for row in by_split.itertuples()
    }
    for row in by_agreement.itertuples():
        metrics[row.split].setdefault("error_rate_by_agreement", {})[row.agreement_level] = json_rate(
            row.error_rate
        )
    for f in found:
        if f.key == "agreement":
            metrics[f.split]["agreement_fisher_p"] = f.values["p"]
        if f.key == "words":
            sig = words[f.split]["all"]
            metrics[f.split]["significant_words"] = int(sig["significant"].sum())
        if f.key == "length":
            metrics[f.split]["length_p"], metrics[f.split]["length_test"] = f.values["p"], f.values["method"]
        if f.key == "neighbours":
            metrics["test"]["neighbours_other_majority"] = {
                k: f.values[k] for k in ("errors_rate", "correct_rate", "odds_ratio", "p")}
            metrics["test"]["errors_with_mostly_predicted_neighbours"] = int(votes["mostly_pred"].sum())
            metrics["test"]["errors_with_near_duplicate_as_predicted"] = duplicates
        if f.key == "label_issues":
            metrics.setdefault("train", {})["label_issue_candidates"] = f.values["candidates"]
            metrics["train"]["label_issue_candidates_p_holm"] = {
                k: f.values[k]["p_holm"] for k in ("wrong", "mixed")}
    write_json(METRICS_FILE, metrics)
    summary = ", ".join(f"{s} {m['errors']}/{m['examples']}" for s, m in metrics.items() if "errors" in m)
    print(
        f"error_analysis: errors {summary}; {len(found)} findings, {len(possible)} possible causes",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
