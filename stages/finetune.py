"""Stage `finetune` (Level 2): fine-tune a BERT checkpoint for 3-class sentiment with the Trainer.

Dev macro-F1 picks the best epoch; that model and its tokenizer go to models/finetuned/ (usable
as-is by `pipeline()`), per-epoch curves to dvclive/. Epoch checkpoints (stages/checkpoints.py) live
in build/finetune_checkpoints/ and are removed after a successful run.

Kill safety: a run killed at any point (SIGTERM, SIGKILL) can be rerun, and with `train.resume` it
continues from its last complete epoch checkpoint. A process whose launcher (torchrun, DVC) has died
stops instead of writing on as an orphan.

Distributed: runs unchanged under `torchrun --nproc_per_node=N -m stages.finetune` (DDP; gloo on CPU).
Every process trains; only the main one writes or deletes files (checkpoint dir preparation, DVCLive,
the saved model, provenance, clean-up) and prints, with barriers where the others must wait.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from datasets import Dataset
from dvclive import Live
from sklearn.metrics import accuracy_score
from sklearn.utils.class_weight import compute_class_weight
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)

from stages.checkpoints import CHECKPOINTS, prepare_checkpoints, remove_checkpoints
from stages.common import ParamsError, TrainParams, load_params, macro_f1, model_card, read_split, write_json

MODEL_DIR = Path("models/finetuned")
LIVE_DIR = "dvclive"
LIVE_KEYS = ("train/loss", "dev/loss", "dev/accuracy", "dev/macro_f1")


def mixed_precision(precision: str) -> dict[str, bool]:
    """TrainingArguments' bf16/fp16 flags; explicit half precision needs a GPU that has it."""
    cuda = torch.cuda.is_available()
    bf16_ok = cuda and torch.cuda.is_bf16_supported()
    if precision == "auto":
        return {"bf16": bf16_ok, "fp16": cuda and not bf16_ok}
    if precision in ("bf16", "fp16") and not (bf16_ok if precision == "bf16" else cuda):
        raise ParamsError(f"train.precision: {precision} needs a CUDA GPU that supports it and none is "
                          "visible; use auto or fp32")
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def distributed_cpu() -> bool:
    """Launched by torchrun (WORLD_SIZE > 1) on a machine without CUDA. Accelerate then needs cpu=True
    to set up DDP (over gloo); without it every process would train on its own and all of them would
    write the same files."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()


def stop_with_launcher(poll_s: float = 0.2) -> None:
    """Under torchrun or DVC, end this process as soon as the process that launched it is gone.

    torchrun starts each worker in a session of its own: killing torchrun (or its process group) with
    SIGKILL leaves the workers training and writing files. DVC, killed alone, leaves its stage running
    the same way. Such an orphan can no longer be recorded in dvc.lock, and its writes would collide
    with a rerun's. Not armed for a plain `python -m stages.finetune` (e.g. under nohup)."""
    if os.name != "posix" or not {"TORCHELASTIC_RUN_ID", "DVC_STAGE"} & os.environ.keys():
        return
    launcher = os.getppid()

    def watch() -> None:
        while os.getppid() == launcher:
            time.sleep(poll_s)
        os.kill(os.getpid(), signal.SIGKILL)  # as abrupt as the launcher's end; resume handles it

    threading.Thread(target=watch, name="stop-with-launcher", daemon=True).start()


def load_model(train: TrainParams, label_names: tuple[str, ...]):
    """The checkpoint with a fresh 3-way head whose config names the labels (for `pipeline()`)."""
    return AutoModelForSequenceClassification.from_pretrained(
        train.checkpoint, revision=train.revision, trust_remote_code=False, num_labels=len(label_names),
        id2label=dict(enumerate(label_names)), label2id={n: i for i, n in enumerate(label_names)},
        hidden_dropout_prob=train.hidden_dropout, attention_probs_dropout_prob=train.attention_dropout,
        classifier_dropout=train.classifier_dropout)


def freeze(model, n_layers: int) -> None:
    """Freeze the embeddings and the bottom `n_layers` encoder layers (none when 0)."""
    total = model.config.num_hidden_layers
    if n_layers > total:
        raise ParamsError(f"train.freeze_layers: {n_layers} exceeds the model's {total} encoder layers")
    if n_layers == 0:
        return
    base = model.base_model
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is None or not hasattr(base, "embeddings"):  # BERT-style layout only
        raise ParamsError(f"train.freeze_layers: not supported for {type(base).__name__}; use 0")
    for module in (base.embeddings, *layers[:n_layers]):
        module.requires_grad_(False)


