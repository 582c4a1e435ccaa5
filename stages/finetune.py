"""Stage `finetune` (Level 2): fine-tune a BERT checkpoint for 3-class sentiment with the Trainer.

Dev macro-F1 picks the best epoch; that model and its tokenizer go to models/finetuned/ (usable
as-is by `pipeline()`, with provenance.json; it and dvclive/metrics.json carry this run's own
`run_id`, which evaluate copies into metrics/evaluate.json), per-epoch curves to dvclive/ (the
configuration's own loss, and plain cross-entropy against the gold labels on dev and on a fixed
train sample of dev's size: ja_sentiment/training.py). With `train.drop_label_issues: N`, the N
training rows that the `label_issues` stage ranks lowest are left out of training
(data/label_issues/ranking.csv). Epoch checkpoints (ja_sentiment/checkpoints.py) live in
build/finetune_checkpoints/ and are removed after a successful run.

Kill safety: a run killed at any point (SIGTERM, SIGKILL) can be rerun, and with `train.resume` it
continues from its last complete epoch checkpoint. A process whose launcher (torchrun, DVC) has died
stops instead of writing on as an orphan.

Distributed: runs unchanged under `torchrun --nproc_per_node=N -m stages.finetune` (DDP; gloo on CPU).
Every process trains; only the main one writes or deletes files (checkpoint dir preparation, DVCLive,
the saved model, provenance, clean-up) and prints, with barriers where the others must wait.
"""

from __future__ import annotations

import os
import shutil
import uuid
from functools import partial

import numpy as np
import torch
from dvclive import Live
from sklearn.utils.class_weight import compute_class_weight
from transformers import AutoTokenizer, DataCollatorWithPadding, EarlyStoppingCallback, set_seed

from ja_sentiment.checkpoints import prepare_checkpoints, remove_checkpoints
from ja_sentiment.data import FINETUNED_DIR as MODEL_DIR
from ja_sentiment.data import LABEL_ISSUES_FILE, read_split, write_json
from ja_sentiment.hardware import keep_freed_memory
from ja_sentiment.hub import hub_model
from ja_sentiment.label_issues import read_ranking
from ja_sentiment.params import ParamsError, load_params
from ja_sentiment.provenance import PROVENANCE, model_card
from ja_sentiment.training import (
    L2SP,
    LIVE_DIR,
    LIVE_KEYS,
    FinetuneTrainer,
    LiveCallback,
    WeightAverage,
    add_lora,
    average_or_best,
    compute_metrics,
    engagement,
    epoch_rows,
    freeze,
    load_model,
    make_loss,
    reinit_top_layers,
    stop_with_launcher,
    to_dataset,
    train_precision,
    train_sample,
    training_args,
)


def without_label_issues(frame, n_rows: int):
    """The training rows less the `n_rows` the label_issues stage ranks lowest (none when 0)."""
    if n_rows == 0:
        return frame, []
    ranking = read_ranking(LABEL_ISSUES_FILE)
    if len(ranking) < n_rows or n_rows >= len(frame):
        raise ParamsError(f"train.drop_label_issues: {n_rows} rows asked, but {LABEL_ISSUES_FILE} ranks "
                          f"{len(ranking)} of {len(frame)} training rows (see data/label_issues/meta.json)")
    dropped = ranking["id"].head(n_rows).tolist()
    return frame[~frame["id"].isin(dropped)], dropped


