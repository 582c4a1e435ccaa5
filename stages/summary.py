"""Stage `summary`: reports/summary.md answers the study's report items from the pipeline's outputs.

Model names, revisions and the commits they resolved to (a run on offline stand-ins says so at the
top); a side-by-side comparison with 95% intervals and ECE; the fine-tuned
model against every other model on the same test rows (paired differences with intervals, McNemar
p, verdicts); classification reports, confusion matrices and reliability diagrams; the learning
curve (plots/learning_curve.png, drawn from the DVCLive logs); the error-analysis headline
numbers. Facts only: every verdict follows a stated rule. In English or Japanese (params
`report.language`).

Outputs: reports/summary.md, plots/learning_curve.png (built by ja_sentiment/reports/summary.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ja_sentiment.data import read_json
from ja_sentiment.params import load_params
from ja_sentiment.plotting import japanese_font
from ja_sentiment.reports.summary import learning_curve, markdown, plot_curve
from ja_sentiment.reports.text import Text

SUMMARY_FILE = Path("reports/summary.md")
CURVE_FILE = Path("plots/learning_curve.png")
LIVE_DIR = Path("dvclive/plots/metrics")


def main() -> None:
    t = Text(load_params().report.language)
    japanese_font()
    metrics = read_json("metrics/evaluate.json")
    curve = learning_curve(LIVE_DIR)
    plot_curve(t, curve, CURVE_FILE)
    text = markdown(t, metrics, read_json("metrics/error_analysis.json"), curve)
    SUMMARY_FILE.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY_FILE.write_text(text, encoding="utf-8")
    print(f"summary: wrote {SUMMARY_FILE} and {CURVE_FILE}", file=sys.stderr)


if __name__ == "__main__":
    main()
