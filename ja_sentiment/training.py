"""Training helpers of the finetune stage: model set-up (3-way head, frozen layers, re-initialised
top layers), datasets, the loss (label smoothing, class weights, soft labels), the optimizer (the one
place it is built: layer-wise learning-rate decay), the Trainer's arguments, DVCLive logging per
epoch, and kill safety (a run stops with the launcher that started it).

Losses comparable across configurations: whatever loss a configuration trains with (label
smoothing, soft labels and class weights change the training loss itself), every epoch also logs the
plain cross-entropy against the gold labels, in eval mode, on dev (`dev/ce`) and on a fixed sample of
the training rows the size of dev (`train/ce`), so that train/dev curves of two configurations can be
compared."""

from __future__ import annotations

import collections
import json
import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import torch
from accelerate.utils import DistributedType
from datasets import Dataset
from dvclive import Live
from sklearn.metrics import accuracy_score
from transformers import AutoModelForSequenceClassification, Trainer, TrainerCallback, TrainingArguments

from ja_sentiment.batching import token_batches
from ja_sentiment.checkpoints import CHECKPOINTS
from ja_sentiment.hardware import fast_bf16, native_bf16
from ja_sentiment.hub import hub_model
from ja_sentiment.metrics import macro_f1
from ja_sentiment.params import ParamsError, TrainParams

LIVE_DIR = "dvclive"
# train/loss: the configuration's own training loss; dev/loss: that loss on dev (gold labels);
# train/ce, dev/ce: plain cross-entropy against the gold labels in eval mode (comparable everywhere).
LIVE_KEYS = ("train/loss", "train/ce", "dev/loss", "dev/ce", "dev/accuracy", "dev/macro_f1")
EVAL_SETS = ("dev", "train_sample")  # the Trainer's eval datasets; metrics eval_dev_*, eval_train_sample_*
TRAIN_SAMPLE_SEED = 0  # the same training rows for every configuration and seed


def train_precision(precision: str) -> str:
    """The precision the finetune stage trains in. auto: bf16 autocast where bf16 is native and faster
    (the check inference uses, hardware.fast_bf16: a CUDA GPU with bf16, or a CPU with AVX512-BF16 or AMX
    on which a probe matmul runs faster in bf16 than in fp32), fp16 on an older CUDA GPU, fp32 elsewhere.
    bf16 asked for explicitly also runs on a CPU without it (emulated: slow); fp16 and a GPU without
    bf16 support are errors, before any work."""
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    if precision == "auto":
        return "bf16" if fast_bf16(device) else "fp16" if cuda else "fp32"
    if precision == "fp16" and not cuda:
        raise ParamsError("train.precision: fp16 needs a CUDA GPU and none is visible; use auto, bf16 or "
                          "fp32")
    if precision == "bf16" and cuda and not native_bf16(device):
        raise ParamsError("train.precision: bf16 is not supported by this CUDA GPU; use auto, fp16 or fp32")
    return precision


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
    with hub_model(train.checkpoint, train.revision):
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


def reinit_top_layers(model, n_layers: int) -> list[str]:
    """Re-initialise the pooler and the top `n_layers` encoder layers with the model's own initialiser
    (none when 0); returns the names of the re-initialised parameters. Seeded by the caller."""
    if n_layers == 0:
        return []
    total = model.config.num_hidden_layers
    if n_layers > total:
        raise ParamsError(f"train.reinit_layers: {n_layers} exceeds the model's {total} encoder layers")
    base = model.base_model
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is None:
        raise ParamsError(f"train.reinit_layers: not supported for {type(base).__name__}; use 0")
    modules = [*layers[total - n_layers:], *([base.pooler] if getattr(base, "pooler", None) else [])]
    names = []
    prefix = {id(m): n for n, m in model.named_modules()}
    for module in modules:
        # transformers 5 marks loaded weights as initialised and its initialisers then skip them.
        for param in module.parameters():
            param._is_hf_initialized = False
        for sub in module.modules():
            model._init_weights(sub)
        names += [f"{prefix[id(module)]}.{n}" for n, _ in module.named_parameters()]
    return names


def layer_depth(name: str, n_layers: int) -> int:
    """0 for the embeddings, i + 1 for encoder layer i, n_layers + 1 for what sits on top (pooler,
    classifier head)."""
    parts = name.split(".")
    if "embeddings" in parts:
        return 0
    if "layer" in parts and "encoder" in parts:
        return int(parts[parts.index("layer") + 1]) + 1
    return n_layers + 1


