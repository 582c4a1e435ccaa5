"""Where a training step's time goes: torch.profiler over a few optimiser steps of a BERT classifier,
by operator, grouped into the parts of a step (matmuls, attention, layer norm, GELU, dropout, the loss,
autocast's casts, gradient clipping, the optimizer), in fp32 and under bf16 autocast on the CPU.

    python -m bench.profile                  (bert-base shape, batch 32, the bench's 20 padded lengths)
    python -m bench.profile --tokens 64 --steps 3       (one fixed padded length)
    python -m bench.profile --clip torch     (clip_grad_norm_'s own pass, as before the folded clipping)
    python -m bench.profile --layers 2 --hidden 64 --steps 2   (a quick look)
    python -m bench.profile --phases --clip torch folded   (each phase's wall time, unprofiled)
    python -m bench.profile --sweep 8 16 32 64 --steps 5   (seconds per step against batch positions:
                                             the fixed cost per step and the share it leaves)

The model is randomly initialised (no hub) with the project's architecture (bench/model.py) and each
batch random token ids of a padded shape: the step's compute as the finetune stage runs it (bf16
autocast, the Trainer's clipping at max_grad_norm 1 folded into AdamW fused as
training.clip_in_optimizer does it, gradients set to None after the step), without data loading or
collation, whose cost the bench measures separately (docs/performance.md)."""

from __future__ import annotations

import argparse
import re
import sys
import time
from contextlib import nullcontext

# The padded lengths of `make bench`'s 20 timed project steps at batch 32 (train split, the Trainer's
# group_by_length order with seed 42: bench/results.json's step_positions / 32): a typical window.
BENCH_LENGTHS = (39, 33, 28, 24, 22, 19, 17, 15, 13, 12, 11, 11, 10, 10, 10, 9, 9, 9, 9, 8)
PHASES = ("forward (under autocast in bf16)", "loss and backward", "gradient clipping",
          "optimizer step and zeroing the gradients")
# Parts of a step, by the profiler's operator names (first match wins); the rest is "other".
PARTS = (
    ("gradient clipping (the total norm; clip_grad_norm_'s multiplying pass)",
     r"_foreach_norm|linalg_vector_norm|_foreach_mul_|clip_grad"),
    ("optimizer (AdamW with its fp32 weights)", r"adam|Optimizer\.step|_foreach_|lerp|addcdiv|addcmul"),
    ("attention (scaled dot product, softmax)", r"scaled_dot_product|flash_attention|_efficient_attention"
                                                r"|softmax|_attention"),
    ("matmuls (linear layers, forward and backward)", r"addmm|aten::mm$|aten::bmm|matmul|aten::linear"
                                                      r"|mkldnn_linear|onednn"),
    ("layer norm", r"layer_norm"),
    ("GELU", r"gelu"),
    ("dropout", r"dropout|bernoulli|native_dropout"),
    ("loss (cross-entropy)", r"cross_entropy|nll_loss|log_softmax"),
    ("casts (autocast, dtype copies)", r"aten::to$|_to_copy|aten::copy_|aten::type_as"),
    ("embeddings", r"embedding"),
)


def part_of(name: str) -> str:
    for part, pattern in PARTS:
        if re.search(pattern, name, flags=re.IGNORECASE):
            return part
    return "other (element-wise, reductions, autograd bookkeeping)"


