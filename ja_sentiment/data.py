"""Paths of the pipeline's files and the processed splits: what the stages read and write."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

RAW_FILE = Path("data/raw/pn.tsv")
PROCESSED_DIR = Path("data/processed")
PREDICTIONS_DIR = Path("predictions")
FINETUNED_DIR = Path("models/finetuned")
LABEL_ISSUES_DIR = Path("data/label_issues")  # the `label_issues` stage's ranking of the train rows
LABEL_ISSUES_FILE = LABEL_ISSUES_DIR / "ranking.csv"
SPLITS = ("train", "dev", "test")
# Corpus label values, in the order of the class ids 0/1/2 (negative, neutral, positive).
CORPUS_LABELS = (-1, 0, 1)


def split_path(split: str) -> Path:
    return PROCESSED_DIR / f"{split}.tsv"


def read_split(split: str) -> pd.DataFrame:
    """One processed split: id, text, label (0/1/2), label_name, agreement, votes, length."""
    return pd.read_csv(split_path(split), sep="\t", dtype={"id": str, "text": str}, keep_default_na=False)


def read_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
