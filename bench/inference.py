"""Inference and tokenisation benchmarks: every path on the same split, in interleaved rounds."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import numpy as np

from bench.model import MODEL_DIR
from bench.recipes import classify_batched, notebook_predict, one_by_one_predict
from bench.timing import Clock, log, rounds_summary, share, threads
from ja_sentiment.batching import token_batches
from ja_sentiment.data import SPLITS, read_split
from ja_sentiment.inference import classify, inference_precision
from ja_sentiment.models import load_text_classifier
from ja_sentiment.params import EvaluateParams


def classify_keywords() -> dict:
    """`classify`'s optional keywords and their defaults (they change as the project does)."""
    return {name: p.default for name, p in inspect.signature(classify).parameters.items()
            if p.default is not inspect.Parameter.empty}


def project_classify(pipe, texts: Sequence[str], batch_size: int, max_length: int, max_tokens: int,
                     bf16: bool = False) -> np.ndarray:
    """(a) `classify` as the evaluate stage calls it, without the progress bar."""
    return classify(pipe, texts, batch_size, max_length, progress=False, max_tokens=max_tokens,
                           bf16=bf16)


def padded_positions(lengths: np.ndarray, groups: list[np.ndarray]) -> int:
    """Positions the model computes when each group is padded to its longest text."""
    return int(sum(len(g) * lengths[g].max() for g in groups))


def fixed_batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def agreement(ref: np.ndarray, other: np.ndarray) -> dict:
    return {"max_abs_prob_diff": float(np.abs(ref - other).max()),
            "argmax_agreement": float((ref.argmax(1) == other.argmax(1)).mean())}


def token_lengths(tokenizer, texts: Sequence[str], max_length: int) -> np.ndarray:
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    return np.array([len(x) for x in encoded["input_ids"]])


