"""Epoch checkpoints of the finetune stage, kept safe to resume after a kill at any point.

The Trainer writes a checkpoint in place, trainer_state.json last, so a kill mid-save (or
mid-rotation) leaves an incomplete checkpoint-N: resume takes the newest complete one and deletes
the incomplete ones. The final clean-up renames the checkpoint dir before deleting it. Checkpoints
live outside the DVC outs (build/), so `train.resume` survives `dvc repro`.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from accelerate import PartialState

from ja_sentiment.data import write_json
from ja_sentiment.params import ParamsError, TrainParams

CHECKPOINTS = Path("build/finetune_checkpoints")
RUN_PARAMS = "run_params.json"  # the params the checkpoints were made with
CHECKPOINT_RE = re.compile(r"checkpoint-(\d+)")  # the Trainer's checkpoint dirs
# What a resumable checkpoint holds: trainer_state.json (the Trainer writes it last), these, and weights.
TRAINER_STATE = "trainer_state.json"
CHECKPOINT_FILES = ("config.json", "optimizer.pt", "scheduler.pt")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


def checkpoint_dirs(folder: Path) -> list[Path]:
    """checkpoint-N directories, oldest (smallest N) first."""
    found = [(int(m.group(1)), p) for p in folder.iterdir()
             if p.is_dir() and (m := CHECKPOINT_RE.fullmatch(p.name))] if folder.is_dir() else []
    return [p for _, p in sorted(found)]


def is_complete(checkpoint: Path) -> bool:
    """Whether the Trainer finished writing `checkpoint` and nothing of it has been deleted since.

    A kill while the Trainer saves leaves no or a truncated trainer_state.json (written last); a kill
    while it rotates checkpoints (rmtree) leaves some files missing. RNG files are optional: the Trainer
    resumes without them (logging that exact reproducibility is lost)."""
    try:
        state = json.loads((checkpoint / TRAINER_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    step = CHECKPOINT_RE.fullmatch(checkpoint.name).group(1)
    return (isinstance(state, dict) and str(state.get("global_step")) == step
            and all((checkpoint / f).is_file() for f in CHECKPOINT_FILES)
            and any((checkpoint / f).is_file() for f in WEIGHT_FILES))


def last_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint in `folder` (None: there is none)."""
    return next((p for p in reversed(checkpoint_dirs(folder)) if is_complete(p)), None)


def trash_dir() -> Path:
    return CHECKPOINTS.with_name(CHECKPOINTS.name + ".deleting")


def remove_checkpoints() -> None:
    """Delete the checkpoint dir atomically (rename, then delete), so a kill mid-delete cannot leave
    half a checkpoint that looks resumable."""
    trash = trash_dir()
    shutil.rmtree(trash, ignore_errors=True)
    if CHECKPOINTS.exists():
        CHECKPOINTS.rename(trash)
    shutil.rmtree(trash, ignore_errors=True)


def prepare_checkpoints(train: TrainParams, label_names: tuple[str, ...], state: PartialState) -> str | None:
    """The checkpoint to resume from (None: fresh start, with the working dir emptied).

    Every process reads and checks (reaching the same verdict, errors included); then the main process
    alone changes the directory while the others wait."""
    run = {**train.model_dump(exclude={"resume", "report_to"}), "label_names": list(label_names)}
    last = last_checkpoint(CHECKPOINTS) if train.resume else None
    if last is not None:
        saved = CHECKPOINTS / RUN_PARAMS
        before = json.loads(saved.read_text(encoding="utf-8")) if saved.is_file() else {}
        changed = sorted(k for k in run if before.get(k) != run[k])
        if changed:  # the optimiser/scheduler state would silently mix two configurations
            raise ParamsError(f"train.resume: {last} was made with other values of {changed}; restore "
                              "them or set train.resume=false to start afresh")
    state.wait_for_everyone()  # nobody reads the dir while the main process changes it
    if state.is_main_process:
        if last is None:
            remove_checkpoints()
            write_json(CHECKPOINTS / RUN_PARAMS, run)
        else:
            for stale in checkpoint_dirs(CHECKPOINTS):  # left by a run killed mid-save
                if not is_complete(stale):
                    print(f"removing incomplete checkpoint {stale}")
                    shutil.rmtree(stale)
            print(f"resuming from {last}")
    state.wait_for_everyone()
    return None if last is None else str(last)
