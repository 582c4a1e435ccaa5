"""preprocess: every bad row fails with its line number and nothing written; harmless variants pass."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ja_sentiment.corpus import BadInput
from ja_sentiment.data import read_split
from stages import preprocess

ROOT = Path(__file__).resolve().parent.parent
ROWS = [
    ("a1", "1", "また利用したいです。", '{"1": 3}', "train"),
    ("a2", "0", "出張で利用しました。", '{"0": 2, "1": 1}', "train"),
    ("a3", "-1", "部屋が狭かった。", '{"-1": 3}', "train"),
    ("a4", "1", "駅から近くて便利でした。", '{"0": 1, "1": 2}', "train"),
    ("a5", "0", "朝食は普通でした。", '{"-1": 1, "0": 1, "1": 1}', "dev"),
    ("a6", "-1", "接客が最悪でした。", '{"-1": 3}', "dev"),
    ("a7", "1", "景色が最高でした。", '{"1": 3}', "test"),
    ("a8", "0", "部屋が狭かった。", '{"0": 2, "-1": 1}', "test"),
    ("b1", "1", "とても快適でした。", '{"1": 3}', "dev"),
    ("b2", "-1", "二度と泊まりません。", '{"-1": 3}', "test"),
]  # every split holds every class
OUTPUTS = ["data/processed", "metrics/data.json", "plots/data"]


def tsv(rows) -> bytes:
    return "".join("\t".join(r) + "\n" for r in rows).encode()


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "data" / "raw").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(workdir: Path, content: bytes) -> None:
    (workdir / "data" / "raw" / "pn.tsv").write_bytes(content)
    preprocess.main()


def test_clean_file(workdir):
    run(workdir, tsv(ROWS))
    train = read_split("train")
    assert list(train["id"]) == ["a1", "a2", "a3", "a4"]
    assert list(train["label"]) == [2, 1, 0, 2]
    assert list(train["label_name"]) == ["positive", "neutral", "negative", "positive"]
    assert list(train["agreement"]) == [1.0, 0.6667, 1.0, 0.6667]
    dev = read_split("dev")
    assert dev["agreement"].tolist() == [0.3333, 1.0, 1.0]
    summary = json.loads(Path("metrics/data.json").read_text())
    assert summary["train"] == {"rows": 4, "negative": 1, "neutral": 1, "positive": 2,
                                "mean_length": pytest.approx(10.0), "unanimous": 2}
    assert summary["leakage_texts"] == 1  # 部屋が狭かった。 is in train and test
    leaks = pd.read_csv("data/processed/leakage.tsv", sep="\t")
    assert leaks.to_dict("records") == [{"text": "部屋が狭かった。", "splits": "test,train"}]
    for png in ("class_balance.png", "text_length.png"):
        assert Path("plots/data", png).read_bytes()[:4] == b"\x89PNG"
    balance = pd.read_csv("plots/data/class_balance.csv")
    assert balance["count"].sum() == len(ROWS)


def replace(index: int, field: int, value: str):
    rows = [list(r) for r in ROWS]
    rows[index][field] = value
    return tsv(rows)


BAD = {
    "wrong field count": (tsv(ROWS[:3]) + b"a9\t1\tshort\n" + tsv(ROWS[3:]), 4,
                          "5 tab-separated fields, got 3"),
    "tab inside text": (replace(2, 2, "部屋が\t狭かった。"), 3, "got 6"),
    "unknown label": (replace(1, 1, "2"), 2, "label not in"),
    "empty text": (replace(4, 2, "  "), 5, "empty text"),
    "invalid judges json": (replace(0, 3, '{"1": 3'), 1, "judges"),
    "judges not counts": (replace(0, 3, '{"1": "three"}'), 1, "judges"),
    "judges unknown label": (replace(0, 3, '{"5": 3}'), 1, "judges"),
    "duplicate id": (replace(6, 0, "a2"), 7, "uniqueness"),
    "unknown split": (replace(3, 4, "validation"), 4, "usage not in"),
    "header row": (b"id\tlabel\ttext\tjudges\tusage\n" + tsv(ROWS), 1, "label not in"),
    "non-utf8 bytes": (tsv(ROWS[:5]) + "a9\t1\tホテル\t{\"1\": 3}\ttrain\n".encode("shift_jis")
                       + tsv(ROWS[5:]), 6, "not valid UTF-8"),
    "blank line inside": (tsv(ROWS[:2]) + b"\n" + tsv(ROWS[2:]), 3, "got 1"),
}


def rejected(workdir: Path, content: bytes) -> str:
    """preprocess's message for `content`, after checking that it failed and wrote nothing."""
    with pytest.raises(BadInput) as err:
        run(workdir, content)
    for out in OUTPUTS:
        assert not Path(out).exists(), out
    return str(err.value)


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_rows_fail_with_line_number_and_no_outputs(workdir, case):
    content, line, message = BAD[case]
    text = rejected(workdir, content)
    assert f"pn.tsv:{line}:" in text, text
    assert message in text, text


