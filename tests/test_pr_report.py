"""The pull-request report's headline: two revisions paired row by row, in a real git repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

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
        pr_report.per_row_predictions("HEAD")


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
    base, work = pr_report.per_row_predictions("HEAD")
    assert sorted(base) == ["baseline_plain", "finetuned", "tfidf"]
    lines = pr_report.headline("HEAD", base, work, NAMES, resamples=1000, seed=0)
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
    assert "same 200 test rows" in text


def test_identical_revisions_are_not_distinguishable(repo: Path):
    write("finetuned", rows(150))
    git("add", "-A")
    git("commit", "-qm", "base run")
    base, work = pr_report.per_row_predictions("HEAD")
    [row] = [line for line in pr_report.headline("HEAD", base, work, NAMES, 1000, 0) if "macro-F1" in line]
    assert "+0.0000 [+0.0000, +0.0000] | – | " + UNCLEAR in row  # McNemar: on the accuracy row