def symmetric_kl(logits: torch.Tensor) -> torch.Tensor:
    """Per example, (KL(p1 || p2) + KL(p2 || p1)) / 2 between the distributions of the two halves of
    `logits` (the same batch, stacked twice: R-Drop's two passes)."""
    first, second = logits.float().log_softmax(-1).chunk(2)
    forward = torch.nn.functional.kl_div(second, first, log_target=True, reduction="none").sum(-1)
    backward = torch.nn.functional.kl_div(first, second, log_target=True, reduction="none").sum(-1)
    return (forward + backward) / 2


class L2SP:
    """L2-SP (Li, Grandvalet & Davoine 2018): alpha / 2 x the squared distance of the pre-trained
    parameters from their pre-trained values, instead of from zero. The new head and re-initialised
    layers have no pre-trained values and are not pulled; frozen parameters never move."""

    def __init__(self, model, alpha: float, new: set[str] = frozenset()) -> None:
        self.alpha = alpha
        head = {n for n, _ in model.named_parameters() if n.split(".")[0] in ("classifier", "score")}
        self.names = [n for n, p in model.named_parameters() if p.requires_grad and n not in head | set(new)]
        params = dict(model.named_parameters())
        self.pairs = [(params[n], params[n].detach().clone()) for n in self.names]

    def penalty(self) -> torch.Tensor:
        return self.alpha / 2 * sum(((p.float() - start.to(p.device).float()) ** 2).sum()
                                    for p, start in self.pairs)


class WeightAverage(TrainerCallback):
    """Keeps the weights at the end of each of the last `k` epochs (CPU copies), to average them after
    training (`average`): the model is then evaluated on dev like an epoch and kept if it does at
    least as well as the best epoch (stages/finetune.py)."""

    def __init__(self, k: int) -> None:
        self.snapshots: collections.deque = collections.deque(maxlen=k)

    def on_epoch_end(self, args, state, control, model=None, **kwargs) -> None:
        self.snapshots.append((round(state.epoch), {n: t.detach().to("cpu", copy=True)
                                                     for n, t in model.state_dict().items()}))

    @property
    def epochs(self) -> list[int]:
        return [epoch for epoch, _ in self.snapshots]

    def average(self) -> dict[str, torch.Tensor]:
        """The mean of the kept weights (floating tensors; others, e.g. position ids, as last saved)."""
        states = [state for _, state in self.snapshots]
        return {name: (torch.stack([s[name].float() for s in states]).mean(0).to(last.dtype)
                       if last.is_floating_point() else last)
                for name, last in states[-1].items()}


def add_lora(model, rank: int):
    """The model with LoRA adapters (Hu et al. 2021) of this rank on the attention's query and value
    projections, as the paper's main experiments; the base weights frozen, the classification head
    trained in full (peft's modules_to_save for sequence classification)."""
    from peft import LoraConfig, TaskType, get_peft_model

    config = LoraConfig(task_type=TaskType.SEQ_CLS, r=rank, lora_alpha=2 * rank, lora_dropout=0.1,
                        target_modules=["query", "value"])
    return get_peft_model(model, config)


def clip_in_optimizer(optimizer, parameters, max_norm: float) -> torch.Tensor | None:
    """Gradient clipping folded into a fused Adam/AdamW step: the total norm as clip_grad_norm_
    computes it, and instead of the pass that multiplies every gradient by max_norm / (norm + 1e-6)
    (clip_grad_norm_ makes it even when that factor is clamped to 1), the factor's inverse is handed to
    the optimizer as the gradient scale its fused kernel divides each gradient by as it reads it (the
    hook torch's GradScaler uses). The update is the same up to the last bit of that division (tested
    against clip_grad_norm_); a factor of 1 changes nothing. Returns the norm, or None (nothing done)
    where the optimizer is not fused Adam/AdamW or a scale is already in use: clip_grad_norm_ then."""
    inner = getattr(optimizer, "optimizer", optimizer)  # Accelerate wraps the torch optimizer
    fused = isinstance(inner, torch.optim.Adam | torch.optim.AdamW) and all(
        group.get("fused") for group in inner.param_groups)
    if not fused or getattr(inner, "found_inf", None) is not None:  # a GradScaler's own scale
        return None
    grads = [p.grad for p in parameters if p.grad is not None]
    norm = torch.nn.utils.get_total_norm(grads)
    # clip_grad_norm_'s factor is max_norm / (norm + 1e-6), clamped to at most 1; the kernel divides.
    inner.grad_scale = torch.clamp((norm + 1e-6) / max_norm, min=1.0)
    return norm


