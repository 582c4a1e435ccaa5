"""results.md: the tables of bench/results.json, as docs/performance.md shows them."""

from __future__ import annotations

from bench.recipes import NOTEBOOK_BATCH

# results.json key: (faster path, slower path, target). Every inference variant is also compared
# with (b) and (c) under "inference_ratios".
RATIOS = {"inference_vs_padded": (("inference", "project"), ("inference", "notebook_padded"), 6.0),
          "inference_vs_one_by_one": (("inference", "project"), ("inference", "one_by_one"), 2.5),
          "training_vs_padded": (("training", "project"), ("training", "notebook_padded"), 3.0),
          "training_fp32_vs_padded": (("training", "project_fp32"), ("training", "notebook_padded"), 3.0)}


def get(d: dict, *keys: str):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def fmt(value: float | None, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:.2f}{suffix}"


def markdown(res: dict) -> str:
    inf, tr, tok = res.get("inference", {}), res.get("training", {}), res.get("tokenisation", {})
    meta = res["meta"]
    on = f"{inf.get('split')} ({inf.get('texts')})"
    positions = inf.get("positions_computed", {})
    rows = [("Tokenisation, all splits", f"all ({tok.get('texts')})", tok, "texts/s",
             tok.get("tokenizer", ""))]

    def inf_row(label: str, key: str) -> None:
        if key in inf:
            pos = positions.get(key)
            rows.append((label, on, inf[key], "texts/s", "" if pos is None else f"{pos} positions"))

    for name, label in inf.get("labels", {}).items():
        inf_row(f"Inference {label}", name)
    project_bs = get(tr, "project", "batch_size")
    asked = tr.get("precision_asked", "auto")
    project = f"Training (a) project finetune path, batch {project_bs}"
    for key, label in (("project", f"{project}, {tr.get('precision')} (train.precision {asked})"),
                       ("project_fp32", f"{project}, fp32"),
                       ("notebook_padded", f"Training (b) notebook: all padded, batch {NOTEBOOK_BATCH}, "
                                           "fp32")):
        if key in tr and "same_run_as" not in tr[key]:  # fp32 by default: one row says it
            rows.append((label, f"{tr[key]['steps_timed']} steps", tr[key], "samples/s",
                         f"{tr[key]['padded_positions_per_sample']} positions/sample"))
    lines = ["| What | On | Throughput (best round) | Median round | Unit | CPU share by round | Note |",
             "|---|---|---:|---:|---|---|---|"]
    for label, where, d, unit, note in rows:
        shares = " / ".join(f"{s:.2f}" for s in d.get("rounds_cpu_share", []))
        lines.append(f"| {label} | {where} | {fmt(d.get('per_s'))} | {fmt(d.get('per_s_median'))} | {unit} | "
                     f"{shares} | {note} |")
    lines += ["", "| Ratio | Best rounds | Median rounds | Target |", "|---|---:|---:|---:|"]
    for key, (_, _, target) in RATIOS.items():
        lines.append(f"| `{key}` | {fmt(res.get(key), 'x')} | {fmt(get(res, 'median_ratios', key), 'x')} | "
                     f">= {target}x |")
    for name, r in res.get("inference_ratios", {}).items():
        if name != "project":
            for other, target in (("padded", 6.0), ("one_by_one", 2.5)):
                lines.append(f"| {name} vs {other} | {fmt(r.get(f'vs_{other}'), 'x')} | "
                             f"{fmt(r.get(f'vs_{other}_median'), 'x')} | >= {target}x |")
    for split, bound in inf.get("padding_bound_by_split", {}).items():
        lines.append(f"| padding bound, {split}: positions of (b) / real tokens | {fmt(bound, 'x')} | | |")
    limit = res.get("limit")
    if limit:
        rates = ", ".join(f"{p} {g:.1f}" for p, g in limit["machine_gflops"].items())
        lines += ["", f"| Share of this machine's matmul rate (probe {limit['probe']}: {rates} GFLOP/s) | "
                  "Positions/s | Achieved GFLOP/s | Share |", "|---|---:|---:|---:|"]
        for key, label in (("training_project", "Training (a) project path"),
                           ("training_project_fp32", "Training (a) project path"),
                           ("inference_project", "Inference (a) project path")):
            if key in limit:
                row = limit[key]
                lines.append(f"| {label}, {row['precision']} | {row['positions_per_s']:.1f} | "
                             f"{row['gflops']:.1f} | {row['share']:.0%} |")
    e2e = res.get("end_to_end")
    if e2e:
        agree = e2e["trained_model_precision"]
        lines += ["", f"| End to end, fresh clone of {e2e['commit']} | Measured | Target |",
                  "|---|---:|---:|",
                  f"| `{e2e['smoke_command']}`: tiny models, then {e2e['smoke_stages_run']} stages run | "
                  f"{e2e['smoke_repro_s']:.1f} s | < 300 s |",
                  f"| no-op `dvc repro` right after ({e2e['noop_stages_run']} stages run) | "
                  f"{e2e['noop_repro_s']:.2f} s | < 5 s |",
                  f"| smoke-trained model, test split, bf16 vs fp32: argmax agreement / max prob. diff | "
                  f"{agree['argmax_agreement']:.4f} / {agree['max_abs_prob_diff']:.1e} | |",
                  f"| same model, test accuracy fp32 / bf16 | {agree['accuracy_fp32']:.4f} / "
                  f"{agree['accuracy_bf16']:.4f} | |"]
    layers = get(meta, "model", "architecture", "num_hidden_layers")
    lines += ["", f"Model: {layers} encoder layers, hidden 768, random init. "
              f"torch {meta['torch']}, transformers {meta['transformers']}, "
              f"{meta['torch_threads']} torch threads on {meta['cpu']} ({meta['cpus']} CPUs); load average "
              f"{meta['loadavg_start']} at start, {meta.get('loadavg_end')} at end; bench wall time "
              f"{meta.get('bench_wall_s')}s. CPU share: CPU seconds per wall second per thread (1 on idle "
              "cores, less while other processes take them)."]
    return "\n".join(lines) + "\n"
