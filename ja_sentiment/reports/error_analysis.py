"""Level 3's report: reports/error_analysis.md, the plots in plots/errors/ and
metrics/error_analysis.json, from what the `error_analysis` stage found (`Results`).

The report: the model behind it, "Findings" and "Possible causes" (ja_sentiment/findings.py), words
over-represented among errors (overall and per confusion pair), the nearest training sentences of
each test error, label-issue candidates, token attributions, the error-rate tables, and every error;
every sentence in the language of `Text`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ja_sentiment import findings as fnd
from ja_sentiment.error_tables import json_rate, pair_rates
from ja_sentiment.params import ErrorAnalysisParams
from ja_sentiment.plotting import japanese_font
from ja_sentiment.reports.markdown import commit_of, table
from ja_sentiment.reports.text import Text

MODEL_KEYS = ("model", "base_model", "revision", "commit", "standin", "train_precision")  # from meta.json
SHOWN = ["id", "text", "gold", "pred", "confidence", "gold_prob", "agreement_level", "length"]
WORDS_SHOWN = 10  # words per table in the report (all of them in reports/error_words.csv)


@dataclass
class Results:
    """What the stage found: the report, the plots and the metrics show these."""

    df: pd.DataFrame  # every row of the analysed splits, with `wrong`
    errors: pd.DataFrame  # the misclassified rows of the analysed splits
    test_errors: pd.DataFrame  # those of the test split, every column
    by_split: pd.DataFrame  # error rates
    by_agreement: pd.DataFrame
    by_length: pd.DataFrame
    words: dict[str, dict[str, pd.DataFrame]]  # per split: "all" and each "gold→pred" (words.word_tables)
    all_words: pd.DataFrame  # every table of `words` in one, with `split` and `analysis`
    near: pd.DataFrame  # the nearest training sentences of the test errors
    votes: pd.DataFrame  # per test error: how many neighbours carry the predicted and the gold label
    duplicates: int  # test errors with a near-identical training sentence labelled as predicted
    ranking: pd.DataFrame  # label-issue candidates (empty: not computed)
    note: str  # the folds of the ranking, or why it was not computed
    scores: pd.DataFrame  # token attributions
    found: list[fnd.Finding]
    possible: list[fnd.Possibility]


def plot_words(words: pd.DataFrame, t: Text, plots_dir: Path) -> None:
    """Significant overall words per split: error rate with the word against without it."""
    sig = words[(words["analysis"] == "all") & words["significant"]].groupby("split", sort=False).head(15)
    data = sig.assign(group=sig["split"] + ": " + sig["word"])
    data[["split", "word", "group", "sentences", "errors", "error_rate", "rest_rate", "q"]].to_csv(
        plots_dir / "words.csv", index=False
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
    ax.set_ylabel(t("axis_word"))
    ax.set_title(t("ea_words_plot"))
    fig.tight_layout()
    fig.savefig(plots_dir / "words.png", dpi=100)
    plt.close(fig)


def plot_rates(frame: pd.DataFrame, column: str, title: str, stem: str, error_rate: str,
               plots_dir: Path, axis: str = "") -> None:
    # `group` gives DVC's one-series bar templates a distinct bar per split and group.
    data = frame.assign(group=frame["split"] + ": " + frame[column].astype(str))
    data[["split", column, "group", "examples", "errors", "error_rate"]].to_csv(
        plots_dir / f"{stem}.csv", index=False
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
    ax.set_xlabel(axis)
    ax.set_ylabel(error_rate)
    ax.margins(y=0.12)  # room for the bar labels
    plt.tight_layout()
    plt.savefig(plots_dir / f"{stem}.png", dpi=100)
    plt.close()



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


def plots(plots_dir: Path, t: Text, model: str, r: Results) -> None:
    """plots/errors/: error rate by annotator agreement, by text length and for the significant words
    (PNG + CSV; Japanese words drawn with the project's font)."""
    japanese_font()
    plot_rates(
        r.by_agreement, "agreement_level", t("plot_agreement", model=model), "by_agreement", t("error_rate"),
        plots_dir, t("axis_agreement"),
    )
    plot_rates(r.by_length, "length_bucket", t("plot_length", model=model), "by_length", t("error_rate"),
               plots_dir, t("axis_length"))
    plot_words(r.all_words, t, plots_dir)


def markdown(t: Text, meta: dict, model: str, cfg: ErrorAnalysisParams, names: list[str], r: Results) -> str:
    """reports/error_analysis.md; `meta`: the predictions' meta.json."""
    parts = [
        f"# {t('ea_title', model=meta.get('model', model))}",
        "",
        t("ea_base", base=meta.get("base_model"), revision=meta.get("revision"), commit=commit_of(meta)),
        "",
        *([t("standin_note"), ""] if meta.get("standin") is True else []),
        t("ea_intro", splits=", ".join(cfg.splits), alpha=cfg.alpha),
        "",
        *fnd.render(t, r.found, r.possible),
        "",
        f"## {t('ea_words')}",
        "",
        t("ea_words_intro", min_count=cfg.min_word_count),
        "",
        "![words](../plots/errors/words.png)",
        "",
    ]
    for split in cfg.splits:
        parts += word_section(t, split, r.words[split])
    if "test" in cfg.splits:
        parts += neighbour_section(t, r.test_errors, r.near, r.votes, cfg)
    parts += label_issue_section(t, r.ranking, r.note, cfg)
    parts += attribution_section(t, r.scores, cfg)
    parts += [
        f"## {t('ea_tables')}",
        "",
        f"### {t('ea_by_split')}",
        "",
        table(r.by_split),
        "",
        f"### {t('ea_by_pair')}",
        "",
        table(pair_rates(r.df, names)),
        "",
        f"### {t('ea_by_agreement')}",
        "",
        table(r.by_agreement),
        "",
        "![by agreement](../plots/errors/by_agreement.png)",
        "",
        f"### {t('ea_by_length')}",
        "",
        table(r.by_length),
        "",
        "![by length](../plots/errors/by_length.png)",
    ]
    for split in cfg.splits:
        part = r.errors[r.errors["split"] == split]
        top = part.sort_values("confidence", ascending=False, kind="stable").head(cfg.examples)
        if len(top):
            parts += ["", f"## {t('ea_top_errors', split=split, n=len(top))}", "", table(top[SHOWN])]
        parts += ["", f"## {t('ea_all_errors', split=split, n=len(part))}", "", table(part[SHOWN])]
    return "\n".join(parts) + "\n"


def metrics(meta: dict, r: Results) -> dict:
    """metrics/error_analysis.json: per split the error counts and rates, the tests' p-values and the
    evidence counts; `meta`: the predictions' meta.json."""
    # The model first: which weights the numbers come from, and whether they are a stand-in's.
    out: dict = {"model": {k: meta[k] for k in MODEL_KEYS if k in meta}}
    out |= {
        row.split: {
            "examples": int(row.examples),
            "errors": int(row.errors),
            "error_rate": json_rate(row.error_rate),
        }
        for row in r.by_split.itertuples()
    }
    for row in r.by_agreement.itertuples():
        out[row.split].setdefault("error_rate_by_agreement", {})[row.agreement_level] = json_rate(
            row.error_rate
        )
    for f in r.found:
        if f.key == "agreement":
            out[f.split]["agreement_fisher_p"] = f.values["p"]
        if f.key == "words":
            sig = r.words[f.split]["all"]
            out[f.split]["significant_words"] = int(sig["significant"].sum())
        if f.key == "length":
            out[f.split]["length_p"], out[f.split]["length_test"] = f.values["p"], f.values["method"]
        if f.key == "neighbours":
            out["test"]["neighbours_other_majority"] = {
                k: f.values[k] for k in ("errors_rate", "correct_rate", "odds_ratio", "p")}
            out["test"]["errors_with_mostly_predicted_neighbours"] = int(r.votes["mostly_pred"].sum())
            out["test"]["errors_with_near_duplicate_as_predicted"] = r.duplicates
        if f.key == "label_issues":
            out.setdefault("train", {})["label_issue_candidates"] = f.values["candidates"]
            out["train"]["label_issue_candidates_p_holm"] = {
                k: f.values[k]["p_holm"] for k in ("wrong", "mixed")}
    return out