class FinetuneTrainer(Trainer):
    """The Trainer, with the one place the optimizer is built: the Trainer's own (AdamW, fused where
    torch has it; no weight decay on biases and norms), and with `layer_lr_decay` < 1 one parameter
    group per layer depth, each layer's learning rate the one above it times the decay (the head on
    top keeps train.learning_rate)."""

    def __init__(self, *args, layer_lr_decay: float = 1.0, eval_batch_tokens: int = 0, r_drop: float = 0.0,
                 l2_sp: L2SP | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.layer_lr_decay = layer_lr_decay
        self.eval_batch_tokens = eval_batch_tokens
        self.r_drop = r_drop
        self.l2_sp = l2_sp

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The configuration's loss; in training, with R-Drop (r_drop > 0) the batch goes through the
        model twice (one forward pass of the batch stacked twice: each copy gets its own dropout masks),
        the loss is the mean of the two passes' losses plus r_drop x the symmetric KL divergence of their
        predicted distributions (r_drop_loss); with L2-SP its penalty is added (once per optimiser
        step: each accumulated micro-batch adds its share). Evaluation is unchanged."""
        if not model.training or not (self.r_drop or self.l2_sp):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if self.r_drop:
            twice = {k: torch.cat([v, v]) if torch.is_tensor(v) else v for k, v in inputs.items()}
            items = None if num_items_in_batch is None else 2 * num_items_in_batch
            loss, outputs = super().compute_loss(model, twice, True, items)
            n = len(inputs["labels"]) if num_items_in_batch is None else (
                num_items_in_batch // inputs["labels"][0].numel())
            loss = loss + self.r_drop * symmetric_kl(outputs["logits"]).sum() / n
        else:
            loss, outputs = super().compute_loss(model, inputs, True, num_items_in_batch)
        if self.l2_sp:
            loss = loss + self.l2_sp.penalty() / self.current_gradient_accumulation_steps
        return (loss, outputs) if return_outputs else loss

    def _clip_grad_norm(self, model):
        """clip_in_optimizer where it applies (fused AdamW, no fp16 scaler, one process or DDP);
        the Trainer's clipping elsewhere. Measured on bert-base bf16 steps: docs/performance.md."""
        plain = self.accelerator.distributed_type in (DistributedType.NO, DistributedType.MULTI_CPU,
                                                      DistributedType.MULTI_GPU)
        if plain and self.accelerator.scaler is None:
            norm = clip_in_optimizer(self.optimizer, model.parameters(), self.args.max_grad_norm)
            if norm is not None:
                return norm
        return super()._clip_grad_norm(model)

    def get_eval_dataloader(self, eval_dataset=None):
        """With eval_batch_tokens > 0: the evaluate stage's batching (batching.token_batches: longest
        first, each batch padded to its own longest text, at most eval_batch_tokens positions) instead of
        fixed-size batches in dataset order, which pad short sentences to a long neighbour's length. The
        Trainer's evaluation loop still computes the loss and the metrics (order-free: every row once)."""
        if not self.eval_batch_tokens:
            return super().get_eval_dataloader(eval_dataset)
        dataset = self.eval_dataset[eval_dataset] if isinstance(eval_dataset, str) else (
            self.eval_dataset if eval_dataset is None else eval_dataset)
        dataset = self._remove_unused_columns(dataset, description="Evaluation")
        lengths = [len(ids) for ids in dataset["input_ids"]]
        batches = [b.tolist() for b in token_batches(lengths, self.args.eval_batch_size,
                                                     self.eval_batch_tokens)]
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches, collate_fn=self.data_collator,
                                             pin_memory=self.args.dataloader_pin_memory)
        return self.accelerator.prepare(loader)

    def create_optimizer(self, model=None):
        if self.optimizer is not None or self.layer_lr_decay == 1.0:
            return super().create_optimizer(model)
        model = self.model if model is None else model
        decay = set(self.get_decay_parameter_names(model))
        n_layers = model.config.num_hidden_layers
        groups: dict[tuple[int, bool], list] = {}
        for name, param in model.named_parameters():
            if param.requires_grad:
                groups.setdefault((layer_depth(name, n_layers), name in decay), []).append(param)
        lr = self.args.learning_rate
        param_groups = [{"params": params, "weight_decay": self.args.weight_decay if decayed else 0.0,
                         "lr": lr * self.layer_lr_decay ** (n_layers + 1 - depth)}
                        for (depth, decayed), params in sorted(groups.items())]
        optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
        kwargs.pop("lr", None)  # each group has its own
        self.optimizer = optimizer_cls(param_groups, lr=lr, **kwargs)
        return self.optimizer


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


