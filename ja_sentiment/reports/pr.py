"""The pull-request report (`<out>/report.md`), in the order a reviewer reads a PR comment: one
headline table (per model: test accuracy and macro-F1 of base and workspace, the paired difference
workspace minus base on the same test rows with its 95% paired-bootstrap interval, the exact McNemar p
and a verdict), then every image plot of both revisions side by side, then the params and metrics
diffs, folded. ja_sentiment/tools/pr_report.py gathers the inputs (git, DVC) and writes the file.
"""

from __future__ import annotations

from pathlib import Path

from ja_sentiment.reports.markdown import paired_rows
from ja_sentiment.stats import CONFIDENCE, compare_rows


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


def markdown(base: str, top: list[str], rows: list[str], params: str, metrics: str) -> str:
    """report.md: the headline (`top`), the image plots' table `rows`, then the params and metrics
    diffs from DVC (markdown), folded."""
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
    return "\n".join(lines)
