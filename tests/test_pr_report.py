"""The pull-request report's headline: two revisions paired row by row, in a real git repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from ja_sentiment.reports import pr
from ja_sentiment.stats import BETTER, UNCLEAR
from ja_sentiment.tools import pr_report

NAMES = ["negative", "neutral", "positive"]
N = 200
GOLD = [NAMES[i % 3] for i in range(N)]


def rows(right: int) -> pd.DataFrame:
    """Predictions that are right on the first `right` rows and wrong (the next class) after."""
    pred = [g if i < right else NAMES[(NAMES.index(g) + 1) % 3] for i, g in enumerate(GOLD)]
    return pd.DataFrame({"id": [f"t{i:03d}" for i in range(N)], "gold": GOLD, "pred": pred})


def write(model: str, frame: pd.DataFrame) -> None:
    folder = Path(pr_report.TEST_ROWS_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / f"{model}.csv", index=False)


def git(*args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], check=True,
                   capture_output=True)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    git("init", "-q")
    Path("README").write_text("x\n")
    git("add", "-A")
    git("commit", "-qm", "no results yet")
    return tmp_path


def test_base_without_per_row_predictions_fails_saying_what_to_do(repo: Path):
    write("finetuned", rows(150))
    with pytest.raises(pr_report.ReportError, match="HEAD has no reports/test_predictions/.*Run the pipe"):
        pr_report.per_row_predictions("HEAD", NAMES)


def test_headline_pairs_the_revisions_row_by_row(repo: Path):
    write("finetuned", rows(150))
    write("tfidf", rows(160))
    write("baseline_plain", rows(100))
    git("add", "-A")
    git("commit", "-qm", "base run")
    write("finetuned", rows(190))  # right on every row the base got right, and on 40 more
    write("baseline_plain", rows(100).assign(id=[f"x{i}" for i in range(N)]))  # another test set
    Path(pr_report.TEST_ROWS_DIR, "tfidf.csv").unlink()  # tfidf only in base...
    write("new_model", rows(120))  # ...new_model only in the workspace
    base, work = pr_report.per_row_predictions("HEAD", NAMES)
    assert sorted(base) == ["baseline_plain", "finetuned", "tfidf"]
    lines = pr.headline("HEAD", base, work, NAMES, resamples=1000, seed=0)
    text = "\n".join(lines)
    finetuned = [line for line in lines if line.startswith("| `finetuned` | accuracy")]
    assert len(finetuned) == 1, text
    cells = [c.strip() for c in finetuned[0].strip("|").split("|")]
    # base 150/200, workspace 190/200: +0.2000; the 40 rows only the workspace gets right give McNemar
    # p = 2 * 0.5**40; the whole interval lies above 0.
    assert cells[2:4] == ["0.9500", "0.7500"]  # workspace, base
    assert cells[4].startswith("+0.2000 [+0.") and cells[6] == BETTER
    assert float(cells[5]) == pytest.approx(2 * 0.5 ** 40, rel=0.01)
    assert "`tfidf`: only in HEAD." in text and "`new_model`: only in the workspace." in text
    assert "`baseline_plain`: the test rows differ between the revisions" in text
    assert "on the same 200 test rows" in text


def test_identical_revisions_are_not_distinguishable(repo: Path):
    write("finetuned", rows(150))
    git("add", "-A")
    git("commit", "-qm", "base run")
    base, work = pr_report.per_row_predictions("HEAD", NAMES)
    [row] = [line for line in pr.headline("HEAD", base, work, NAMES, 1000, 0) if "macro-F1" in line]
    assert "+0.0000 [+0.0000, +0.0000] | – | " + UNCLEAR in row  # McNemar: on the accuracy row
    assert "the data do not show a difference; they are compatible with differences from +0.0 to +0.0" in row
    assert "too small" not in "\n".join(pr.headline("HEAD", base, work, NAMES, 1000, 0))


def commit_base(frame: pd.DataFrame, model: str = "finetuned") -> None:
    write(model, frame)
    git("add", "-A")
    git("commit", "-qm", "base run")


def test_rows_in_another_order_pair_by_id(repo: Path):
    commit_base(rows(150))
    write("finetuned", rows(190).sample(frac=1, random_state=0))  # same rows, shuffled
    base, work = pr_report.per_row_predictions("HEAD", NAMES)
    shuffled = pr.headline("HEAD", base, work, NAMES, 1000, 0)
    write("finetuned", rows(190))
    base, work = pr_report.per_row_predictions("HEAD", NAMES)
    assert shuffled == pr.headline("HEAD", base, work, NAMES, 1000, 0)
    [row] = [line for line in shuffled if line.startswith("| `finetuned` | accuracy")]
    assert "| 0.9500 | 0.7500 | +0.2000 [" in row and "better" in row


def test_an_unknown_label_in_either_revision_stops_naming_file_and_label(repo: Path):
    commit_base(rows(150).assign(pred=lambda d: d["pred"].replace("neutral", "neu")))
    write("finetuned", rows(150))
    with pytest.raises(pr_report.ReportError,
                       match=r"HEAD:reports/test_predictions/finetuned.csv: pred label 'neu' is not one of"):
        pr_report.per_row_predictions("HEAD", NAMES)
    commit_base(rows(150))  # a good base, and a workspace whose gold labels are not the label names
    write("finetuned", rows(150).assign(gold=lambda d: d["gold"].replace("positive", "pos")))
    with pytest.raises(pr_report.ReportError, match=r"finetuned.csv \(workspace\): gold label 'pos'"):
        pr_report.per_row_predictions("HEAD", NAMES)


def test_duplicate_ids_stop_the_report(repo: Path):
    commit_base(rows(150))
    frame = rows(150)
    frame.loc[5, "id"] = frame.loc[4, "id"]
    write("finetuned", frame)
    with pytest.raises(pr_report.ReportError, match=r"finetuned.csv \(workspace\) lists test row id\(s\) "
                                                    r"\['t004'\] more than once"):
        pr_report.per_row_predictions("HEAD", NAMES)


def test_nothing_paired_says_so_instead_of_a_row_count(repo: Path):
    commit_base(rows(150))
    write("finetuned", rows(150).assign(id=[f"x{i}" for i in range(N)]))  # another test set
    base, work = pr_report.per_row_predictions("HEAD", NAMES)
    text = "\n".join(pr.headline("HEAD", base, work, NAMES, 1000, 0))
    assert "No model could be paired between the workspace and `HEAD`" in text
    assert "test rows:" not in text and "| `finetuned` |" not in text


def test_the_footer_counts_the_rows_actually_paired(repo: Path):
    commit_base(rows(150))
    write("tfidf", rows(150).head(120))  # tfidf: 120 rows in both revisions
    git("add", "-A")
    git("commit", "-qm", "tfidf on fewer rows")
    write("finetuned", rows(160))
    base, work = pr_report.per_row_predictions("HEAD", NAMES)
    text = "\n".join(pr.headline("HEAD", base, work, NAMES, 1000, 0))
    assert "the same test rows (`finetuned`: 200, `tfidf`: 120)" in text