def cross_entropy(logits: np.ndarray, gold: np.ndarray) -> float:
    """Mean cross-entropy of the gold class ids under softmax(logits) (no smoothing, no weights)."""
    logits = torch.tensor(np.asarray(logits, dtype=np.float32))
    return float(torch.nn.functional.cross_entropy(logits, torch.tensor(np.asarray(gold)).long()))


def compute_metrics(pred, loss_fn=None) -> dict[str, float]:
    """Accuracy, macro-F1 and plain cross-entropy (`ce`) against the gold labels; with `loss_fn` (a
    `make_loss`), also the configuration's own loss as a mean over rows (`row_loss`). The Trainer's
    `eval_loss` is not that mean: it weights every batch by the first batch's size (transformers 5.24
    evaluation_loop), which over-weights a short last batch and varies with token-budget batches."""
    y_pred = np.argmax(pred.predictions, axis=-1)
    metrics = {"accuracy": float(accuracy_score(pred.label_ids, y_pred)),
               "macro_f1": macro_f1(pred.label_ids, y_pred, pred.predictions.shape[-1]),
               "ce": cross_entropy(pred.predictions, pred.label_ids)}
    if loss_fn is not None:
        logits = torch.tensor(np.asarray(pred.predictions, dtype=np.float32))
        gold = torch.tensor(np.asarray(pred.label_ids)).long()
        metrics["row_loss"] = float(loss_fn({"logits": logits}, gold))
    return metrics


def train_sample(frame: pd.DataFrame, size: int) -> pd.DataFrame:
    """The fixed sample of training rows whose plain cross-entropy is logged each epoch (`train/ce`):
    `size` rows (dev's size), the same for every configuration and seed."""
    return frame.sample(n=min(size, len(frame)), random_state=TRAIN_SAMPLE_SEED).sort_index()


def epoch_rows(log_history: list[dict]) -> list[dict]:
    """One row per epoch evaluated on both eval sets: epoch, train/loss (the configuration's loss,
    mean over the epoch), train/ce and the dev metrics."""
    train_loss, dev, sample = {}, {}, {}
    for entry in log_history:
        epoch = round(entry.get("epoch", 0))
        if "loss" in entry:
            train_loss[epoch] = entry["loss"]
        elif "eval_dev_macro_f1" in entry:
            dev[epoch] = entry
        elif "eval_train_sample_ce" in entry:
            sample[epoch] = entry
    return [{"epoch": epoch, "step": entry["step"], "train/loss": train_loss.get(epoch),
             "train/ce": sample[epoch]["eval_train_sample_ce"],
             "dev/loss": entry.get("eval_dev_row_loss", entry["eval_dev_loss"]),  # older runs: the Trainer's
             "dev/ce": entry["eval_dev_ce"], "dev/accuracy": entry["eval_dev_accuracy"],
             "dev/macro_f1": entry["eval_dev_macro_f1"]}
            for epoch, entry in sorted(dev.items()) if epoch in sample]


def average_or_best(trainer: Trainer, averager: WeightAverage, best: dict) -> dict:
    """Weight averaging's decision, after training (the Trainer has loaded the best epoch): the mean
    of the last epochs' weights is evaluated on dev like an epoch, and kept when its dev macro-F1 is
    at least the best epoch's; otherwise the best epoch's weights are put back. Returns the epochs
    averaged, the average's dev scores and whether it was kept."""
    model = trainer.model
    best_state = {name: t.detach().clone() for name, t in model.state_dict().items()}
    model.load_state_dict(averager.average())
    metrics = trainer.evaluate(eval_dataset=trainer.eval_dataset["dev"], metric_key_prefix="average")
    dev = {"macro_f1": metrics["average_macro_f1"], "accuracy": metrics["average_accuracy"],
           "ce": metrics["average_ce"], "loss": metrics.get("average_row_loss", metrics["average_loss"])}
    kept = dev["macro_f1"] >= best["dev/macro_f1"]
    if not kept:
        model.load_state_dict(best_state)
    return {"epochs": averager.epochs, "dev": dev, "kept": bool(kept),
            "best_epoch": best["epoch"], "best_epoch_dev_macro_f1": best["dev/macro_f1"]}


