"""The whole study at real size on this machine: `dvc repro` with the default params on bert-base-shaped
stand-ins of both hub models, offline, in a fresh clone of HEAD, timed stage by stage.

    make fullsize            # python -m bench.fullsize --shared-pn ../shared/data/jrte/pn.tsv

The stand-ins have tohoku v3's architecture and vocabulary size (randomly initialised) and sit under
the default hub ids in a Hugging Face cache in the build directory (`ja_sentiment.tools.standins
--size base`), so every stage runs its real code at real cost: 5 epochs of fine-tuning, inference
over all 5553 sentences by both BERTs, the error analysis with its attributions. Only `data.url`
is overridden (the local copy of pn.tsv). The result goes into `bench/results.json` under
`full_size`: seconds per stage and in total, the fine-tuning's samples/s, and the notebook recipe's
training time for the same epochs estimated from its samples/s measured by `make bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bench.timing import log

RESULTS = Path("bench/results.json")
STAGE_LINE = re.compile(r"^Running stage '([^']+)'")


def timed_stages(cmd: list[str], cwd: Path, env: dict, log_file: Path) -> tuple[dict[str, float], float, int]:
    """Run `cmd` (a `dvc repro`), its output to `log_file`; seconds from each "Running stage" line to
    the next (the last to the end), the total, and the exit code."""
    starts: list[tuple[str, float]] = []
    started = time.perf_counter()
    with (
        open(log_file, "w", encoding="utf-8") as out,
        subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        ) as proc,
    ):
        for line in proc.stdout:
            out.write(line)
            match = STAGE_LINE.match(line)
            if match:
                starts.append((match[1], time.perf_counter()))
                log(f"full size: stage {match[1]} at {starts[-1][1] - started:.0f}s")
    ended = time.perf_counter()
    ends = [t for _, t in starts[1:]] + [ended]
    return (
        {name: round(end - t, 1) for (name, t), end in zip(starts, ends, strict=True)},
        round(ended - started, 1),
        proc.returncode,
    )


def notebook_estimate(results: dict, samples: int) -> dict | None:
    """The notebook recipe's training time for `samples`, from `make bench`'s measured samples/s."""
    training = results.get("training", {})
    per_s = training.get("notebook_padded", {}).get("per_s")
    if not per_s:
        return None
    return {
        "samples_per_s": per_s,
        "precision": training.get("notebook_padded", {}).get("precision", "fp32"),
        "train_s": round(samples / per_s, 1),
        "source": "bench/results.json training.notebook_padded.per_s",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared-pn", type=Path, default=Path("../shared/data/jrte/pn.tsv"))
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("build/fullsize"),
        help="the clone and the stand-ins' cache go here (replaced)",
    )
    parser.add_argument(
        "--size",
        default="base",
        choices=["base", "tiny"],
        help="stand-in size (tiny: only to try this command out)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not args.shared_pn.is_file():
        raise SystemExit(
            f"fullsize: {args.shared_pn} is missing (a local copy of pn.tsv; see ../shared/data/jrte)"
        )
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    root = Path(__file__).resolve().parent.parent
    clone = work / "project"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=clone, check=True, capture_output=True, text=True
    ).stdout.strip()
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": venv_bin + os.pathsep + os.environ["PATH"]}

    log(f"full size: building {args.size} stand-ins")
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ja_sentiment.tools.standins",
            "--data",
            str(args.shared_pn.resolve()),
            "--out",
            str(work / "standins"),
            "--size",
            args.size,
        ],
        cwd=clone,
        env=env,
        check=True,
    )
    build_s = round(time.perf_counter() - t0, 1)
    params_file = clone / "params.yaml"
    params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    params["data"]["url"] = str(args.shared_pn.resolve())  # the one override: no network here
    params_file.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")

    env |= {"HF_HOME": str(work / "standins" / "hf"), "HF_HUB_OFFLINE": "1"}
    log(
        f"full size: dvc repro in a clone of {head} (default params, {args.size} stand-ins under the hub ids)"
    )
    stages, total, code = timed_stages(["dvc", "repro"], clone, env, work / "repro.log")
    if code:
        raise SystemExit(f"fullsize: dvc repro failed (exit {code}); see {work / 'repro.log'}")

    live = json.loads((clone / "dvclive/metrics.json").read_text(encoding="utf-8"))
    evaluate = json.loads((clone / "metrics/evaluate.json").read_text(encoding="utf-8"))
    data = json.loads((clone / "metrics/data.json").read_text(encoding="utf-8"))
    samples = int(live["epochs_run"]) * int(data["train"]["rows"])
    finetuned = evaluate["models"]["finetuned"]
    results = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {}
    import torch

    results["full_size"] = {
        "commit": head,
        "command": "make fullsize",
        "stand_in_size": args.size,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "standins_build_s": build_s,
        "stages_s": stages,
        "repro_total_s": total,
        "repro_total_min": round(total / 60, 1),
        "epochs": params["train"]["epochs"],
        "epochs_run": live["epochs_run"],
        "train_precision": finetuned.get("train_precision"),
        "inference_precision": finetuned.get("precision"),
        "standin": finetuned.get("standin"),
        "finetune_train_s": live.get("train_runtime_s"),
        "finetune_samples_per_s": live.get("train_samples_per_second"),
        "train_samples": samples,
        "notebook_training_estimate": notebook_estimate(results, samples),
        "finetuned_test_accuracy": evaluate["finetuned"]["test"]["accuracy"],
    }
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"full size: dvc repro {total / 60:.1f} min; per stage {stages}; written to {args.out}")


if __name__ == "__main__":
    main()
