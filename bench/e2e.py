"""End to end: `make smoke` in a fresh clone of HEAD, a no-op `dvc repro`, then fp32 vs bf16 on the
model that smoke run fine-tuned."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.inference import agreement
from bench.timing import Clock, log
from ja_sentiment.data import FINETUNED_DIR, read_split
from ja_sentiment.inference import classify
from ja_sentiment.models import load_text_classifier
from ja_sentiment.params import EvaluateParams
from ja_sentiment.provenance import max_length_of, read_provenance


def bench_e2e(shared_pn: Path) -> dict:
    """`make smoke` (tiny models built, then `dvc exp run` of every stage) in a fresh clone of
    HEAD, then a no-op `dvc repro` there; and, on the model that smoke run trained, fp32 against
    bf16 inference on the test split (the precision question on a trained model's logits)."""
    venv = Path(sys.executable).parent.parent
    # `-o`: the clone's requirements files are newer than the venv's stamp; never reinstall.
    make = ["make", "-o", str(venv / "bin" / ".installed"), f"VENV={venv}", f"SHARED_PN={shared_pn}"]
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(Path(__file__).resolve().parent.parent), str(clone)],
                       check=True)
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, check=True,
                              capture_output=True, text=True).stdout.strip()
        log(f"end to end: make smoke in a clone of {head}")
        timed = {}
        for name, cmd in (("smoke", [*make, "smoke"]), ("noop", ["dvc", "repro"])):
            with Clock() as c:
                proc = subprocess.run(cmd, cwd=clone, env=env, capture_output=True, text=True)
            if proc.returncode:
                raise SystemExit(f"bench: {' '.join(cmd)} failed in the clone:\n{proc.stderr[-3000:]}")
            timed[name] = (c.wall, proc.stdout + proc.stderr)
            log(f"end to end: {name} {c.wall:.1f}s")
        out = {"commit": head, "smoke_command": "make smoke", "smoke_repro_s": round(timed["smoke"][0], 1),
               "smoke_stages_run": timed["smoke"][1].count("Running stage"),
               "noop_repro_s": round(timed["noop"][0], 2),
               "noop_stages_run": timed["noop"][1].count("Running stage")}
        out["trained_model_precision"] = precision_agreement(clone)
    return out


def precision_agreement(clone: Path) -> dict:
    """fp32 vs bf16 autocast `classify` of the test split with the smoke run's fine-tuned model."""
    with contextlib.chdir(clone):  # the stages' paths are relative to the project root
        frame = read_split("test")
        max_length = max_length_of(read_provenance())
        pipe = load_text_classifier(str(FINETUNED_DIR), "main", max_length)
    names = [pipe.model.config.id2label[i] for i in range(pipe.model.config.num_labels)]
    gold = frame["label_name"].map(names.index).to_numpy()
    cfg = EvaluateParams()  # evaluate's batching
    probs = {p: classify(pipe, frame["text"].tolist(), cfg.batch_size, max_length, progress=False,
                                max_tokens=cfg.batch_tokens, bf16=p == "bf16")
             for p in ("fp32", "bf16")}
    return {"model": "smoke run's models/finetuned (tiny BERT, 3 epochs)", "texts": len(frame),
            **agreement(probs["fp32"], probs["bf16"]),
            **{f"accuracy_{p}": round(float((pr.argmax(1) == gold).mean()), 4) for p, pr in probs.items()}}