def test_empty_file(workdir):
    with pytest.raises(BadInput, match="holds no rows"):
        run(workdir, b"")
    assert not Path("data/processed").exists()


def test_every_bad_line_is_listed(workdir):
    rows = [list(r) for r in ROWS]
    rows[1][1] = "x"
    rows[5][4] = "valid"
    with pytest.raises(BadInput) as err:
        run(workdir, tsv(rows))
    assert "2 bad row(s)" in str(err.value)
    assert "pn.tsv:2:" in str(err.value) and "pn.tsv:6:" in str(err.value)


@pytest.mark.parametrize("variant", ["bom", "crlf", "trailing blank line", "no final newline"])
def test_harmless_variants_give_the_same_result(workdir, variant):
    run(workdir, tsv(ROWS))
    clean = {s: read_split(s) for s in ("train", "dev", "test")}
    clean_summary = Path("metrics/data.json").read_text()
    content = tsv(ROWS)
    content = {"bom": b"\xef\xbb\xbf" + content, "crlf": content.replace(b"\n", b"\r\n"),
               "trailing blank line": content + b"\n", "no final newline": content[:-1]}[variant]
    shutil.rmtree("data/processed")
    run(workdir, content)
    for split, frame in clean.items():
        pd.testing.assert_frame_equal(read_split(split), frame)
    assert Path("metrics/data.json").read_text() == clean_summary


def use_stratified_split() -> None:
    params = Path("params.yaml")
    params.write_text(params.read_text().replace("split: corpus", "split: stratified"))


def test_stratified_resplit_is_seeded_and_stratified(workdir):
    rows = [(f"s{i}", lab, f"文{i}です。", json.dumps({lab: 3}), "train")
            for i, lab in enumerate(["1", "0", "-1"] * 20)]
    use_stratified_split()
    run(workdir, tsv(rows))
    first = {s: read_split(s) for s in ("train", "dev", "test")}
    assert [len(first[s]) for s in ("train", "dev", "test")] == [42, 12, 6]
    assert first["test"]["label"].value_counts().tolist() == [2, 2, 2]
    shutil.rmtree("data/processed")
    run(workdir, tsv(rows))
    for split, frame in first.items():
        pd.testing.assert_frame_equal(read_split(split), frame)


def with_usage(changes: dict[str, str], rows=ROWS) -> bytes:
    """ROWS with the split (usage) of some ids changed."""
    return tsv([(*r[:4], changes.get(r[0], r[4])) for r in rows])


# Files whose every row is valid but which cannot give the study meaningful numbers.
UNUSABLE = {
    "a split with no rows": (with_usage({"a5": "train", "a6": "train", "b1": "train"}),
                             "dev has no rows", "dev: negative 0, neutral 0, positive 0"),
    "a class missing from test": (with_usage({"b2": "dev"}), "test has no negative rows",
                                  "test: negative 0, neutral 1, positive 1"),
    "two classes missing from train": (with_usage({"a1": "dev", "a2": "dev", "a4": "dev"}),
                                       "train has no neutral and no positive rows",
                                       "train: negative 1, neutral 0, positive 0"),
    "one class only": (tsv([(f"c{i}", "1", f"良い{i}。", '{"1": 3}', s)
                            for i, s in enumerate(["train", "dev", "test"] * 2)]),
                       "train has no negative and no neutral rows; dev has no negative and no neutral rows",
                       "test: negative 0, neutral 0, positive 2"),
}


@pytest.mark.parametrize("case", sorted(UNUSABLE))
def test_unusable_files_fail_naming_split_and_counts_with_no_outputs(workdir, case):
    content, problem, counts = UNUSABLE[case]
    text = rejected(workdir, content)
    assert "cannot give meaningful numbers" in text and problem in text and counts in text, text
    assert "Nothing was written" in text


def test_stratified_split_of_a_too_small_class_fails_cleanly(workdir):
    rows = [(f"s{i}", lab, f"文{i}です。", json.dumps({lab: 3}), "train")
            for i, lab in enumerate(["1", "0"] * 20 + ["-1"])]  # one negative row: no split can share it
    use_stratified_split()
    text = rejected(workdir, tsv(rows))
    assert "no stratified split" in text and "negative 1, neutral 20, positive 20" in text, text
