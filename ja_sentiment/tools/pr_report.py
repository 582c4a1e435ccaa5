"""Not a pipeline stage: the pull-request report of the workspace against a base revision.

    python -m ja_sentiment.tools.pr_report --base main --out build/report     (or: make report BASE=main)

Writes `<out>/report.md`, in the order a reviewer reads a PR comment: one headline table (per model:
test accuracy and macro-F1 of base and workspace, the paired difference workspace minus base on the
same test rows with its 95% paired-bootstrap interval, the exact McNemar p and a verdict), then every
image plot of both revisions side by side (as exported by `dvc plots diff`), then the full params and
metrics diffs from DVC, folded. The pairing reads the per-row test predictions the evaluate stage keeps
in git (reports/test_predictions/<model>.csv), so no DVC remote is needed; the interactive plots go
to `<out>/plots/index.html`. CI posts report.md as a comment (.github/workflows/pr-report.yml).
This module gathers the inputs (git, DVC); ja_sentiment/reports/pr.py writes the markdown.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from ja_sentiment.params import load_params
from ja_sentiment.reports.pr import headline, image_rows, markdown
from ja_sentiment.tools.dvc_cli import run_dvc

TEST_ROWS_DIR = "reports/test_predictions"  # written by the evaluate stage, git-tracked


def dvc(*args: str) -> str:
    return run_dvc("pr_report", *args)


class ReportError(SystemExit):
    """The two revisions cannot be compared as asked; the message says what to do."""


def checked(frame: pd.DataFrame, source: str, names: list[str]) -> pd.DataFrame:
    """The per-row predictions of one file, stopped with a message naming the file when they cannot be
    paired honestly: a missing column, a duplicate id, or a gold or predicted label that is not among
    the workspace's `preprocess.label_names` (such a label would count as wrong and could make a
    spurious difference)."""
    missing = [c for c in ("id", "gold", "pred") if c not in frame.columns]
    if missing:
        raise ReportError(f"pr_report: {source} has no column(s) {missing}; expected id, gold, pred")
    dup = frame.loc[frame["id"].duplicated(), "id"].unique().tolist()
    if dup:
        raise ReportError(f"pr_report: {source} lists test row id(s) {dup[:5]} more than once "
                          f"({len(dup)} in all); each row must appear once to be paired")
    for column in ("gold", "pred"):
        unknown = sorted(set(frame[column]) - set(names))
        if unknown:
            raise ReportError(f"pr_report: {source}: {column} label {unknown[0]!r} is not one of the "
                              f"workspace's preprocess.label_names {names} (unknown labels: {unknown}); "
                              "re-run that revision's evaluate stage, or compare against a revision with the "
                              "same label names")
    return frame



def git_file(rev: str, path: str) -> str | None:
    """A file's content at a git revision (None: not there)."""
    proc = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else None


def git_listing(rev: str, folder: str) -> list[str]:
    proc = subprocess.run(["git", "ls-tree", "--name-only", f"{rev}:{folder}"], capture_output=True,
                          text=True)
    return sorted(proc.stdout.split()) if proc.returncode == 0 else []


def per_row_predictions(base: str, names: list[str]
                        ) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Per model, the per-row test predictions (id, gold, pred) of the base revision and the workspace,
    each file `checked` against the label names."""
    def read(text: str, source: str) -> pd.DataFrame:
        return checked(pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False), source, names)

    folder = Path(TEST_ROWS_DIR)
    work = {p.stem: read(p.read_text(encoding="utf-8"), f"{p} (workspace)")
            for p in sorted(folder.glob("*.csv"))}
    base_rows = {Path(n).stem: read(git_file(base, f"{TEST_ROWS_DIR}/{n}") or "",
                                    f"{base}:{TEST_ROWS_DIR}/{n}")
                 for n in git_listing(base, TEST_ROWS_DIR) if n.endswith(".csv")}
    if work and not base_rows:
        raise ReportError(f"pr_report: {base} has no {TEST_ROWS_DIR}/ (per-row test predictions, written "
                          "by the evaluate stage and committed with the results), so the two revisions "
                          f"cannot be paired. Run the pipeline on {base} and commit its results, or compare "
                          "against a later revision that has them.")
    return base_rows, work


def build_report(base: str, out: Path) -> Path:
    params_now = load_params()
    names = list(params_now.preprocess.label_names)
    base_rows, work_rows = per_row_predictions(base, names)  # fails early, saying what to do
    out.mkdir(parents=True, exist_ok=True)
    top = headline(base, base_rows, work_rows, names,
                   params_now.evaluate.bootstrap_resamples, params_now.evaluate.bootstrap_seed)
    params = dvc("params", "diff", base, "--md").strip() or "No params changed."
    metrics = dvc("metrics", "diff", base, "--md").strip() or "No metrics changed."
    dvc("plots", "diff", base, "-o", str(out / "plots"))  # interactive HTML for the vega plots
    plots = json.loads(dvc("plots", "diff", base, "--json", "-o", str((out / "images").resolve())))
    report = out / "report.md"
    report.write_text(markdown(base, top, image_rows(plots, base, out), params, metrics), encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Markdown report of the workspace against a base revision.")
    parser.add_argument("--base", default="main", help="git revision to compare against (default: main)")
    parser.add_argument("--out", type=Path, default=Path("build/report"))
    args = parser.parse_args(argv)
    report = build_report(args.base, args.out)
    print(f"pr_report: wrote {report}", file=sys.stderr)


if __name__ == "__main__":
    main()