def engagement(train: TrainParams, names: tuple[str, ...], rows: list[dict], model, optimizer,
               dropped_labels: np.ndarray, reinitialised: list[str], weights: torch.Tensor | None,
               stopped: bool, averaged: dict | None = None) -> dict:
    """What each countermeasure's knob did in this run, as the run saw it (dvclive/metrics.json
    `engaged`; the study's report states it): the epoch early stopping stopped at (`stopped`: its
    patience ran out, perhaps at the last planned epoch; None: it never triggered, or it is off),
    the rows dropped and their gold classes, the layers frozen (and the parameters still trained) and
    re-initialised, the number of distinct learning rates and the weight decay the optimizer's groups
    started with, the dropout the model ran with, and the loss trained with."""
    last = rows[-1]["epoch"]
    groups = optimizer.param_groups
    config = model.config
    return {
        "early_stopping_patience": train.early_stopping_patience, "epochs_planned": train.epochs,
        "epochs_run": last,
        "stopped_at_epoch": last if stopped else None,
        "dropped_rows": len(dropped_labels),
        "dropped_by_class": {name: int((np.asarray(dropped_labels) == i).sum())
                             for i, name in enumerate(names)},
        "frozen_layers": train.freeze_layers,
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "parameters": sum(p.numel() for p in model.parameters()),
        "reinitialised_layers": train.reinit_layers, "reinitialised_tensors": len(reinitialised),
        # initial_lr: the scheduler's record of each group's starting rate (lr itself decays to 0)
        "lr_groups": len({g.get("initial_lr", g["lr"]) for g in groups}),
        "weight_decay": max(float(g.get("weight_decay", 0.0)) for g in groups),  # biases and norms: 0
        "dropout": {"hidden": config.hidden_dropout_prob, "attention": config.attention_probs_dropout_prob,
                    "classifier": getattr(config, "classifier_dropout", None)},
        "l2_sp": train.l2_sp, "r_drop": train.r_drop, "lora_rank": train.lora_rank,
        # weight averaging: the epochs averaged, the average's dev macro-F1, whether it was kept
        "averaged": None if averaged is None else {
            "epochs": averaged["epochs"], "dev_macro_f1": averaged["dev"]["macro_f1"],
            "kept": averaged["kept"], "best_epoch": averaged["best_epoch"],
            "best_epoch_dev_macro_f1": averaged["best_epoch_dev_macro_f1"]},
        "loss": {"target": "votes" if train.soft_labels else "gold", "label_smoothing": train.label_smoothing,
                 "class_weights": None if weights is None else
                 {name: round(float(w), 4) for name, w in zip(names, weights, strict=True)}},
    }


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


def training_args(train: TrainParams, precision: str) -> TrainingArguments:
    """The Trainer's settings for a precision of `train_precision`. Creating them joins the process group
    when launched by torchrun."""
    cpu_ddp = distributed_cpu()
    # bf16 without CUDA: the Trainer wants use_cpu, then Accelerate autocasts on the CPU.
    cpu_bf16 = precision == "bf16" and not torch.cuda.is_available()
    return TrainingArguments(
        output_dir=str(CHECKPOINTS), num_train_epochs=train.epochs, learning_rate=train.learning_rate,
        per_device_train_batch_size=train.batch_size, per_device_eval_batch_size=train.eval_batch_size,
        gradient_accumulation_steps=train.grad_accum, weight_decay=train.weight_decay,
        warmup_steps=train.warmup,  # 5.x: a float in [0, 1) is a fraction of the optimisation steps
        eval_strategy="epoch", save_strategy="epoch", logging_strategy="epoch",
        load_best_model_at_end=True, metric_for_best_model="dev_macro_f1", greater_is_better=True,
        save_total_limit=1,  # plus the best one, which the Trainer always keeps
        restore_callback_states_from_checkpoint=True,  # early stopping's patience counter
        train_sampling_strategy="group_by_length",  # 4.x group_by_length=True
        seed=train.seed, data_seed=train.seed,  # full_determinism only matters on GPU (and slows it)
        dataloader_pin_memory=torch.cuda.is_available(),
        use_cpu=cpu_ddp or cpu_bf16, ddp_backend="gloo" if cpu_ddp else None,  # None: Accelerate's (nccl)
        report_to=train.report_to, disable_tqdm=False, bf16=precision == "bf16", fp16=precision == "fp16")
