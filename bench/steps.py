"""Timed optimiser steps of the finetune stage's training path: the stage's memory setting, model
loading, dataset, Trainer (FinetuneTrainer), arguments and loss, with one warm-up step and no
evaluation, checkpoints or logging in between. `make bench` times its training rows with it, and
`bench.pair` runs it as a script in two checkouts to compare them.

It imports nothing else from bench/ (only ja_sentiment, transformers, torch): run as a script with
`python -P bench/steps.py ...` and PYTHONPATH=<a checkout>, it times that checkout's training code on
the train split of the directory it runs in (data/processed/train.tsv, read by that checkout's
`read_split`).

    python -P bench/steps.py MODEL_DIR --steps 20 --precision auto    (prints JSON)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

# Before tqdm is first imported (it reads TQDM_* then): no progress bars from the Trainer.
os.environ.setdefault("TQDM_DISABLE", "1")

LABELS = ("negative", "neutral", "positive")


class Recorder:
    """A collator, noting the padded shape of every batch it makes."""

    def __init__(self, inner) -> None:
        self.inner, self.shapes = inner, []

    def __call__(self, features):
        batch = self.inner(features)
        self.shapes.append(tuple(batch["input_ids"].shape))
        return batch


def project_setup(model_dir: str, frame, precision: str = "auto"):
    """stages.finetune's own memory setting, loading, dataset, settings, Trainer class and loss, at the
    params' defaults (the schema's, which are params.yaml's committed values; params.yaml itself is
    not read, as a `dvc exp run -S ...` in the same workspace may have rewritten it for the time
    being). The memory setting is the process's from here on."""
    from transformers import AutoTokenizer, set_seed

    from ja_sentiment import hardware, training
    from ja_sentiment.params import TrainParams

    if hasattr(hardware, "keep_freed_memory"):  # an older checkout's stage has none
        hardware.keep_freed_memory()
    train = TrainParams(checkpoint=str(model_dir), revision="main", precision=precision)
    set_seed(train.seed)
    tokenizer = AutoTokenizer.from_pretrained(train.checkpoint, revision=train.revision,
                                              trust_remote_code=False, model_max_length=train.max_length)
    model = training.load_model(train, LABELS)
    dataset = training.to_dataset(frame, tokenizer, train.max_length, train.soft_labels)
    args = training.training_args(train, training.train_precision(train.precision))
    extra = {"compute_loss_func": training.make_loss(len(LABELS), None, train.label_smoothing)}
    return training.FinetuneTrainer, model, tokenizer, dataset, args, extra


def time_steps(setup, steps: int, output_dir: str) -> dict:
    """One warm-up step (first-call kernel setup, optimiser state allocation), then `steps` timed:
    each step's wall and CPU seconds and the padded shape of its batch."""
    import numpy as np
    from transformers import DataCollatorWithPadding, TrainerCallback

    trainer_cls, model, tokenizer, dataset, args, extra = setup

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.ends: list[tuple[float, float]] = []

        def on_step_end(self, args, state, control, **kwargs) -> None:
            self.ends.append((time.perf_counter(), time.process_time()))

    args = dataclasses.replace(args, output_dir=output_dir, max_steps=steps + 1, eval_strategy="no",
                               save_strategy="no", logging_strategy="no", load_best_model_at_end=False,
                               report_to="none", disable_tqdm=True, dataloader_pin_memory=False)
    collator, clock = Recorder(DataCollatorWithPadding(tokenizer)), StepClock()
    trainer = trainer_cls(model=model, args=args, processing_class=tokenizer, data_collator=collator,
                          train_dataset=dataset, callbacks=[clock], **extra)
    trainer.train()
    ends = np.array(clock.ends)
    return {"batch_size": args.per_device_train_batch_size, "sampling": str(args.train_sampling_strategy),
            "step_walls": np.diff(ends[:, 0]), "step_cpus": np.diff(ends[:, 1]),
            "positions": [b * s for b, s in collator.shapes[1:steps + 1]],
            "lengths": [len(x) for x in dataset["input_ids"]]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output-dir", default="build/bench_trainer/pair")
    args = parser.parse_args(argv)
    import torch

    from ja_sentiment.data import read_split

    torch.set_num_threads(args.threads)
    frame = read_split("train")
    res = time_steps(project_setup(str(args.model_dir), frame, args.precision), args.steps, args.output_dir)
    wall = float(res["step_walls"].sum())
    print(json.dumps({"samples_per_s": args.steps * res["batch_size"] / wall, "wall_s": wall,
                      "cpu_share": float(res["step_cpus"].sum()) / wall / args.threads,
                      "positions": res["positions"], "step_walls": res["step_walls"].round(4).tolist()}))


if __name__ == "__main__":
    main()