def build_step(precision: str, layers: int, hidden: int, seed: int = 0, clip: str = "folded"):
    """A randomly initialised BERT classifier and one training step on it as the finetune stage steps
    (bf16 autocast or fp32; clipping at 1: folded into fused AdamW as the stage does, torch's
    clip_grad_norm_, or none; gradients set to None after the optimizer), for a batch of token ids;
    the step, a maker of random batches, and the model's config."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from ja_sentiment.training import clip_in_optimizer

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=32768, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=max(1, hidden // 64), intermediate_size=4 * hidden, num_labels=3)
    model = BertForSequenceClassification(config).train()
    fused = {"fused": True} if "fused" in torch.optim.AdamW.__init__.__code__.co_varnames else {}
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-5, **fused)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()

    def step(ids, labels, clock: dict[str, float] | None = None) -> None:
        """One step; with `clock`, each phase's wall seconds are added to it (CPU ops are synchronous,
        so the phase boundaries are exact)."""
        marks = [time.perf_counter()]
        with autocast:
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        marks.append(time.perf_counter())
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        loss.backward()
        marks.append(time.perf_counter())
        if clip == "folded":
            clip_in_optimizer(optimizer, model.parameters(), 1.0)
        elif clip == "torch":
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        marks.append(time.perf_counter())
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        marks.append(time.perf_counter())
        if clock is not None:
            for phase, start, end in zip(PHASES, marks, marks[1:], strict=False):
                clock[phase] = clock.get(phase, 0.0) + end - start

    def batch_of(size: int, tokens: int):
        return torch.randint(5, config.vocab_size, (size, tokens)), torch.randint(0, 3, (size,))

    return step, batch_of, config


def profile_steps(precision: str, layers: int, hidden: int, batch: int, tokens: tuple[int, ...], steps: int,
                  seed: int = 0, clip: str = "folded") -> dict:
    """Time per part of a training step (each operator's own time on the calling thread: the parts
    sum to about the step's wall time), over `steps` profiled steps (the padded lengths `tokens` in
    turn) after one warm-up step; and the wall time per step."""
    from torch.profiler import ProfilerActivity, profile

    step, batch_of, _ = build_step(precision, layers, hidden, seed, clip)
    batches = [batch_of(batch, n) for n in tokens]
    step(*batches[0])  # warm-up: allocations, kernels chosen
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(steps):
            step(*batches[i % len(batches)])
    wall = (time.perf_counter() - start) / steps
    parts: dict[str, float] = {}
    for event in prof.key_averages():
        parts[part_of(event.key)] = parts.get(part_of(event.key), 0.0) + event.self_cpu_time_total
    total = sum(parts.values())
    return {"precision": precision, "clip": clip, "wall_s_per_step": wall, "steps": steps,
            "parts": {k: v / total for k, v in sorted(parts.items(), key=lambda kv: -kv[1])},
            "s_per_step": {k: v / 1e6 / steps for k, v in parts.items()},
            "top": [(e.key, e.self_cpu_time_total / total) for e in
                    sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:12]]}


def phase_times(precision: str, layers: int, hidden: int, batch: int, tokens: tuple[int, ...], steps: int,
                seed: int = 0, clip: str = "folded") -> dict:
    """Wall seconds per step in each phase of the step, without the profiler (whose own cost lands
    mostly on the many small copies and fills: in one process, 0.67-0.73 s per bf16 step in three
    unprofiled passes, then 0.94 s profiled), after one warm-up pass over the lengths."""
    step, batch_of, _ = build_step(precision, layers, hidden, seed, clip)
    batches = [batch_of(batch, n) for n in tokens]
    for b in batches:
        step(*b)
    clock: dict[str, float] = {}
    for i in range(steps):
        step(*batches[i % len(batches)], clock=clock)
    return {"precision": precision, "clip": clip, "phases": {k: v / steps for k, v in clock.items()},
            "wall_s_per_step": sum(clock.values()) / steps}


def fit_line(positions: list[float], seconds: list[float]) -> tuple[float, float]:
    """Least squares seconds = fixed + per_position x positions: (fixed, per_position)."""
    import numpy as np

    per_position, fixed = np.polyfit(np.asarray(positions, float), np.asarray(seconds, float), 1)
    return float(fixed), float(per_position)


def sweep(precision: str, layers: int, hidden: int, batch: int, lengths: tuple[int, ...], steps: int,
          probe_gflops: float, seed: int = 0) -> dict:
    """Wall seconds per step at each padded length (no profiler; `steps` after one warm-up each), the
    line fixed + per_position x positions through them, and what it implies for the bench's share:
    the matmul FLOPs of a step (bench.limit's count: 3 x forward) over its time x the probe's rate,
    at each length and as the batch grows without end (the per-position part alone)."""
    from bench.limit import forward_flops_per_position

    step, batch_of, config = build_step(precision, layers, hidden, seed)
    flops = 3 * forward_flops_per_position(config.to_dict())
    rows = []
    for n in lengths:
        ids, labels = batch_of(batch, n)
        step(ids, labels)  # warm-up at this shape
        start = time.perf_counter()
        for _ in range(steps):
            step(ids, labels)
        wall = (time.perf_counter() - start) / steps
        rows.append({"tokens": n, "positions": batch * n, "s_per_step": wall,
                     "share": flops * batch * n / wall / (probe_gflops * 1e9)})
    fixed, per_position = fit_line([r["positions"] for r in rows], [r["s_per_step"] for r in rows])
    return {"precision": precision, "rows": rows, "fixed_s": fixed, "per_position_s": per_position,
            "probe_gflops": probe_gflops,
            "share_without_fixed_cost": flops / per_position / (probe_gflops * 1e9)}


def table(results: list[dict]) -> str:
    """Per part: its share of the step's operator time and its seconds per step."""
    names = list(dict.fromkeys(k for r in results for k in r["parts"]))
    head = " | ".join(f"{r['precision']}, clip {r['clip']}: share (s/step)" for r in results)
    lines = [f"| part of a step | {head} |", "|---|" + "---|" * len(results)]
    for name in names:
        cells = " | ".join(f"{100 * r['parts'].get(name, 0):.1f}% ({r['s_per_step'].get(name, 0):.3f})"
                           for r in results)
        lines.append(f"| {name} | {cells} |")
    walls = " | ".join(f"{r['wall_s_per_step']:.2f} s" for r in results)
    lines.append(f"| wall time per step | {walls} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tokens", type=int, nargs="+", default=list(BENCH_LENGTHS),
                        help="padded tokens per text, one batch per value in turn (default: the bench's 20)")
    parser.add_argument("--steps", type=int, default=20, help="profiled steps per run (after a warm-up)")
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "bf16"),
                        help="default: fp32 and bf16 where the CPU has native bf16, else fp32 only")
    parser.add_argument("--clip", nargs="+", choices=("folded", "torch", "none"), default=["folded"],
                        help="gradient clipping: folded into AdamW (the stage's), clip_grad_norm_, none")
    parser.add_argument("--phases", action="store_true",
                        help="instead of the profile: each phase's wall time per step, unprofiled")
    parser.add_argument("--sweep", type=int, nargs="+", metavar="TOKENS",
                        help="instead of the profile: time steps at these padded lengths (e.g. 8 16 32 "
                             "64) and fit seconds = fixed + per position x positions")
    args = parser.parse_args(argv)
    if min(args.tokens + (args.sweep or [])) < 1 or args.steps < 1:
        parser.error("--tokens, --sweep and --steps at least 1")
    if args.precisions is None:
        from ja_sentiment.hardware import native_bf16

        args.precisions = ["fp32", "bf16"] if native_bf16("cpu") else ["fp32"]
        if len(args.precisions) == 1:
            print("profile: this CPU has no native bf16 (emulated bf16 would profile the emulation): the "
                  "fp32 path only; --precisions fp32 bf16 to profile both", file=sys.stderr)
    if args.phases:
        runs = [phase_times(p, args.layers, args.hidden, args.batch, tuple(args.tokens), args.steps, clip=c)
                for p in args.precisions for c in args.clip]
        print("| phase of a step | " + " | ".join(f"{r['precision']}, clip {r['clip']}" for r in runs) + " |")
        print("|---|" + "---:|" * len(runs))
        for phase in PHASES:
            print(f"| {phase} | " + " | ".join(f"{r['phases'][phase]:.3f} s" for r in runs) + " |")
        print("| wall time per step | " + " | ".join(f"{r['wall_s_per_step']:.3f} s" for r in runs) + " |")
        return
    if args.sweep:
        from bench.limit import matmul_gflops

        for precision in args.precisions:
            res = sweep(precision, args.layers, args.hidden, args.batch, tuple(args.sweep), args.steps,
                        matmul_gflops(precision))
            print(f"\n{precision}: probe {res['probe_gflops']} GFLOP/s; per step {res['fixed_s']:.3f} s "
                  f"fixed + {1e3 * res['per_position_s']:.3f} ms per padded position; share of the probe "
                  f"with no fixed cost: {100 * res['share_without_fixed_cost']:.0f}%")
            print("| padded tokens x batch | positions | s per step | share of the probe |\n"
                  "|---:|---:|---:|---:|")
            for row in res["rows"]:
                print(f"| {row['tokens']} x {args.batch} | {row['positions']} | {row['s_per_step']:.3f} | "
                      f"{100 * row['share']:.0f}% |")
        return
    results = []
    for precision in args.precisions:
        for clip in args.clip:
            print(f"profile: {precision}, clip {clip}, {args.layers} layers x {args.hidden}, batch "
                  f"{args.batch} x {args.tokens} tokens, {args.steps} steps", file=sys.stderr)
            results.append(profile_steps(precision, args.layers, args.hidden, args.batch, tuple(args.tokens),
                                         args.steps, clip=clip))
    print(table(results))
    for r in results:
        print(f"\n{r['precision']}, clip {r['clip']}: top operators by their own time")
        for name, frac in r["top"]:
            print(f"  {100 * frac:5.1f}%  {name}")


if __name__ == "__main__":
    main()
