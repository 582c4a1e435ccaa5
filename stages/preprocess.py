"""Stage `preprocess`: validate every row of pn.tsv, map labels to ids, split, summarise.

A bad row fails the stage with its line number, and nothing is written. Outputs: the splits in
data/processed/, data summary metrics, class-balance and text-length plots (PNG + DVC data).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pandera.pandas as pa  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from stages.common import (  # noqa: E402
    CORPUS_LABELS,
    PROCESSED_DIR,
    RAW_FILE,
    SPLITS,
    PreprocessParams,
    load_params,
    split_path,
    write_json,
)

COLUMNS = ("id", "label", "text", "judges", "usage")
VOTE_KEYS = {str(v) for v in CORPUS_LABELS}
METRICS_FILE = Path("metrics/data.json")
PLOTS_DIR = Path("plots/data")


class BadInput(SystemExit):
    """pn.tsv does not hold what the pipeline needs; the message lists each bad line."""


def parse_votes(judges: str) -> dict[str, int] | None:
    """The judges JSON as {corpus label: votes}, or None when it is not a JSON object of counts."""
    try:
        votes = json.loads(judges)
    except ValueError:
        return None
    ok = (isinstance(votes, dict) and votes and set(votes) <= VOTE_KEYS
          and all(type(n) is int and n >= 0 for n in votes.values()) and sum(votes.values()) > 0)
    return votes if ok else None


SCHEMA = pa.DataFrameSchema(
    {
        "id": pa.Column(str, pa.Check.str_matches(r"^\S+$", error="empty id or id with spaces"),
                        unique=True),
        "label": pa.Column(str, pa.Check.isin([str(v) for v in CORPUS_LABELS],
                                              error="label not in {1, 0, -1}")),
        "text": pa.Column(str, pa.Check(lambda s: s.str.strip() != "", error="empty text")),
        "judges": pa.Column(str, pa.Check(lambda s: s.map(parse_votes).notna(),
                                          error="judges is not a JSON object of vote counts")),
        "usage": pa.Column(str, pa.Check.isin(list(SPLITS), error="usage not in {train, dev, test}")),
    },
    strict=True,
)


def read_rows(path: Path) -> pd.DataFrame:
    """All rows of pn.tsv indexed by line number; raises BadInput listing every bad line."""
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8-sig")  # a UTF-8 BOM is harmless
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise BadInput(f"{path}:{line}: not valid UTF-8 ({err.reason} at byte {err.start})") from None
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    problems: list[tuple[int, str]] = []
    rows, numbers = [], []
    for number, line in enumerate(lines, start=1):
        fields = line.removesuffix("\r").split("\t")
        if fields == [""] and number == len(lines):
            continue  # one trailing blank line
        if len(fields) != len(COLUMNS):
            problems.append((number, f"expected {len(COLUMNS)} tab-separated fields, got {len(fields)}"))
            continue
        rows.append(fields)
        numbers.append(number)
    if not rows and not problems:
        raise BadInput(f"{path}: the file holds no rows")
    frame = pd.DataFrame(rows, columns=list(COLUMNS), index=pd.Index(numbers, name="line"), dtype=str)
    try:
        SCHEMA.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        for case in err.failure_cases.itertuples():
            problems.append((int(case.index), f"{case.column}: {case.check} ({case.failure_case!r})"))
    if problems:
        shown = [f"  {path}:{n}: {msg}" for n, msg in sorted(problems)[:50]]
        more = f"\n  … and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise BadInput(f"preprocess: {len(problems)} bad row(s) in {path}; nothing was written\n"
                       + "\n".join(shown) + more)
    return frame


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
        rest, test = train_test_split(out.index, test_size=params.test_fraction,
                                      stratify=out["label"], random_state=params.seed)
        dev_share = params.dev_fraction / (1 - params.test_fraction)
        train, dev = train_test_split(rest, test_size=dev_share, stratify=out.loc[rest, "label"],
                                      random_state=params.seed)
        for name, idx in (("train", train), ("dev", dev), ("test", test)):
            out.loc[idx, "split"] = name
    return out


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
    plt.tight_layout()
    plt.savefig(PLOTS_DIR / "class_balance.png", dpi=100)
    plt.close()
    train = examples[examples["split"] == "train"]
    train[["label_name", "length"]].to_csv(PLOTS_DIR / "text_length.csv", index=False)
    ax = train.boxplot(column="length", by="label_name", figsize=(7, 4))
    ax.set_title("Text length per label (train)")
    ax.set_xlabel("")
    ax.set_ylabel("characters")
    plt.suptitle("")
    plt.tight_layout()
    plt.savefig(PLOTS_DIR / "text_length.png", dpi=100)
    plt.close()


def main() -> None:
    params = load_params().preprocess
    names = list(params.label_names)
    examples = to_examples(read_rows(RAW_FILE), params)
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
