"""Two checkouts' training paths timed as a pair on one machine: this checkout's `bench/steps.py`
run as a script with each checkout's own code (PYTHONPATH), in turns (before, after, before, after,
...), and the speed ratio after / before with a 95% interval.

    git worktree add ../before <commit>
    python -m bench.pair --before ../before --runs 4         (after: this checkout)

Both runs of a pair time the same batches (the same seed, model and data), so a pair's ratio is the
change's effect plus whatever the machine did differently meanwhile; the interval is a t interval
over the pairs' log ratios (scipy.stats), so that drift between pairs widens it instead of biasing
the ratio. The model is build/bench_model (`make bench` builds it) and the data this checkout's
data/processed/ (both runs read its train split, in its directory) unless given. Writes
bench/pair.json (--out).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

from ja_sentiment.data import split_path

STEPS_SCRIPT = Path(__file__).with_name("steps.py")


def ratio_interval(before: list[float], after: list[float], confidence: float = 0.95) -> dict:
    """The geometric mean of after_i / before_i over the pairs and its t interval (on the logs, with
    n - 1 degrees of freedom); no interval from one pair."""
    from scipy import stats

    logs = [math.log(a / b) for b, a in zip(before, after, strict=True)]
    n = len(logs)
    mean = sum(logs) / n
    out = {"pairs": n, "ratios": [round(math.exp(x), 4) for x in logs], "ratio": math.exp(mean),
           "low": None, "high": None}
    if n > 1:
        sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1))
        half = stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
        out["low"], out["high"] = math.exp(mean - half), math.exp(mean + half)
    return out


def time_checkout(checkout: Path, model_dir: Path, data_root: Path, steps: int, precision: str,
                  threads: int) -> dict:
    """One run of bench/steps.py with `checkout`'s ja_sentiment (python -P: not the working
    directory's), in `data_root` (whose data/processed/ it trains on)."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, "-P", str(STEPS_SCRIPT), str(model_dir),
                           "--steps", str(steps), "--precision", precision, "--threads", str(threads),
                           "--output-dir", str(checkout / "build/bench_trainer/pair")],
                          cwd=data_root, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"bench.pair: the run in {checkout} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the checkout to compare against")
    parser.add_argument("--after", type=Path, default=Path("."), help="the changed checkout (default: .)")
    parser.add_argument("--runs", type=int, default=4, help="runs of each (3 or more for an interval)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per run, after one warm-up")
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model-dir", type=Path, default=Path("build/bench_model"))
    parser.add_argument("--data", type=Path, default=Path("."),
                        help="the directory whose data/processed/ both runs train on (default: .)")
    parser.add_argument("--out", type=Path, default=Path("bench/pair.json"))
    args = parser.parse_args(argv)
    for side in (args.before, args.after):
        if not (side / "ja_sentiment" / "training.py").is_file():
            parser.error(f"{side} is not a checkout of this project (no ja_sentiment/training.py)")
    if not (args.model_dir / "config.json").is_file():
        parser.error(f"{args.model_dir} has no model: `make bench` builds it (or give --model-dir)")
    train = args.data / split_path("train")
    if not train.is_file():
        parser.error(f"{train} is absent: `make smoke` or `dvc repro preprocess` makes it")
    if args.runs < 1 or args.steps < 1:
        parser.error("--runs and --steps at least 1")
    model_dir, data_root = args.model_dir.resolve(), args.data.resolve()
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for i in range(args.runs):
        for name in ("before", "after"):
            side = getattr(args, name).resolve()
            res = time_checkout(side, model_dir, data_root, args.steps, args.precision, args.threads)
            runs[name].append(res)
            print(f"pair {i + 1}/{args.runs} {name}: {res['samples_per_s']:.2f} samples/s "
                  f"(CPU share {res['cpu_share']:.2f})", file=sys.stderr, flush=True)
    if runs["before"][0]["positions"] != runs["after"][0]["positions"]:
        raise SystemExit("bench.pair: the two checkouts trained on different batches; their speeds do not "
                         "compare")
    summary = ratio_interval([r["samples_per_s"] for r in runs["before"]],
                             [r["samples_per_s"] for r in runs["after"]])
    interval = (f"95% interval {summary['low']:.3f}-{summary['high']:.3f}" if summary["low"] is not None
                else "no interval from one pair")
    print(f"after / before: {summary['ratio']:.3f}x ({interval}; {summary['pairs']} pairs, ratios "
          f"{', '.join(map(str, summary['ratios']))})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"before": str(args.before), "after": str(args.after), "steps": args.steps,
                                    "precision": args.precision, **summary, "runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