def to_dataset(frame: pd.DataFrame, tokenizer, max_length: int, soft: bool) -> Dataset:
    """Tokenised split; `labels` are gold ids, or the normalised vote distribution when `soft`."""
    if soft:
        votes = np.array([json.loads(v) for v in frame["votes"]], dtype=np.float64)
        labels = (votes / votes.sum(axis=1, keepdims=True)).tolist()
    else:
        labels = frame["label"].astype(int).tolist()
    # No padding here: DataCollatorWithPadding pads each batch to its own longest text.
    encoded = tokenizer(frame["text"].tolist(), truncation=True, max_length=max_length)
    return Dataset.from_dict({**encoded, "labels": labels})


def make_loss(num_labels: int, weights: torch.Tensor | None, smoothing: float):
    """Cross-entropy against a target distribution: one-hot gold ids (eval, hard labels) or vote
    shares (soft labels), label-smoothed, class-weighted. One function covers all three knobs."""
    def loss(outputs, labels: torch.Tensor, num_items_in_batch: torch.Tensor | int | None = None):
        log_p = outputs["logits"].float().log_softmax(-1)
        target = labels.to(log_p.dtype) if labels.ndim == 2 else torch.nn.functional.one_hot(
            labels, num_labels).to(log_p.dtype)
        target = target * (1 - smoothing) + smoothing / num_labels
        if weights is not None:
            target = target * weights.to(log_p.device)
        per_example = -(target * log_p).sum(-1)
        # Sum over the accumulated batch's examples (exact with grad_accum); the Trainer counts label
        # elements, num_labels per example for distributions. "balanced" weights average 1 over the
        # train set, so dividing by the count (not the weight sum) keeps the loss scale.
        n = per_example.numel() if num_items_in_batch is None else num_items_in_batch // labels[0].numel()
        return per_example.sum() / n
    return loss


def compute_metrics(pred) -> dict[str, float]:
    y_pred = np.argmax(pred.predictions, axis=-1)
    return {"accuracy": float(accuracy_score(pred.label_ids, y_pred)),
            "macro_f1": macro_f1(pred.label_ids, y_pred, pred.predictions.shape[-1])}


def epoch_rows(log_history: list[dict]) -> list[dict]:
    """One row per evaluated epoch: epoch, train/loss (mean over the epoch) and the dev metrics."""
    train_loss, rows = {}, []
    for entry in log_history:
        epoch = round(entry.get("epoch", 0))
        if "loss" in entry:
            train_loss[epoch] = entry["loss"]
        elif "eval_macro_f1" in entry:
            rows.append({"epoch": epoch, "step": entry["step"], "train/loss": train_loss.get(epoch),
                         "dev/loss": entry["eval_loss"], "dev/accuracy": entry["eval_accuracy"],
                         "dev/macro_f1": entry["eval_macro_f1"]})
    return rows


class LiveCallback(TrainerCallback):
    """Logs each epoch to DVCLive (step = epoch number). Rows come from the Trainer's log history,
    so a resumed run first replays the epochs restored from its checkpoint."""

    def __init__(self, live: Live) -> None:
        self.live, self.logged = live, 0

    def _sync(self, state) -> None:
        for row in epoch_rows(state.log_history)[self.logged:]:
            self.live.step = row["epoch"]
            for key in LIVE_KEYS:
                self.live.log_metric(key, row[key])
            self.live.next_step()
            self.logged += 1

    def on_train_begin(self, args, state, control, **kwargs) -> None:
        self._sync(state)

    def on_evaluate(self, args, state, control, **kwargs) -> None:
        self._sync(state)


def training_args(train: TrainParams, precision: dict[str, bool]) -> TrainingArguments:
    """The Trainer's settings. Creating them joins the process group when launched by torchrun."""
    cpu_ddp = distributed_cpu()
    return TrainingArguments(
        output_dir=str(CHECKPOINTS), num_train_epochs=train.epochs, learning_rate=train.learning_rate,
        per_device_train_batch_size=train.batch_size, per_device_eval_batch_size=train.eval_batch_size,
        gradient_accumulation_steps=train.grad_accum, weight_decay=train.weight_decay,
        warmup_steps=train.warmup,  # 5.x: a float in [0, 1) is a fraction of the optimisation steps
        eval_strategy="epoch", save_strategy="epoch", logging_strategy="epoch",
        load_best_model_at_end=True, metric_for_best_model="macro_f1", greater_is_better=True,
        save_total_limit=1,  # plus the best one, which the Trainer always keeps
        restore_callback_states_from_checkpoint=True,  # early stopping's patience counter
        train_sampling_strategy="group_by_length",  # 4.x group_by_length=True
        seed=train.seed, data_seed=train.seed,  # full_determinism only matters on GPU (and slows it)
        dataloader_pin_memory=torch.cuda.is_available(),
        use_cpu=cpu_ddp, ddp_backend="gloo" if cpu_ddp else None,  # None: Accelerate's choice (nccl)
        report_to=train.report_to, disable_tqdm=False, **precision)


