"""Throughput of the project's inference and training paths against the usual notebook recipes.

Everything runs side by side in one process, on one bert-base-sized model (the tohoku-nlp
bert-base-japanese-v3 architecture, randomly initialised: no hub) with a BertJapaneseTokenizer
(MeCab unidic-lite + WordPiece) whose vocabulary is learnt from the train split:

- tokenisation: the tokenizer on every text of the corpus (train + dev + test);
- inference on one split (test by default), texts -> class probabilities, tokenisation included:
  (a) the project path, `classify(load_text_classifier(...))`, evaluate's batch 128;
  (b) the notebook recipe: the whole split padded to its longest text, batches of 16 in order;
  (c) one text at a time, as in the corpus' example script;
  (p) `classify_batched`: `classify`'s batching with direct model calls instead of the
  pipeline (the pipeline's own overhead);
- training: optimiser steps of the project's finetune path (`stages.finetune`'s training_args,
  to_dataset, make_loss, DataCollatorWithPadding, group_by_length, batch 32) against the notebook
  recipe (whole train set padded to its longest text, batch 16, random order), fp32.

    python -m bench            # writes bench/results.json and bench/results.md

Wall clock, torch on 2 threads. Each path runs in several interleaved rounds and the best round
counts (for training: the best of each step over the rounds): on a shared machine other
processes take the cores now and then, and two OpenMP threads that wait on each other suffer far
more than the work itself; the least-disturbed round is the closest to an idle machine. Medians
and each round's CPU share (CPU seconds per wall second per thread: 1 on idle cores) are kept too.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

# Before tqdm is first imported (it reads TQDM_* then): no progress bars from the Trainer; the
# bench logs its own progress.
os.environ.setdefault("TQDM_DISABLE", "1")

from bench.e2e import bench_e2e
from bench.inference import bench_inference, bench_tokenisation
from bench.limit import limit_shares
from bench.model import ARCHITECTURE, MODEL_DIR, build_model
from bench.report import RATIOS, get, markdown, ratio
from bench.timing import _T0, cpu_name, log
from bench.training import bench_training
from ja_sentiment.data import SPLITS, read_split, split_path
from ja_sentiment.hardware import native_bf16
from ja_sentiment.params import TrainParams

OUT_DIR = Path("bench")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="test", choices=SPLITS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every inference path")
    parser.add_argument("--train-rounds", type=int, default=2, help="rounds of both training paths")
    parser.add_argument("--extra-batch-sizes", type=int, nargs="*", default=[],
                        help="further batch sizes tried on the project path")
    parser.add_argument("--extra-max-tokens", type=int, nargs="*", default=[1024],
                        help="further max_tokens budgets tried on the project path (where it has one)")
    parser.add_argument("--max-tokens", type=int, default=1024,
                        help="padded positions per batch of the direct path (p)")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                        help="also time bf16 autocast inference (default: where the CPU has native bf16)")
    parser.add_argument("--project-steps", type=int, default=20, help="timed steps, project training")
    parser.add_argument("--notebook-steps", type=int, default=8, help="timed steps, notebook training")
    parser.add_argument("--train-precision", default="auto", choices=["auto", "bf16", "fp32"],
                        help="the project training path's precision (auto: the default, bf16 where "
                             "native and faster)")
    parser.add_argument("--vocab-size", type=int, default=32768, help="WordPiece vocabulary asked for")
    parser.add_argument("--seed", type=int, default=0, help="model initialisation")
    parser.add_argument("--layers", type=int, default=ARCHITECTURE["num_hidden_layers"],
                        help="encoder layers (12 = bert-base; fewer only to try the bench out quickly)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild build/bench_model")
    parser.add_argument("--skip", nargs="*", default=[], choices=["tokenisation", "inference", "slow",
                                                                  "training", "e2e"],
                        help="parts left out (slow: inference paths (b) and (c); e2e: make smoke)")
    parser.add_argument("--shared-pn", type=Path, default=Path("../shared/data/jrte/pn.tsv"),
                        help="local pn.tsv for the end-to-end smoke run")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    missing = [str(split_path(s)) for s in SPLITS if not split_path(s).is_file()]
    if missing:  # a fresh clone: nothing processed yet
        raise SystemExit(f"bench: {', '.join(missing)} missing; run `make smoke` (offline, about a minute) "
                         "or `dvc repro preprocess` first")

    import torch
    import transformers

    torch.set_num_threads(args.threads)
    if args.bf16 is None:
        args.bf16 = native_bf16("cpu")
    max_length = TrainParams(checkpoint="-", revision="-").max_length
    meta = {"torch": torch.__version__, "transformers": transformers.__version__,
            "torch_threads": torch.get_num_threads(), "cpu": cpu_name(), "cpus": os.cpu_count(),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()], "argv": sys.argv[1:]}
    log(f"torch {torch.__version__} on {meta['torch_threads']} threads; load average {meta['loadavg_start']}")
    train_texts = read_split("train")["text"].tolist()
    architecture = {**ARCHITECTURE, "num_hidden_layers": args.layers}
    meta["model"] = {**build_model(train_texts, args.vocab_size, args.seed, args.rebuild, architecture),
                     "dir": str(MODEL_DIR), "architecture": architecture}
    res: dict = {"meta": meta}
    if "tokenisation" not in args.skip:
        res["tokenisation"] = bench_tokenisation(max(3, args.rounds), max_length)
    if "inference" not in args.skip:
        res["inference"] = bench_inference(args.split, args.rounds, max_length, args.extra_batch_sizes,
                                           args.extra_max_tokens, args.max_tokens, args.bf16,
                                           "slow" in args.skip)
        gc.collect()  # the pipeline's model
    if "training" not in args.skip:
        res["training"] = bench_training(args.train_rounds, args.project_steps, args.notebook_steps,
                                         args.train_precision)
    if "e2e" not in args.skip:
        if args.shared_pn.is_file():
            res["end_to_end"] = bench_e2e(args.shared_pn.resolve())
        else:
            log(f"end to end: skipped, {args.shared_pn} is absent")

    res["median_ratios"] = {}
    for key, (a, b, _) in RATIOS.items():
        res[key] = ratio(get(res, *a, "per_s"), get(res, *b, "per_s"))
        res["median_ratios"][key] = ratio(get(res, *a, "per_s_median"), get(res, *b, "per_s_median"))
    res["targets"] = {key: target for key, (_, _, target) in RATIOS.items()}
    inf = res.get("inference", {})
    res["inference_ratios"] = {
        name: {f"vs_{other}{suffix}": ratio(get(inf, name, key), get(inf, ref, key))
               for other, ref in (("padded", "notebook_padded"), ("one_by_one", "one_by_one"))
               for suffix, key in (("", "per_s"), ("_median", "per_s_median"))}
        for name in inf if isinstance(inf[name], dict) and "per_s" in inf[name]
        and name not in ("notebook_padded", "one_by_one")}
    if res.get("training") or res.get("inference"):  # the share of this machine's own matmul rate
        log("limit: the probe matmul's rate in each precision the paths ran in")
        res["limit"] = limit_shares(res, architecture)
    e2e = res.get("end_to_end", {})
    res["smoke_repro_s"], res["noop_repro_s"] = e2e.get("smoke_repro_s"), e2e.get("noop_repro_s")
    previous = args.out / "results.json"
    if previous.is_file():  # `make fullsize`'s part is its own: kept, not re-measured here
        kept = json.loads(previous.read_text(encoding="utf-8")).get("full_size")
        if kept:
            res["full_size"] = kept
    meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    meta["bench_wall_s"] = round(time.perf_counter() - _T0, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    previous.write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    table = markdown(res)
    (args.out / "results.md").write_text(table, encoding="utf-8")
    print("\n" + table)
    log(f"wrote {previous} and {args.out / 'results.md'}")


if __name__ == "__main__":
    main()
