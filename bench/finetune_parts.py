"""What the finetune stage spends besides training steps, at bert-base size, each part before and after.

    python -m bench.finetune_parts            # needs data/processed (make smoke or dvc repro preprocess)

On the bert-base-shaped stand-in of tohoku v3 (built here into build/finetune_parts, randomly
initialised, fp32), in one process, side by side:

- the per-epoch dev evaluation (1112 sentences) with the Trainer's own batches (eval_batch_size in
  dataset order: `train.eval_batch_tokens: 0`) and with the evaluate stage's token-budget batches
  (the default, 1024 positions): seconds, padded positions, and the metrics of both (they must agree);
- one AdamW step over all parameters, fused (what the Trainer builds: `optim=adamw_torch_fused`,
  also with layer-wise learning-rate groups) against torch's multi-tensor `foreach` implementation,
  median of 5;
- one epoch checkpoint write (weights + optimizer state, as the Trainer saves each epoch).

Writes bench/finetune_parts.json; docs/performance.md quotes it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from bench.timing import cpu_name, log


def significant(seconds: float) -> float:
    """Three significant digits: a fixed number of decimals rounds a tiny model's 0.4 ms step to 0."""
    return float(f"{seconds:.3g}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("build/finetune_parts"))
    parser.add_argument("--size", default="base", choices=["base", "tiny"])
    parser.add_argument("--shared-pn", type=Path, default=Path("../shared/data/jrte/pn.tsv"),
                        help="local pn.tsv (the stand-ins' vocabulary is learnt from its train split)")
    parser.add_argument("--out", type=Path, default=Path("bench/finetune_parts.json"))
    args = parser.parse_args(argv)
    from ja_sentiment.data import read_split, split_path

    if not split_path("dev").is_file():
        raise SystemExit(f"finetune_parts: {split_path('dev')} is missing; run `make smoke` or "
                         "`dvc repro preprocess` first")
    # The stand-ins in a process of its own: the hub client reads HF_HOME once, when first imported.
    subprocess.run([sys.executable, "-m", "ja_sentiment.tools.standins", "--data", str(args.shared_pn),
                    "--out", str(args.work), "--size", args.size], check=True)
    os.environ.update(HF_HOME=str((args.work / "hf").resolve()), HF_HUB_OFFLINE="1")

    import torch
    from transformers import AutoTokenizer, DataCollatorWithPadding

    from ja_sentiment import training
    from ja_sentiment.params import load_params

    params = load_params()
    train, names = params.train.model_copy(update={"eval_batch_size": 128}), params.preprocess.label_names
    out: dict = {"cpu": cpu_name(), "torch_threads": torch.get_num_threads(), "size": args.size,
                 "command": "python -m bench.finetune_parts"}
    tokenizer = AutoTokenizer.from_pretrained(train.checkpoint, revision=train.revision,
                                              model_max_length=train.max_length)
    model = training.load_model(train, names)
    dev = training.to_dataset(read_split("dev"), tokenizer, train.max_length, soft=False)
    loss_fn = training.make_loss(len(names), None, train.label_smoothing)
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        targs = training.training_args(train, "fp32")
        for budget in (0, 1024):
            trainer = training.FinetuneTrainer(
                model=model, args=targs, eval_dataset={"dev": dev},
                data_collator=DataCollatorWithPadding(tokenizer), compute_loss_func=loss_fn,
                compute_metrics=partial(training.compute_metrics, loss_fn=loss_fn), eval_batch_tokens=budget)
            positions = sum(b["input_ids"].numel() for b in trainer.get_eval_dataloader("dev"))
            start = time.perf_counter()
            metrics = trainer.evaluate()
            out[f"dev_eval_tokens_{budget}"] = {
                "s": round(time.perf_counter() - start, 1), "padded_positions": positions,
                **{k: metrics[f"eval_dev_{k}"] for k in ("ce", "row_loss", "accuracy", "macro_f1")}}
            log(f"dev evaluation, eval_batch_tokens={budget}: {out[f'dev_eval_tokens_{budget}']}")
        weights = [p for p in model.parameters() if p.requires_grad]
        for p in weights:
            p.grad = torch.randn_like(p) * 1e-3
        for kind in ("fused", "foreach"):
            optimizer = torch.optim.AdamW(weights, lr=1e-5, weight_decay=0.01, **{kind: True})
            optimizer.step()  # allocates the state
            times = []
            for _ in range(5):
                start = time.perf_counter()
                optimizer.step()
                times.append(time.perf_counter() - start)
            out[f"adamw_step_{kind}_s"] = significant(sorted(times)[2])
            log(f"AdamW step, {kind}: {out[f'adamw_step_{kind}_s']} s")
        start = time.perf_counter()
        model.save_pretrained("checkpoint")
        torch.save(optimizer.state_dict(), "checkpoint/optimizer.pt")
        out["checkpoint_write_s"] = significant(time.perf_counter() - start)
        out["checkpoint_mb"] = round(sum(f.stat().st_size for f in Path("checkpoint").iterdir()) / 2**20)
    out["parameters_m"] = round(sum(p.numel() for p in weights) / 1e6, 1)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