def main() -> None:
    params = load_params()
    train, names = params.train, params.preprocess.label_names
    precision = mixed_precision(train.precision)  # params errors before any heavy work
    if train.early_stopping_patience >= train.epochs:
        raise ParamsError(f"train.early_stopping_patience: {train.early_stopping_patience} can never stop "
                          f"a run of train.epochs={train.epochs}; use 0 (off) or fewer epochs")
    stop_with_launcher()
    args = training_args(train, precision)
    state = args.distributed_state  # one process (no-op barriers) unless launched by torchrun
    main_process = state.is_main_process  # world rank 0: the only one that writes files or prints
    resume_from = prepare_checkpoints(train, names, state)
    set_seed(train.seed)  # before the model: the new classification head is randomly initialised
    tokenizer = AutoTokenizer.from_pretrained(train.checkpoint, revision=train.revision,
                                              trust_remote_code=False, model_max_length=train.max_length)
    model = load_model(train, names)
    freeze(model, train.freeze_layers)
    frames = {split: read_split(split) for split in ("train", "dev")}
    weights = None
    if train.class_weights == "balanced":
        y = frames["train"]["label"].to_numpy()
        weights = torch.tensor(compute_class_weight("balanced", classes=np.arange(len(names)), y=y),
                               dtype=torch.float32)
    # Log history and metrics are gathered across processes, so the main process alone logs them all.
    live = Live(dir=LIVE_DIR, dvcyaml=False, save_dvc_exp=False, report=None) if main_process else None
    callbacks = [LiveCallback(live)] if main_process else []
    if train.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=train.early_stopping_patience))
    trainer = Trainer(
        model=model, args=args, processing_class=tokenizer, data_collator=DataCollatorWithPadding(tokenizer),
        train_dataset=to_dataset(frames["train"], tokenizer, train.max_length, train.soft_labels),
        eval_dataset=to_dataset(frames["dev"], tokenizer, train.max_length, soft=False),  # gold labels
        compute_loss_func=make_loss(len(names), weights, train.label_smoothing),
        compute_metrics=compute_metrics, callbacks=callbacks)
    result = trainer.train(resume_from_checkpoint=resume_from)
    # Every process has loaded the best checkpoint (no barrier after that in the Trainer) before the
    # main one deletes anything.
    state.wait_for_everyone()
    rows = epoch_rows(trainer.state.log_history)
    best = next(r for r in rows if r["step"] == trainer.state.best_global_step)
    if main_process:
        # metrics.json: the best epoch's row (the model that is kept), not the last epoch's.
        live.summary = {"train": {"loss": best["train/loss"]},
                        "dev": {k.split("/")[1]: best[k] for k in LIVE_KEYS[1:]},
                        "best_epoch": best["epoch"], "epochs_run": rows[-1]["epoch"],
                        "train_runtime_s": result.metrics["train_runtime"],  # this call's only, if resumed
                        "train_samples_per_second": result.metrics["train_samples_per_second"]}
        live.step = best["epoch"]
        live.end()
        shutil.rmtree(MODEL_DIR, ignore_errors=True)
    state.wait_for_everyone()
    trainer.save_model(str(MODEL_DIR))  # best epoch's weights (load_best_model_at_end); main process writes
    if main_process:
        tokenizer.save_pretrained(str(MODEL_DIR))
        card = model_card(train.checkpoint, train.revision)
        write_json(MODEL_DIR / "provenance.json", {
            "base_model": card["model"], "revision": card["revision"], "best_epoch": best["epoch"],
            "dev_macro_f1": best["dev/macro_f1"], "params": train.model_dump()})
        remove_checkpoints()
        print(f"best epoch {best['epoch']}/{rows[-1]['epoch']}: dev macro-F1 {best['dev/macro_f1']:.4f}, "
              f"accuracy {best['dev/accuracy']:.4f} -> {MODEL_DIR}")
    state.wait_for_everyone()
    if state.use_distributed:
        state.destroy_process_group()


if __name__ == "__main__":
    main()
