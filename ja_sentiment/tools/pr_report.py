"""Not a pipeline stage: the pull-request report of the workspace against a base revision.

    python -m ja_sentiment.tools.pr_report --base main --out build/report     (or: make report BASE=main)

Writes `<out>/report.md`: params diff, metrics diff (both from DVC, as markdown), and every image
plot (confusion matrices, learning curves, data plots) of the base and the workspace side by side,
as exported by `dvc plots diff`; the interactive plots go to `<out>/plots/index.html`. CI posts
report.md as a pull-request comment (.github/workflows/pr-report.yml).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def dvc(*args: str) -> str:
    proc = subprocess.run(["dvc", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"pr_report: `dvc {' '.join(args)}` failed:\n{proc.stderr.strip()}")
    return proc.stdout


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
    out.mkdir(parents=True, exist_ok=True)
    params = dvc("params", "diff", base, "--md").strip() or "No params changed."
    metrics = dvc("metrics", "diff", base, "--md").strip() or "No metrics changed."
    dvc("plots", "diff", base, "-o", str(out / "plots"))  # interactive HTML for the vega plots
    plots = json.loads(dvc("plots", "diff", base, "--json", "-o", str((out / "images").resolve())))
    rows = image_rows(plots, base, out)
    lines = [f"# Pipeline report: `{base}` → workspace", "", "## Params", "", params, "",
             "## Metrics", "", metrics, "", "## Plots", ""]
    if rows:
        lines += [f"| plot | {base} | workspace |", "|---|---|---|", *rows, ""]
    else:
        lines += ["No image plots found in either revision.", ""]
    lines += ["Interactive plots (confusion matrices, learning curves): `plots/index.html`.", ""]
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
