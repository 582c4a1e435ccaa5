"""error_analysis: exactly the mispredicted ids, agreement levels from votes, rates on a known case."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ja_sentiment.data import write_json
from ja_sentiment.error_tables import agreement_level, bucket_labels
from ja_sentiment.plotting import japanese_font, missing_glyphs
from stages import error_analysis, label_issues

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
    params["error_analysis"].update(splits=["train", "test"], length_bins=[10, 20, 40], examples=2,
                                    attributions=0)  # no model here: attributions run in tests/test_e2e.py
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
    label_issues.main()  # the stage before finetune: its ranking is what error_analysis reads
    return tmp_path


def section_ids(report: str, heading: str) -> list[str]:
    """First-column cells of the table under the `## heading` line."""
    body = report.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [line.split(" | ")[0].lstrip("| ") for line in body.strip().splitlines()[2:]]


def test_agreement_levels_and_buckets() -> None:
    levels = {"[0, 0, 3]": "unanimous", "[3, 0, 0]": "unanimous", "[0, 2, 1]": "2-1", "[2, 0, 1]": "2-1",
              "[1, 1, 1]": "three-way split"}
    assert {v: agreement_level(v) for v in levels} == levels
    assert bucket_labels([10, 20, 40]) == ["≤10", "11–20", "21–40", ">40"]
    with pytest.raises(SystemExit, match="strictly increasing"):
        bucket_labels([20, 10])


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
    keys = ("examples", "errors", "error_rate", "error_rate_by_agreement")
    assert {k: metrics["train"][k] for k in keys} == {
        "examples": 6, "errors": 3, "error_rate": 0.5, "error_rate_by_agreement": {
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


# A corpus where the answers are known. Train: template sentences whose wording gives the label,
# plus one positive sentence deliberately labelled negative (FLIPPED). Test: every error contains
# 予約 (PLANTED, in no correct row); ゆっくり (EVEN) is in half of the errors and half of the correct
# rows; one error (DUPLICATE) repeats a training sentence word for word, whose training label is
# the label the model predicted for it.
ITEMS = ["部屋", "朝食", "風呂", "接客", "景色", "夕食", "ベッド", "ロビー"]
POSITIVE = ["最高", "快適", "素敵", "清潔"]
NEGATIVE = ["最悪", "不快", "残念", "不潔"]
FLIPPED = "部屋が最高でした。"
PLANTED, EVEN = "予約", "ゆっくり"
DUPLICATE = "予約した景色を見ました。"


def known_corpus() -> dict[str, list[tuple]]:
    """Rows (id, text, gold, votes, pred) per split."""
    votes = {"negative": [3, 0, 0], "neutral": [0, 3, 0], "positive": [0, 0, 3]}
    train = []
    for i, item in enumerate(ITEMS):
        train += [(f"{item}が{a}でした。", "positive") for a in POSITIVE]
        train += [(f"{item}が{a}でした。", "negative") for a in NEGATIVE]
        train += [(f"{item}を見ました。", "neutral"), (f"{item}を使いました。", "neutral"),
                  (f"{item}について書きます。", "neutral"), (f"{item}は{i + 2}階です。", "neutral")]
    train = [(t, "negative" if t == FLIPPED else g) for t, g in train] + [(DUPLICATE, "positive")]
    rows = {"train": [(f"tr{i:03d}", t, g, votes[g], g) for i, (t, g) in enumerate(train)],
            "dev": [("dv001", "部屋が快適でした。", "positive", votes["positive"], "positive")]}
    test = [(DUPLICATE, "neutral", "positive")]  # wrong: predicted as its training twin is labelled
    test += [(f"{PLANTED}した{item}が{'とても' if k % 2 else EVEN}{a}でした。", "positive", "negative")
             for k, (item, a) in enumerate(zip(ITEMS, POSITIVE * 2, strict=True))]  # 8 more errors
    for k, item in enumerate(ITEMS * 3):  # 24 correct rows, half with EVEN (as 4 of the 9 errors)
        word = EVEN if k % 2 == 0 else "とても"
        test.append((f"{item}が{word}{POSITIVE[k % 4]}だった。", "positive", "positive"))
    rows["test"] = [(f"te{i:03d}", t, g, votes[g], p) for i, (t, g, p) in enumerate(test)]
    return rows


@pytest.fixture
def known(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["error_analysis"].update(splits=["train", "test"], min_word_count=3, attributions=0)
    params["label_issues"]["folds"] = 4
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True))
    monkeypatch.chdir(tmp_path)
    Path("data/processed").mkdir(parents=True)
    Path("predictions/finetuned").mkdir(parents=True)
    for split, rows in known_corpus().items():
        pd.DataFrame({"id": [r[0] for r in rows], "text": [r[1] for r in rows],
                      "label": [NAMES.index(r[2]) for r in rows], "label_name": [r[2] for r in rows],
                      "agreement": 1.0, "votes": [json.dumps(r[3]) for r in rows],
                      "length": [len(r[1]) for r in rows]}).to_csv(f"data/processed/{split}.tsv", sep="\t",
                                                                  index=False)
        preds = pd.DataFrame({"id": [r[0] for r in rows], "gold": [r[2] for r in rows],
                              "pred": [r[4] for r in rows]})
        preds[[f"p_{n}" for n in NAMES]] = [[0.8 if n == r[4] else 0.1 for n in NAMES] for r in rows]
        preds.to_csv(f"predictions/finetuned/{split}.csv", index=False)
    write_json(Path("predictions/finetuned/meta.json"), {"model": "models/finetuned"})
    label_issues.main()
    return tmp_path


def test_a_word_planted_in_every_error_is_found_and_an_evenly_spread_one_is_not(known: Path) -> None:
    error_analysis.main()
    words = pd.read_csv("reports/error_words.csv").query("split == 'test'").set_index(["analysis", "word"])
    planted = words.loc[("all", PLANTED)]
    assert (planted["sentences"], planted["errors"], planted["rest_rate"]) == (9, 9, 0.0)
    assert planted["significant"] and planted["q"] < 0.05
    even = words.loc[("all", EVEN)]
    assert (even["sentences"], even["errors"]) == (16, 4)
    assert not even["significant"] and even["q"] > 0.5
    assert words.loc[("positive→negative", PLANTED)]["significant"]  # and in the pair it marks
    significant = set(words.loc["all"].query("significant").index)
    assert PLANTED in significant and EVEN not in significant
    # The plot shows the planted word, drawn in a font that has its glyphs.
    drawn = pd.read_csv("plots/errors/words.csv")
    assert f"test: {PLANTED}" in set(drawn["group"])


def test_a_duplicated_sentence_with_another_label_is_the_nearest_neighbour_and_counted(known: Path) -> None:
    error_analysis.main()
    near = pd.read_csv("reports/error_neighbours.csv")
    first = near[(near["id"] == "te000") & (near["rank"] == 1)].iloc[0]
    assert (first["neighbour_text"], first["neighbour_gold"]) == (DUPLICATE, "positive")
    assert first["similarity"] == 1.0
    assert len(near) == 9 * 5  # 9 test errors, 5 neighbours each
    metrics = json.loads(Path("metrics/error_analysis.json").read_text())
    assert metrics["test"]["errors_with_near_duplicate_as_predicted"] == 1
    report = Path("reports/error_analysis.md").read_text()
    assert "1 test errors have a near-identical training sentence" in report


def test_a_flipped_training_label_ranks_among_the_top_label_issue_candidates(known: Path) -> None:
    error_analysis.main()
    ranking = pd.read_csv("reports/label_issues.csv", keep_default_na=False)
    assert list(ranking["rank"]) == list(range(1, len(ranking) + 1))
    flipped = ranking[ranking["text"] == FLIPPED].iloc[0]
    assert flipped["rank"] <= 3 and flipped["candidate"] and flipped["confident_other"] == "positive"
    assert flipped["gold"] == "negative" and flipped["majority_status"] == "gold = majority"
    assert ranking["self_confidence"].is_monotonic_increasing


def test_findings_come_first_and_possibilities_are_worded_and_grounded_as_such(known: Path) -> None:
    error_analysis.main()
    report = Path("reports/error_analysis.md").read_text()
    sections = [line for line in report.splitlines() if line.startswith("## ")]
    assert sections[:2] == ["## Findings", "## Possible causes"]
    findings = re.findall(r"^- \*\*(F\d+)\*\* \((\w+)\)\. (.*)$", report, flags=re.M)
    possible = re.findall(r"^- \*\*P\d+\*\* possibility: (.*) \(rests on ([F\d, ]+)\)$", report, flags=re.M)
    assert findings and possible
    ids = {f[0] for f in findings}
    planted = next(text for _, split, text in findings if split == "test" and f"「{PLANTED}」" in text)
    assert "over-represented among the errors" in planted
    for text, refs in possible:
        assert re.search(r"\b(may|might|could)\b", text), text
        assert set(refs.split(", ")) <= ids
    for _, _, text in findings:  # no finding uses the possibility wording
        assert not re.search(r"\b(may|might|could)\b", text), text


def test_reports_in_japanese(known: Path) -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["report"] = {"language": "ja"}
    Path("params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True))
    error_analysis.main()
    report = Path("reports/error_analysis.md").read_text()
    sections = [line for line in report.splitlines() if line.startswith("## ")]
    assert sections[:2] == ["## 事実 (Findings)", "## 考えられる原因 (Possible causes)"]
    possible = re.findall(r"^- \*\*P\d+\*\* 可能性: (.*) \(根拠: ([F\d, ]+)\)$", report, flags=re.M)
    assert possible and all("可能性" in text for text, _ in possible)
    assert report.startswith("# 誤り分析: fine-tuned モデル")


def test_plots_use_a_japanese_font_with_the_glyphs_of_the_words_drawn(known: Path) -> None:
    from matplotlib import font_manager, rcParams

    error_analysis.main()
    fonts = japanese_font()
    assert Path(fonts[0]).name == "ipaexg.ttf" and rcParams["font.family"][0] == "IPAexGothic"
    assert Path(font_manager.findfont("IPAexGothic", fallback_to_default=False)).name == "ipaexg.ttf"
    drawn = pd.read_csv("plots/errors/words.csv")["group"].tolist()
    drawn += pd.read_csv("plots/errors/by_length.csv")["group"].tolist()
    assert any(PLANTED in g for g in drawn)
    assert missing_glyphs(fonts, drawn) == set()
    japanese = [w for w in pd.read_csv("plots/errors/words.csv")["word"]]
    assert missing_glyphs(fonts[:1], japanese) == set()  # IPAexGothic alone draws the words
    assert PLANTED[0] in missing_glyphs(fonts[1:], japanese)  # matplotlib's default font would not
