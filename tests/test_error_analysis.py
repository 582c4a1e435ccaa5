"""error_analysis: exactly the mispredicted ids, agreement levels from votes, rates on a known case."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ja_sentiment.data import write_json
from stages import error_analysis

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["negative", "neutral", "positive"]
# id, text, gold, votes, pred, (p_negative, p_neutral, p_positive)
ROWS = {
    "train": [
        ("t1", "あ" * 5, "positive", [0, 0, 3], "positive", (0.1, 0.1, 0.8)),
        ("t2", "い" * 10, "positive", [0, 1, 2], "neutral", (0.1, 0.6, 0.3)),
        ("t3", "う" * 11, "negative", [3, 0, 0], "positive", (0.2, 0.1, 0.7)),
        ("t4", "え" * 20, "neutral", [1, 1, 1], "neutral", (0.2, 0.5, 0.3)),
        ("t5", "A|B" + "お" * 18, "neutral", [0, 2, 1], "negative", (0.9, 0.05, 0.05)),
        ("t6", "か" * 41, "negative", [2, 1, 0], "negative", (0.5, 0.3, 0.2)),
    ],
    "dev": [("d1", "き" * 4, "neutral", [0, 3, 0], "positive", (0.1, 0.2, 0.7))],
    "test": [
        ("s1", "く" * 40, "positive", [0, 0, 3], "positive", (0.1, 0.1, 0.8)),
        ("s2", "け" * 3, "negative", [3, 0, 0], "neutral", (0.3, 0.4, 0.3)),
        ("s3", "こ" * 15, "neutral", [1, 1, 1], "neutral", (0.3, 0.4, 0.3)),
    ],
}
THREE = "three-way split"
ERRORS = {"train": {"t2", "t3", "t5"}, "test": {"s2"}}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["error_analysis"].update(splits=["train", "test"], length_bins=[10, 20, 40], examples=2)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True))
    monkeypatch.chdir(tmp_path)
    Path("data/processed").mkdir(parents=True)
    for split, rows in ROWS.items():
        pd.DataFrame({"id": [r[0] for r in rows], "text": [r[1] for r in rows],
                      "label": [NAMES.index(r[2]) for r in rows], "label_name": [r[2] for r in rows],
                      "agreement": [round(r[3][NAMES.index(r[2])] / 3, 4) for r in rows],
                      "votes": [json.dumps(r[3]) for r in rows], "length": [len(r[1]) for r in rows]}
                     ).to_csv(f"data/processed/{split}.tsv", sep="\t", index=False)
        preds = pd.DataFrame({"id": [r[0] for r in rows], "gold": [r[2] for r in rows],
                              "pred": [r[4] for r in rows]})
        preds[[f"p_{n}" for n in NAMES]] = [r[5] for r in rows]
        Path("predictions/finetuned").mkdir(parents=True, exist_ok=True)
        preds.to_csv(f"predictions/finetuned/{split}.csv", index=False)
    write_json(Path("predictions/finetuned/meta.json"), {
        "model": "models/finetuned", "base_model": "tohoku/bert", "revision": "main",
        "commit": "0123456789" * 4, "standin": True, "train_precision": "fp32", "precision": "fp32",
        "max_length": 32})
    return tmp_path


def section_ids(report: str, heading: str) -> list[str]:
    """First-column cells of the table under the `## heading` line."""
    body = report.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [line.split(" | ")[0].lstrip("| ") for line in body.strip().splitlines()[2:]]


def test_agreement_levels_and_buckets() -> None:
    levels = {"[0, 0, 3]": "unanimous", "[3, 0, 0]": "unanimous", "[0, 2, 1]": "2-1", "[2, 0, 1]": "2-1",
              "[1, 1, 1]": "three-way split"}
    assert {v: error_analysis.agreement_level(v) for v in levels} == levels
    assert error_analysis.bucket_labels([10, 20, 40]) == ["≤10", "11–20", "21–40", ">40"]
    with pytest.raises(SystemExit, match="strictly increasing"):
        error_analysis.bucket_labels([20, 10])


def test_errors_tables_and_metrics(workdir: Path) -> None:
    error_analysis.main()
    errors = pd.read_csv("reports/errors.csv", dtype={"id": str}, keep_default_na=False)
    assert list(errors.columns) == error_analysis.ERROR_COLUMNS
    for split in ("train", "test"):
        assert set(errors.loc[errors["split"] == split, "id"]) == ERRORS[split]
    assert "d1" not in set(errors["id"])  # dev is not among the configured splits
    row = errors.set_index("id").loc["t5"]
    assert (row["gold"], row["pred"], row["agreement_level"], row["length_bucket"]) == (
        "neutral", "negative", "2-1", "21–40")
    assert (row["confidence"], row["gold_prob"], row["text"]) == (0.9, 0.05, "A|B" + "お" * 18)
    assert errors.set_index("id")["length_bucket"].to_dict() == {"t2": "≤10", "t3": "11–20", "t5": "21–40",
                                                                 "s2": "≤10"}

    by_agreement = pd.read_csv("plots/errors/by_agreement.csv")
    got = {(r.split, r.agreement_level): (r.examples, r.errors) for r in by_agreement.itertuples()}
    assert got == {("train", "unanimous"): (2, 1), ("train", "2-1"): (3, 2), ("train", THREE): (1, 0),
                   ("test", "unanimous"): (2, 1), ("test", "2-1"): (0, 0), ("test", THREE): (1, 0)}
    assert by_agreement["error_rate"].tolist()[:3] == [0.5, 0.6667, 0.0]
    assert by_agreement["error_rate"].isna().tolist() == [False] * 4 + [True, False]  # no 2-1 in test
    by_length = pd.read_csv("plots/errors/by_length.csv", keep_default_na=False)
    got = {(r.split, r.length_bucket): (r.examples, r.errors) for r in by_length.itertuples()}
    assert got == {("train", "≤10"): (2, 1), ("train", "11–20"): (2, 1), ("train", "21–40"): (1, 1),
                   ("train", ">40"): (1, 0), ("test", "≤10"): (1, 1), ("test", "11–20"): (1, 0),
                   ("test", "21–40"): (1, 0), ("test", ">40"): (0, 0)}
    assert Path("plots/errors/by_agreement.png").stat().st_size > 0
    assert Path("plots/errors/by_length.png").stat().st_size > 0

    metrics = json.loads(Path("metrics/error_analysis.json").read_text())
    # The weights behind the numbers: the base model's resolved commit, and that it is a stand-in.
    assert metrics["model"] == {"model": "models/finetuned", "base_model": "tohoku/bert", "revision": "main",
                                "commit": "0123456789" * 4, "standin": True, "train_precision": "fp32"}
    assert metrics["train"] == {"examples": 6, "errors": 3, "error_rate": 0.5, "error_rate_by_agreement": {
        "unanimous": 0.5, "2-1": 0.6667, THREE: 0.0}}
    assert metrics["test"]["error_rate"] == pytest.approx(0.3333)
    assert metrics["test"]["error_rate_by_agreement"] == {"unanimous": 0.5, "2-1": None, THREE: 0.0}

    report = Path("reports/error_analysis.md").read_text()
    assert report.startswith("# Error analysis: fine-tuned model `models/finetuned`")
    assert "revision `main`, commit `012345678901` (stand-in)." in report
    assert "**Made with offline stand-ins, not the real models**" in report
    assert set(section_ids(report, "train: all 3 errors")) == ERRORS["train"]
    assert section_ids(report, "test: all 1 errors") == ["s2"]
    assert section_ids(report, "train: the 2 highest-confidence errors") == ["t5", "t3"]
    # Confusion pair rate = share of the gold class: 1 of the 2 gold-positive train examples.
    assert "| train | positive | neutral | 1 | 2 | 0.5000 |" in report
    t5 = next(line for line in report.splitlines() if line.startswith("| t5 |"))
    assert "A\\|B" in t5 and t5.replace("\\|", "").count("|") == 9  # 8 cells


def test_missing_predictions_fail(workdir: Path) -> None:
    shutil.rmtree("predictions/finetuned")
    with pytest.raises(SystemExit, match="meta.json"):
        error_analysis.main()
