"""How near the project's training and inference paths come to this machine's own limit.

The limit is measured here, not looked up: the rate of one BERT-base feed-forward matmul (1024 tokens x
768 -> 3072, the shape that dominates the model's work) in each precision the paths run in. A path's
achieved rate counts the encoder's matmul FLOPs per padded position (2 x the weights of its attention
and feed-forward projections, per layer, forward; training 3x that: forward, and backward to inputs
and to weights) times the padded positions it processed per second. Attention scores, embeddings,
softmax, norms and the optimizer are work the count leaves out, so the share is a lower bound on how
busy the matmul units were, and "close to the limit" becomes a figure on any machine.
"""

from __future__ import annotations

import time

PROBE = (1024, 768, 3072)


def matmul_gflops(precision: str, seconds: float = 2.0, rounds: int = 6) -> float:
    """GFLOP/s of the probe matmul in fp32 or bf16 on this machine (best of `rounds` windows)."""
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    m, k, n = PROBE
    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    a @ b  # first-call kernel selection
    best = 0.0
    for _ in range(rounds):
        calls, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / rounds:
            a @ b
            calls += 1
        best = max(best, 2 * m * k * n * calls / elapsed / 1e9)
    return round(best, 1)


def forward_flops_per_position(architecture: dict) -> int:
    """Matmul FLOPs of one padded position through the encoder, forward: Q, K, V, output projections
    (4 d^2) and the feed-forward pair (2 d ff), 2 FLOPs per weight, per layer."""
    d, ff = architecture["hidden_size"], architecture["intermediate_size"]
    return 2 * architecture["num_hidden_layers"] * (4 * d * d + 2 * d * ff)


def limit_shares(res: dict, architecture: dict) -> dict:
    """The machine's probe rates, and each path's achieved GFLOP/s and share of the rate of its precision."""
    fwd = forward_flops_per_position(architecture)
    tr, inf = res.get("training", {}), res.get("inference", {})
    needed = {tr[k]["precision"] for k in ("project", "project_fp32") if k in tr}
    if "project" in inf:
        needed.add(inf.get("project_precision", "fp32"))
    machine = {p: matmul_gflops(p) for p in sorted(needed | {"fp32"})}
    out: dict = {"probe": "x".join(map(str, PROBE)), "machine_gflops": machine,
                 "forward_flops_per_position": fwd}

    def row(precision: str, positions: float, passes: int) -> dict:
        achieved = passes * fwd * positions / 1e9
        return {"precision": precision, "positions_per_s": round(positions, 1), "gflops": round(achieved, 1),
                "share": round(achieved / machine[precision], 3)}

    for key in ("project", "project_fp32"):
        if key in tr and "per_s" in tr[key] and "same_run_as" not in tr[key]:  # fp32 default: one row
            positions = tr[key]["per_s"] * tr[key]["padded_positions_per_sample"]
            out[f"training_{key}"] = row(tr[key]["precision"], positions, 3)
    if "project" in inf and "per_s" in inf["project"]:
        positions = inf["project"]["per_s"] * inf["positions_computed"]["project"] / inf["texts"]
        out["inference_project"] = row(inf.get("project_precision", "fp32"), positions, 1)
    return out