def bench_inference(split: str, rounds: int, max_length: int, extra_batch_sizes: list[int],
                    extra_max_tokens: list[int], max_tokens: int, bf16: bool, skip_slow: bool) -> dict:
    texts = read_split(split)["text"].tolist()
    n = len(texts)
    log(f"inference: {n} {split} texts; loading the pipeline")
    pipe = load_text_classifier(str(MODEL_DIR), "main", max_length)
    model, tokenizer = pipe.model, pipe.tokenizer
    model.eval()
    lengths = token_lengths(tokenizer, texts, max_length)
    # evaluate's settings, from the schema's defaults (= params.yaml's committed values).
    evaluate = EvaluateParams()
    batch_size, budget = evaluate.batch_size, evaluate.batch_tokens
    # The precision evaluate runs in by default: `auto` resolves per machine (bf16 where native and faster).
    precision = inference_precision(evaluate.precision, model.device.type)
    default_bf16 = precision == "bf16"

    def project_positions(bs: int, mt: int) -> int:
        return padded_positions(lengths, token_batches(lengths.tolist(), bs, mt))

    def limits(bs: int, mt: int) -> str:
        return f"<= {bs} texts, <= {mt} positions"

    # name: (label, texts -> probabilities, positions fed to the model: texts x padded length).
    specs: dict[str, tuple[str, Callable[[Sequence[str]], np.ndarray], int]] = {
        "project": (f"(a) project `classify`, evaluate's defaults: {limits(batch_size, budget)}, "
                    + ("bf16 autocast (auto: native and faster bf16 here)" if default_bf16 else "fp32"),
                    lambda t: project_classify(pipe, t, batch_size, max_length, budget, bf16=default_bf16),
                    project_positions(batch_size, budget))}
    if default_bf16:
        specs["project_fp32"] = (f"(a) project `classify`, evaluate's defaults but precision fp32: "
                                 f"{limits(batch_size, budget)}",
                                 lambda t: project_classify(pipe, t, batch_size, max_length, budget),
                                 project_positions(batch_size, budget))
    for mt in extra_max_tokens:
        if mt != budget:
            specs[f"project_mt{mt}"] = (
                f"(a) project `classify`, {limits(batch_size, mt)}, fp32",
                lambda t, mt=mt: project_classify(pipe, t, batch_size, max_length, mt),
                project_positions(batch_size, mt))
            if bf16:
                specs[f"project_mt{mt}_bf16"] = (
                    f"(a) project `classify`, {limits(batch_size, mt)}, bf16 autocast (not fp32)",
                    lambda t, mt=mt: project_classify(pipe, t, batch_size, max_length, mt, bf16=True),
                    project_positions(batch_size, mt))
    for bs in extra_batch_sizes:
        specs[f"project_bs{bs}"] = (f"(a) project `classify`, {limits(bs, budget)}, fp32",
                                    lambda t, bs=bs: project_classify(pipe, t, bs, max_length, budget),
                                    project_positions(bs, budget))
    specs["proposed"] = (f"(p) direct model calls, no pipeline: {limits(batch_size, max_tokens)}, fp32",
                         lambda t: classify_batched(pipe, t, batch_size, max_length, progress=False,
                                                    max_tokens=max_tokens),
                         project_positions(batch_size, max_tokens))
    if not skip_slow:
        specs["notebook_padded"] = ("(b) notebook: whole split padded to its longest, batch 16",
                                    lambda t: notebook_predict(model, tokenizer, t), int(n * lengths.max()))
        specs["one_by_one"] = ("(c) one text at a time", lambda t: one_by_one_predict(model, tokenizer, t),
                               int(lengths.sum()))
    paths = {name: fn for name, (_, fn, _) in specs.items()}
    out: dict = {"split": split, "texts": n, "max_length": max_length, "batch_size": batch_size,
                 "project_classify_keywords": {k: v for k, v in classify_keywords().items()
                                               if isinstance(v, int | float | str | bool)},
                 "evaluate_defaults": evaluate.model_dump(), "project_precision": precision,
                 "rounds": rounds,
                 "model_parameters": sum(p.numel() for p in model.parameters()),
                 "token_lengths": {"mean": round(float(lengths.mean()), 2),
                                   "median": float(np.median(lengths)), "max": int(lengths.max())},
                 "labels": {name: label for name, (label, _, _) in specs.items()},
                 "positions_computed": {"exact": int(lengths.sum()),
                                        **{name: pos for name, (_, _, pos) in specs.items()}},
                 "padding_bound_by_split": {}}
    # The most that padding alone can make (b) cost over a path that pads nothing, per split.
    for other in SPLITS:
        other_lengths = lengths if other == split else token_lengths(
            tokenizer, read_split(other)["text"].tolist(), max_length)
        out["padding_bound_by_split"][other] = round(len(other_lengths) * other_lengths.max()
                                                     / other_lengths.sum(), 2)

    log(f"inference: warm-up of {', '.join(paths)}")
    for fn in paths.values():
        fn(texts[:48])
    names = list(paths)
    walls: dict[str, list[float]] = {k: [] for k in names}
    cpus: dict[str, list[float]] = {k: [] for k in names}
    probs: dict[str, np.ndarray] = {}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:  # each round starts elsewhere
            with Clock() as c:
                probs[name] = paths[name](texts)
            walls[name].append(c.wall)
            cpus[name].append(c.cpu)
            log(f"inference round {r + 1}/{rounds} {name:>15}: {n / c.wall:6.1f} texts/s ({c.wall:5.1f}s, "
                f"CPU share {share(c.cpu, c.wall)})")
    # Agreement with the fp32 project path. On a random model a bf16 argmax flip says little about
    # a trained one (other margins); bench_e2e measures bf16 against fp32 on a trained model.
    ref = "project_fp32" if "project_fp32" in names else "project"
    out["agreement_reference"] = ref
    for name in names:
        out[name] = rounds_summary(n, walls[name], cpus[name])
        if name != ref:
            out[name]["vs_reference"] = agreement(probs[ref], probs[name])
    out["torch_threads"] = threads()
    return out


def bench_tokenisation(rounds: int, max_length: int) -> dict:
    from transformers import AutoTokenizer

    texts = [t for split in SPLITS for t in read_split(split)["text"]]
    tokenizer = AutoTokenizer.from_pretrained(str(MODEL_DIR), model_max_length=max_length)
    tokenizer(texts[:100], truncation=True, max_length=max_length)
    walls, cpus = [], []
    for _ in range(rounds):
        with Clock() as c:
            tokenizer(texts, truncation=True, max_length=max_length)
        walls.append(c.wall)
        cpus.append(c.cpu)
    out = {"texts": len(texts), "tokenizer": type(tokenizer).__name__,
           "fast": bool(getattr(tokenizer, "is_fast", False)), **rounds_summary(len(texts), walls, cpus)}
    log(f"tokenisation: {out['per_s']:.0f} texts/s ({type(tokenizer).__name__}, one Python process)")
    return out
