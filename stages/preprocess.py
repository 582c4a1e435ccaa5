"""Stage `preprocess`: validate every row of pn.tsv, map labels to ids, split, summarise.

A bad row fails the stage with its line number, and nothing is written; so does a file whose rows
are each valid but which cannot give the study meaningful numbers (a split with no rows, or a
class missing from a split). Outputs: the splits in data/processed/, data summary metrics,
class-balance and text-length plots (PNG + DVC data).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.model_selection import train_test_split

from ja_sentiment.corpus import BadInput, parse_votes, read_rows
from ja_sentiment.data import CORPUS_LABELS, PROCESSED_DIR, RAW_FILE, SPLITS, split_path, write_json
from ja_sentiment.params import PreprocessParams, load_params

METRICS_FILE = Path("metrics/data.json")
PLOTS_DIR = Path("plots/data")
LENGTH_BIN = 5  # characters per bin of plots/data/text_length.csv


def to_examples(frame: pd.DataFrame, params: PreprocessParams) -> pd.DataFrame:
    label_value = frame["label"].astype(int)
    votes = frame["judges"].map(parse_votes)
    gold_votes = [v.get(str(lab), 0) for v, lab in zip(votes, label_value, strict=True)]
    total_votes = votes.map(lambda v: sum(v.values()))
    out = pd.DataFrame({
        "id": frame["id"], "text": frame["text"],
        "label": label_value.map({v: i for i, v in enumerate(CORPUS_LABELS)}),
        "agreement": (pd.Series(gold_votes, index=frame.index) / total_votes).round(4),
        "votes": [json.dumps([v.get(str(c), 0) for c in CORPUS_LABELS]) for v in votes],
        "length": frame["text"].str.len(), "split": frame["usage"],
    })
    out.insert(3, "label_name", out["label"].map(dict(enumerate(params.label_names))))
    if params.split == "stratified":
        try:
            rest, test = train_test_split(out.index, test_size=params.test_fraction,
                                          stratify=out["label"], random_state=params.seed)
            dev_share = params.dev_fraction / (1 - params.test_fraction)
            train, dev = train_test_split(rest, test_size=dev_share, stratify=out.loc[rest, "label"],
                                          random_state=params.seed)
        except ValueError as err:  # sklearn: a class too small to be in every split
            counts = ", ".join(f"{n} {k}" for n, k in class_counts(out, params.label_names).items())
            raise BadInput(f"preprocess: no stratified split of these rows gives every split every "
                           f"class ({err}); class counts in the whole file: {counts}. Nothing was written."
                           ) from None
        for name, idx in (("train", train), ("dev", dev), ("test", test)):
            out.loc[idx, "split"] = name
    return out


def class_counts(examples: pd.DataFrame, names: Sequence[str]) -> dict[str, int]:
    counts = examples["label_name"].value_counts()
    return {n: int(counts.get(n, 0)) for n in names}


def check_usable(examples: pd.DataFrame, names: Sequence[str], source: Path) -> None:
    """Every split must hold every class: dev picks the best epoch by macro-F1 and the neutral-band
    threshold, and test reports per-class scores; without a class, either is meaningless (and
    later stages would fail late or print numbers that mean nothing)."""
    counts = {split: class_counts(examples[examples["split"] == split], names) for split in SPLITS}
    problems = []
    for split, by_class in counts.items():
        missing = [n for n, k in by_class.items() if k == 0]
        if len(missing) == len(names):
            problems.append(f"{split} has no rows")
        elif missing:
            problems.append(f"{split} has no {' and no '.join(missing)} rows")
    if problems:
        table = "; ".join(f"{split}: " + ", ".join(f"{n} {k}" for n, k in by_class.items())
                          for split, by_class in counts.items())
        raise BadInput(f"preprocess: {source} cannot give meaningful numbers: {'; '.join(problems)} "
                       f"(class counts per split: {table}). Every split needs every class. "
                       "Nothing was written.")


def leakage(examples: pd.DataFrame) -> pd.DataFrame:
    """Texts that occur in more than one split."""
    splits_of = examples.groupby("text")["split"].agg(lambda s: ",".join(sorted(set(s))))
    shared = splits_of[splits_of.str.contains(",")]
    return shared.rename("splits").reset_index()


def summary(examples: pd.DataFrame, leaks: pd.DataFrame, names: list[str]) -> dict:
    out: dict = {}
    for split in SPLITS:
        part = examples[examples["split"] == split]
        counts = part["label_name"].value_counts()
        out[split] = {"rows": len(part), **{n: int(counts.get(n, 0)) for n in names},
                      "mean_length": round(float(part["length"].mean()), 2),
                      "unanimous": int((part["agreement"] == 1).sum())}
    out["total_rows"] = len(examples)
    out["leakage_texts"] = len(leaks)
    return out


def plot(examples: pd.DataFrame, names: list[str]) -> None:
    PLOTS_DIR.mkdir(parents=True, exist_ok=True)
    balance = (examples.groupby(["split", "label_name"]).size().rename("count").reset_index())
    balance.to_csv(PLOTS_DIR / "class_balance.csv", index=False)
    table = balance.pivot(index="split", columns="label_name", values="count").reindex(
        index=list(SPLITS), columns=names).fillna(0)
    ax = table.plot(kind="barh", figsize=(7, 4), title="Class balance per split")
    ax.set_xlabel("sentences")
    ax.set_ylabel("split")
    plt.tight_layout()
    plt.savefig(PLOTS_DIR / "class_balance.png", dpi=100)
    plt.close()
    train = examples[examples["split"] == "train"]
    # Sentences per 5-character length bin and class, one column per class: DVC's line template draws
    # numeric x against numeric y (a class name on an axis of its own leaves the plot empty).
    bins = (train["length"] // LENGTH_BIN * LENGTH_BIN).rename("length")
    (pd.crosstab(bins, train["label_name"]).reindex(columns=names, fill_value=0)
     .reindex(range(0, int(bins.max()) + 1, LENGTH_BIN), fill_value=0)
     .rename_axis(index="length", columns=None).to_csv(PLOTS_DIR / "text_length.csv"))
    ax = train.boxplot(column="length", by="label_name", figsize=(7, 4))
    ax.set_title("Text length per label (train)")
    ax.set_xlabel("class")
    ax.set_ylabel("characters")
    plt.suptitle("")
    plt.tight_layout()
    plt.savefig(PLOTS_DIR / "text_length.png", dpi=100)
    plt.close()


def main() -> None:
    params = load_params().preprocess
    names = list(params.label_names)
    examples = to_examples(read_rows(RAW_FILE), params)
    check_usable(examples, names, RAW_FILE)  # before anything is written
    leaks = leakage(examples)
    PROCESSED_DIR.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        part = examples[examples["split"] == split].drop(columns="split")
        part.to_csv(split_path(split), sep="\t", index=False)
    leaks.to_csv(PROCESSED_DIR / "leakage.tsv", sep="\t", index=False)
    write_json(METRICS_FILE, summary(examples, leaks, names))
    plot(examples, names)
    sizes = ", ".join(f"{s} {int((examples['split'] == s).sum())}" for s in SPLITS)
    print(f"preprocess: {sizes}; {len(leaks)} text(s) shared between splits", file=sys.stderr)


if __name__ == "__main__":
    main()