def main() -> None:
    params = load_params()
    train, names = params.train, params.preprocess.label_names
    precision = train_precision(train.precision)  # params errors before any heavy work
    if train.early_stopping_patience >= train.epochs:
        raise ParamsError(f"train.early_stopping_patience: {train.early_stopping_patience} can never stop "
                          f"a run of train.epochs={train.epochs}; use 0 (off) or fewer epochs")
    if train.average_checkpoints == 1 or train.average_checkpoints > train.epochs:
        raise ParamsError(f"train.average_checkpoints: {train.average_checkpoints} epochs cannot be averaged "
                          f"in a run of train.epochs={train.epochs}; use 0 (off) or 2 to {train.epochs}")
    stop_with_launcher()
    keep_freed_memory()  # fewer page faults per step (glibc); same results
    args = training_args(train, precision)
    state = args.distributed_state  # one process (no-op barriers) unless launched by torchrun
    main_process = state.is_main_process  # world rank 0: the only one that writes files or prints
    resume_from = prepare_checkpoints(train, names, state)
    set_seed(train.seed)  # before the model: the new classification head is randomly initialised
    with hub_model(train.checkpoint, train.revision):
        tokenizer = AutoTokenizer.from_pretrained(train.checkpoint, revision=train.revision,
                                                  trust_remote_code=False, model_max_length=train.max_length)
    # transformers 5 keeps how the tokenizer was loaded (is_local; local_files_only, true under
    # HF_HUB_OFFLINE) and writes it into the saved tokenizer_config.json: not a property of the model.
    for key in ("is_local", "local_files_only"):
        tokenizer.init_kwargs.pop(key, None)
    model = load_model(train, names)
    # after set_seed: the same new weights per seed
    reinitialised = reinit_top_layers(model, train.reinit_layers)
    # The base model as loaded: hub id, revision and the commit it resolved to, stand-in or not.
    card = model_card(train.checkpoint, train.revision)
    # run_id: this run's own, in dvclive/metrics.json and provenance.json; evaluate copies it into
    # metrics/evaluate.json, so that a study can tell that both files are of one run.
    base = {"run_id": uuid.uuid4().hex, "base_model": card["model"], "revision": card["revision"],
            "commit": card["commit"], "standin": card["standin"], "precision": precision}
    freeze(model, train.freeze_layers)
    # L2-SP's anchors: the weights as loaded (pre-trained), less the new head and re-initialised layers.
    l2_sp = L2SP(model, train.l2_sp, set(reinitialised)) if train.l2_sp else None
    if train.lora_rank:
        model = add_lora(model, train.lora_rank)
    frames = {split: read_split(split) for split in ("train", "dev")}
    sample = train_sample(frames["train"], len(frames["dev"]))  # before any row is left out: fixed
    full = frames["train"]
    frames["train"], dropped = without_label_issues(full, train.drop_label_issues)
    weights = None
    if train.class_weights == "balanced":
        y = frames["train"]["label"].to_numpy()
        weights = torch.tensor(compute_class_weight("balanced", classes=np.arange(len(names)), y=y),
                               dtype=torch.float32)
    # Log history and metrics are gathered across processes, so the main process alone logs them all.
    live = Live(dir=LIVE_DIR, dvcyaml=False, save_dvc_exp=False, report=None) if main_process else None
    callbacks = [LiveCallback(live)] if main_process else []
    averager = WeightAverage(train.average_checkpoints) if train.average_checkpoints else None
    if averager:
        callbacks.append(averager)
    stopper = None
    if train.early_stopping_patience:
        stopper = EarlyStoppingCallback(early_stopping_patience=train.early_stopping_patience)
        callbacks.append(stopper)
    loss_fn = make_loss(len(names), weights, train.label_smoothing)
    trainer = FinetuneTrainer(
        model=model, args=args, processing_class=tokenizer, data_collator=DataCollatorWithPadding(tokenizer),
        train_dataset=to_dataset(frames["train"], tokenizer, train.max_length, train.soft_labels),
        eval_dataset={"dev": to_dataset(frames["dev"], tokenizer, train.max_length, soft=False),  # gold
                      "train_sample": to_dataset(sample, tokenizer, train.max_length, soft=False)},
        compute_loss_func=loss_fn, compute_metrics=partial(compute_metrics, loss_fn=loss_fn),
        callbacks=callbacks, layer_lr_decay=train.layer_lr_decay,
        eval_batch_tokens=train.eval_batch_tokens, r_drop=train.r_drop, l2_sp=l2_sp)
    result = trainer.train(resume_from_checkpoint=resume_from)
    # Every process has loaded the best checkpoint (no barrier after that in the Trainer) before the
    # main one deletes anything.
    state.wait_for_everyone()
    rows = epoch_rows(trainer.state.log_history)
    best = next(r for r in rows if r["step"] == trainer.state.best_global_step)
    averaged = average_or_best(trainer, averager, best) if averager else None
    if averaged and averaged["kept"]:  # the average is the model kept: its dev scores, its last epoch
        best = {**best, "epoch": averaged["epochs"][-1],
                **{f"dev/{k}": value for k, value in averaged["dev"].items()}}
    if main_process:
        # metrics.json: the best epoch's row (the model that is kept), not the last epoch's.
        live.summary = {**base, "train": {"loss": best["train/loss"], "ce": best["train/ce"]},
                        "dev": {k.split("/")[1]: best[k] for k in LIVE_KEYS if k.startswith("dev/")},
                        "train_rows": len(frames["train"]), "dropped_label_issues": len(dropped),
                        "engaged": engagement(train, names, rows, model, trainer.optimizer,
                                              full.loc[full["id"].isin(dropped), "label"].to_numpy(),
                                              reinitialised, weights, stopped=stopper is not None and
                                              stopper.early_stopping_patience_counter
                                              >= train.early_stopping_patience, averaged=averaged),
                        # which GPUs this run could see (the study's pinned queue workers set it)
                        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                        "best_epoch": best["epoch"], "epochs_run": rows[-1]["epoch"],
                        "train_runtime_s": result.metrics["train_runtime"],  # this call's only, if resumed
                        "train_samples_per_second": result.metrics["train_samples_per_second"]}
        live.step = best["epoch"]
        live.end()
        shutil.rmtree(MODEL_DIR, ignore_errors=True)
    state.wait_for_everyone()
    if train.lora_rank:  # the adapters merged into the weights: a plain model for pipeline() and predict
        if main_process:
            trainer.model.merge_and_unload().save_pretrained(str(MODEL_DIR))
    else:
        trainer.save_model(str(MODEL_DIR))  # the kept weights (best epoch or the average); main one writes
    if main_process:
        tokenizer.save_pretrained(str(MODEL_DIR))
        write_json(MODEL_DIR / PROVENANCE, {**base, "best_epoch": best["epoch"], "dev_macro_f1":
                                            best["dev/macro_f1"], "params": train.model_dump(),
                                            "dropped_label_issues": dropped,
                                            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")})
        remove_checkpoints()
        print(f"best epoch {best['epoch']}/{rows[-1]['epoch']}: dev macro-F1 {best['dev/macro_f1']:.4f}, "
              f"accuracy {best['dev/accuracy']:.4f} ({precision}; base {card['model']} at {card['commit']}"
              f"{', a stand-in' if card['standin'] else ''}) -> {MODEL_DIR}")
    state.wait_for_everyone()
    if state.use_distributed:
        state.destroy_process_group()


if __name__ == "__main__":
    main()
