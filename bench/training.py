"""Training benchmark: optimiser steps of the project's finetune path against the notebook recipe."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np

from bench.inference import fixed_batches
from bench.model import LABELS, MODEL_DIR
from bench.recipes import NOTEBOOK_BATCH
from bench.steps import project_setup, time_steps
from bench.timing import log, share, threads
from ja_sentiment.data import read_split
from ja_sentiment.params import TrainParams

TRAINER_DIR = Path("build/bench_trainer")


def bench_training(rounds: int, project_steps: int, notebook_steps: int, precision: str = "auto") -> dict:
    """The project's finetune path in `precision` (auto: the default, bf16 where native and faster)
    and, when that is not fp32, again in fp32; the notebook recipe in fp32 (its TrainingArguments'
    default)."""
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        Trainer,
        TrainingArguments,
        set_seed,
    )
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from ja_sentiment.training import train_precision

    train = TrainParams(checkpoint=str(MODEL_DIR), revision="main", precision=precision)
    frame = read_split("train")

    def notebook_setup():
        # The whole train set padded to its longest text, batch 16, the Trainer's random sampling.
        set_seed(train.seed)
        tokenizer = AutoTokenizer.from_pretrained(str(MODEL_DIR))
        model = AutoModelForSequenceClassification.from_pretrained(str(MODEL_DIR), num_labels=len(LABELS))
        encoded = tokenizer(frame["text"].tolist(), padding=True, truncation=True)
        dataset = Dataset.from_dict({**encoded, "labels": frame["label"].astype(int).tolist()})
        args = TrainingArguments(output_dir=str(TRAINER_DIR), per_device_train_batch_size=NOTEBOOK_BATCH,
                                 learning_rate=train.learning_rate, weight_decay=train.weight_decay,
                                 seed=train.seed)
        return Trainer, model, tokenizer, dataset, args, {}

    resolved = train_precision(train.precision)
    setups = {"project": (lambda: project_setup(MODEL_DIR, frame, precision), project_steps),
              "notebook_padded": (notebook_setup, notebook_steps)}
    if resolved != "fp32":  # the fp32 row beside it, as inference has
        setups["project_fp32"] = (lambda: project_setup(MODEL_DIR, frame, "fp32"), project_steps)
    runs: dict[str, list[dict]] = {k: [] for k in setups}
    for r in range(rounds):
        for name, (setup, steps) in setups.items():
            log(f"training round {r + 1}/{rounds} {name}: 1 warm-up + {steps} timed steps")
            res = time_steps(setup(), steps, str(TRAINER_DIR / name))
            runs[name].append(res)
            wall, cpu = float(res["step_walls"].sum()), float(res["step_cpus"].sum())
            log(f"training round {r + 1}/{rounds} {name}: {steps * res['batch_size'] / wall:.2f} samples/s "
                f"({wall:.1f}s, CPU share {share(cpu, wall)})")
            gc.collect()

    # The project path trains in its default precision (train.precision auto: bf16 where native and faster).
    out: dict = {"torch_threads": threads(), "precision": resolved, "precision_asked": train.precision,
                 "rounds": rounds, "learning_rate": train.learning_rate}
    for name, (_, steps) in setups.items():
        first = runs[name][0]
        samples = steps * first["batch_size"]
        walls = np.array([x["step_walls"] for x in runs[name]])
        cpus = np.array([x["step_cpus"] for x in runs[name]])
        best = walls.min(axis=0)  # the same batches every round (seeded): each step's best round
        out[name] = {
            "precision": "fp32" if name != "project" else resolved, "steps_timed": steps,
            "batch_size": first["batch_size"], "sampling": first["sampling"],
            "samples": samples, "per_s": round(samples / float(best.sum()), 2),
            "per_s_median": round(samples / float(np.median(walls.sum(axis=1))), 2),
            "wall_s": round(float(best.sum()), 3),
            "rounds_wall_s": [round(float(w), 3) for w in walls.sum(axis=1)],
            "rounds_cpu_share": [share(float(c), float(w))
                                 for c, w in zip(cpus.sum(axis=1), walls.sum(axis=1), strict=True)],
            "same_batches_every_round": all(x["positions"] == first["positions"] for x in runs[name]),
            "padded_positions_per_sample": round(sum(first["positions"]) / samples, 2),
            "best_step_s": [round(float(s), 3) for s in best], "step_positions": first["positions"]}
        log(f"training {name}: {out[name]['per_s']:.2f} samples/s (best of {rounds} rounds per step)")
    # How typical the project's timed window is: padded positions per sample over a whole epoch of
    # group_by_length batches (a seeded order of its own: the Trainer draws its order from the global
    # RNG). Each megabatch is sorted longest first and the longest text's batch comes first, so the
    # first steps of an epoch are its costliest.
    lengths, bs = runs["project"][0]["lengths"], out["project"]["batch_size"]
    order = np.array(list(LengthGroupedSampler(bs, lengths=lengths,
                                               generator=torch.Generator().manual_seed(train.seed))))
    epoch = np.array([len(b) * max(lengths[j] for j in b) for b in fixed_batches(order, bs)])
    out["project"]["epoch"] = {"steps": len(epoch),
                               "padded_positions_per_sample": round(float(epoch.sum()) / len(order), 2)}
    if "project_fp32" not in out:  # the default is fp32 here: the project row is the fp32 row
        out["project_fp32"] = {**out["project"], "same_run_as": "project"}
    return out
