"""Not a pipeline stage: the pull-request report of the workspace against a base revision.

    python -m ja_sentiment.tools.pr_report --base main --out build/report     (or: make report BASE=main)

Writes `<out>/report.md`, in the order a reviewer reads a PR comment: one headline table (per model:
test accuracy and macro-F1 of base and workspace, the paired difference workspace minus base on the
same test rows with its 95% paired-bootstrap interval, the exact McNemar p and a verdict), then every
image plot of both revisions side by side (as exported by `dvc plots diff`), then the full params and
metrics diffs from DVC, folded. The pairing reads the per-row test predictions the evaluate stage keeps
in git (reports/test_predictions/<model>.csv), so no DVC remote is needed; the interactive plots go
to `<out>/plots/index.html`. CI posts report.md as a comment (.github/workflows/pr-report.yml).
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from ja_sentiment.markdown import paired_rows
from ja_sentiment.params import load_params
from ja_sentiment.stats import CONFIDENCE, compare_rows
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


def headline(base: str, base_rows: dict, work_rows: dict, names: list[str], resamples: int, seed: int
             ) -> list[str]:
    """Per model in both revisions: base and workspace scores, the paired difference and a verdict."""
    if not work_rows:
        return ["No per-row test predictions in the workspace (the evaluate stage has not run): no model "
                "to compare."]
    lines = [f"| model | metric | workspace | `{base}` | workspace − base [{CONFIDENCE:.0%} interval] | "
             "McNemar p | verdict |", "|---|---|---|---|---|---|---|"]
    notes, paired = [], {}
    for model in sorted(set(base_rows) | set(work_rows)):
        if model not in base_rows or model not in work_rows:
            notes.append(f"`{model}`: only in {'the workspace' if model in work_rows else base}.")
            continue
        # Sorted by id: the pairing, and so the bootstrap's resamples, never depend on the row order.
        old, new = (rows[model].set_index("id").sort_index() for rows in (base_rows, work_rows))
        if set(old.index) != set(new.index) or (old.loc[new.index, "gold"] != new["gold"]).any():
            notes.append(f"`{model}`: the test rows differ between the revisions (another split or data), "
                         "so they cannot be paired.")
            continue
        result = compare_rows(new, old, names, resamples, seed)
        paired[model] = result[0]["n"]
        lines += paired_rows(f"`{model}`", *result)
    if not paired:
        return [*notes, "", f"No model could be paired between the workspace and `{base}`: no paired "
                "comparison."]
    if notes:
        lines += ["", *notes]
    counts = sorted(set(paired.values()))
    rows = (f"the same {counts[0]} test rows" if len(counts) == 1 else
            "the same test rows (" + ", ".join(f"`{m}`: {n}" for m, n in paired.items()) + ")")
    return [*lines, "",
            f"Both revisions' predictions on {rows}: a paired bootstrap ({resamples} "
            f"resamples, seed {seed}) of workspace minus base; McNemar: exact test on the rows where exactly "
            "one revision is right. Verdict: better or worse only when the whole interval lies above or "
            "below 0; otherwise the data do not show a difference, and the verdict gives the range of "
            "differences (in points) they are compatible with."]


def image_rows(plots: dict, base: str, out: Path) -> list[str]:
    """Markdown table rows: one per image plot, base and workspace images side by side."""
    rows = []
    for name, entries in plots.get("data", {}).items():
        images = {rev: entry["url"] for entry in entries if entry.get("type") == "image"
                  for rev in entry.get("revisions", [])}
        if not images:
            continue
        cells = [f"![{rev}]({Path(images[rev]).relative_to(out.resolve()).as_posix()})"
                 if rev in images else "(absent)" for rev in (base, "workspace")]
        rows.append(f"| `{name}` | {cells[0]} | {cells[1]} |")
    return rows


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
    rows = image_rows(plots, base, out)
    lines = [f"# Pipeline report: `{base}` → workspace", "", "## Test scores, paired by row", "",
             *top, "", "## Plots", ""]
    if rows:
        lines += [f"| plot | {base} | workspace |", "|---|---|---|", *rows, ""]
    else:
        lines += ["No image plots found in either revision.", ""]
    lines += ["Interactive plots (confusion matrices, learning curves): `plots/index.html`.", "",
              "<details><summary>Params diff</summary>", "", params, "", "</details>", "",
              "<details><summary>Metrics diff (all keys, intervals included)</summary>", "", metrics, "",
              "</details>", ""]
    report = out / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
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
