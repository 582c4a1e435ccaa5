"""Where a training step's time goes: torch.profiler over a few optimiser steps of a BERT classifier,
by operator, grouped into the parts of a step (matmuls, attention, layer norm, GELU, dropout, the loss,
autocast's casts, the optimizer), in fp32 and under bf16 autocast on the CPU.

    python -m bench.profile                       (bert-base shape, batch 32 x 64 tokens, 3 steps each)
    python -m bench.profile --layers 2 --hidden 64 --steps 2   (a quick look)

The model is randomly initialised (no hub) with the project's architecture (bench/model.py) and the
batch random token ids of a fixed padded shape: the step's compute as the finetune stage runs it
(AdamW fused where torch has it, as the Trainer builds it), without data loading or collation, whose
cost the bench measures separately (docs/performance.md)."""

from __future__ import annotations

import argparse
import re
import sys
import time
from contextlib import nullcontext

# Parts of a step, by the profiler's operator names (first match wins); the rest is "other".
PARTS = (
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


def profile_steps(precision: str, layers: int, hidden: int, batch: int, tokens: int, steps: int,
                  seed: int = 0) -> dict:
    """Self CPU time per part of a training step, summed over `steps` profiled steps after one
    warm-up step; and the wall time per step."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=32768, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=max(1, hidden // 64), intermediate_size=4 * hidden, num_labels=3)
    model = BertForSequenceClassification(config).train()
    fused = {"fused": True} if "fused" in torch.optim.AdamW.__init__.__code__.co_varnames else {}
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-5, **fused)
    ids = torch.randint(5, config.vocab_size, (batch, tokens))
    labels = torch.randint(0, 3, (batch,))
    mask = torch.ones_like(ids)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()

    def step() -> None:
        with autocast:
            logits = model(input_ids=ids, attention_mask=mask).logits
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up: allocations, kernels chosen
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    wall = (time.perf_counter() - start) / steps
    parts: dict[str, float] = {}
    for event in prof.key_averages():
        parts[part_of(event.key)] = parts.get(part_of(event.key), 0.0) + event.self_cpu_time_total
    total = sum(parts.values())
    return {"precision": precision, "wall_s_per_step": wall, "steps": steps,
            "parts": {k: v / total for k, v in sorted(parts.items(), key=lambda kv: -kv[1])},
            "top": [(e.key, e.self_cpu_time_total / total) for e in
                    sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:12]]}


def table(results: list[dict]) -> str:
    names = list(dict.fromkeys(k for r in results for k in r["parts"]))
    head = " | ".join(f"{r['precision']} (share of self CPU time)" for r in results)
    lines = [f"| part of a step | {head} |", "|---|" + "---|" * len(results)]
    for name in names:
        cells = " | ".join(f"{100 * r['parts'].get(name, 0):.1f}%" for r in results)
        lines.append(f"| {name} | {cells} |")
    walls = " | ".join(f"{r['wall_s_per_step']:.2f} s" for r in results)
    lines.append(f"| wall time per step | {walls} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=64, help="padded tokens per text")
    parser.add_argument("--steps", type=int, default=3, help="profiled steps per precision (after a warm-up)")
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "bf16"), default=["fp32", "bf16"])
    args = parser.parse_args(argv)
    results = []
    for precision in args.precisions:
        print(f"profile: {precision}, {args.layers} layers x {args.hidden}, batch {args.batch} x "
              f"{args.tokens}, {args.steps} steps", file=sys.stderr)
        results.append(profile_steps(precision, args.layers, args.hidden, args.batch, args.tokens,
                                     args.steps))
    print(table(results))
    for r in results:
        print(f"\n{r['precision']}: top operators by self CPU time")
        for name, frac in r["top"]:
            print(f"  {100 * frac:5.1f}%  {name}")


if __name__ == "__main__":
    main()
