"""Throughput of the project's inference and training paths against the usual notebook recipes.

Everything runs side by side in one process, on one bert-base-sized model (the tohoku-nlp
bert-base-japanese-v3 architecture, randomly initialised: no hub) with a BertJapaneseTokenizer
(MeCab unidic-lite + WordPiece) whose vocabulary is learnt from the train split:

- tokenisation: the tokenizer on every text of the corpus (train + dev + test);
- inference on one split (test by default), texts -> class probabilities, tokenisation included:
  (a) the project path, `common.classify(common.load_text_classifier(...))`, evaluate's batch 128;
  (b) the notebook recipe: the whole split padded to its longest text, batches of 16 in order;
  (c) one text at a time, as in the corpus' example script;
  (p) `classify_batched`: `common.classify`'s batching with direct model calls instead of the
  pipeline (the pipeline's own overhead);
- training: optimiser steps of the project's finetune path (`stages.finetune`'s training_args,
  to_dataset, make_loss, DataCollatorWithPadding, group_by_length, batch 32) against the notebook
  recipe (whole train set padded to its longest text, batch 16, random order), fp32.

    python -m bench.bench            # writes bench/results.json and bench/results.md

Wall clock, torch on 2 threads. Each path runs in several interleaved rounds and the best round
counts (for training: the best of each step over the rounds): on a shared machine other
processes take the cores now and then, and two OpenMP threads that wait on each other suffer far
more than the work itself; the least-disturbed round is the closest to an idle machine. Medians
and each round's CPU share (CPU seconds per wall second per thread: 1 on idle cores) are kept too.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import hashlib
import inspect
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# Before tqdm is first imported (it reads TQDM_* then): no progress bars from the Trainer; the
# bench logs its own progress.
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np

from stages import common
from stages.tiny_models import MECAB, train_vocab

MODEL_DIR = Path("build/bench_model")
TRAINER_DIR = Path("build/bench_trainer")
OUT_DIR = Path("bench")
STAMP = "bench_stamp.json"
LABELS = ("negative", "neutral", "positive")
# tohoku-nlp/bert-base-japanese-v3's config.json (architecture only; the weights are random).
ARCHITECTURE = dict(vocab_size=32768, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2,
                    hidden_act="gelu", layer_norm_eps=1e-12)
NOTEBOOK_BATCH = 16
# results.json key: (faster path, slower path, target). Every inference variant is also compared
# with (b) and (c) under "inference_ratios".
RATIOS = {"inference_vs_padded": (("inference", "project"), ("inference", "notebook_padded"), 6.0),
          "inference_vs_one_by_one": (("inference", "project"), ("inference", "one_by_one"), 2.5),
          "training_vs_padded": (("training", "project"), ("training", "notebook_padded"), 3.0)}

_T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:6.1f}s] {msg}", flush=True)


class Clock:
    """Wall and process CPU time (all threads) of a `with` block."""

    def __enter__(self) -> Clock:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall0, time.process_time() - self.cpu0


def threads() -> int:
    import torch

    return torch.get_num_threads()


def share(cpu: float, wall: float) -> float:
    """CPU seconds per wall second per torch thread: about 1 on idle cores."""
    return round(cpu / wall / threads(), 2)


def rounds_summary(n: int, walls: list[float], cpus: list[float]) -> dict:
    """Throughput of the best (least-disturbed) round, and of the median one."""
    best = int(np.argmin(walls))
    return {"per_s": round(n / walls[best], 2), "per_s_median": round(n / statistics.median(walls), 2),
            "wall_s": round(walls[best], 3), "cpu_share": share(cpus[best], walls[best]),
            "rounds_wall_s": [round(w, 3) for w in walls],
            "rounds_cpu_share": [share(c, w) for c, w in zip(cpus, walls, strict=True)]}


# --- the model ----------------------------------------------------------------------------------


def build_model(train_texts: list[str], vocab_size: int, seed: int, rebuild: bool,
                architecture: dict = ARCHITECTURE) -> dict:
    """bert-base (v3 architecture, seeded random init) + MeCab/WordPiece tokenizer in MODEL_DIR.

    Reused while the train texts, vocabulary size asked for, architecture and seed are the same:
    `train_vocab` (tokenizers' WordPiece trainer) breaks ties differently from run to run, so a
    rebuild can differ by a token or two of vocabulary; reusing keeps repeated runs on one input.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertJapaneseTokenizer

    config = {**architecture, "num_labels": len(LABELS), "id2label": dict(enumerate(LABELS)),
              "label2id": {n: i for i, n in enumerate(LABELS)}}
    stamp = {"train_texts_sha256": hashlib.sha256("\n".join(train_texts).encode()).hexdigest(),
             "vocab_size_asked": vocab_size, "seed": seed, "config": json.loads(json.dumps(config))}
    stamp_file = MODEL_DIR / STAMP
    if not rebuild and stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp:
        log(f"model: reusing {MODEL_DIR}")
    else:
        vocab = train_vocab(train_texts, vocab_size)
        log(f"model: building {MODEL_DIR} (vocab {len(vocab)}, seed {seed})")
        with tempfile.TemporaryDirectory() as tmp:
            vocab_file = Path(tmp) / "vocab.txt"
            vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
            tokenizer = BertJapaneseTokenizer(str(vocab_file), word_tokenizer_type="mecab",
                                              subword_tokenizer_type="wordpiece", mecab_kwargs=MECAB,
                                              model_max_length=512)
        torch.manual_seed(seed)
        model = BertForSequenceClassification(BertConfig(**config))
        stamp_file.unlink(missing_ok=True)
        model.save_pretrained(MODEL_DIR)
        tokenizer.save_pretrained(MODEL_DIR)
        stamp_file.write_text(json.dumps(stamp, indent=2) + "\n")
        del model
    vocab_text = (MODEL_DIR / "vocab.txt").read_text(encoding="utf-8")
    return {"tokenizer_vocab": len(vocab_text.splitlines()), "embedding_rows": architecture["vocab_size"],
            "vocab_sha256": hashlib.sha256(vocab_text.encode()).hexdigest(), "seed": seed}


# --- inference paths ----------------------------------------------------------------------------


def classify_keywords() -> dict:
    """`common.classify`'s optional keywords and their defaults (they change as the project does)."""
    return {name: p.default for name, p in inspect.signature(common.classify).parameters.items()
            if p.default is not inspect.Parameter.empty}


def project_classify(pipe, texts: Sequence[str], batch_size: int, max_length: int, max_tokens: int,
                     bf16: bool = False) -> np.ndarray:
    """(a) `common.classify` as the evaluate stage calls it, without the progress bar."""
    return common.classify(pipe, texts, batch_size, max_length, progress=False, max_tokens=max_tokens,
                           bf16=bf16)


def scores(logits, config):
    """What the text-classification pipeline applies to logits: sigmoid, softmax or nothing."""
    import torch

    if config.problem_type == "regression":
        return logits
    if config.problem_type == "multi_label_classification" or config.num_labels == 1:
        return torch.sigmoid(logits)
    return logits.softmax(-1)


def classify_batched(pipe, texts: Sequence[str], batch_size: int, max_length: int, desc: str = "classify",
                     progress: bool = True, max_tokens: int = 2048, bf16: bool = False) -> np.ndarray:
    """(p) Proposed body of `common.classify` (same signature and result, one keyword more): one
    tokeniser call for the whole list, then batches of similar token counts each padded to its own
    longest, capped at `max_tokens` padded positions so the few long texts do not pad a whole
    batch of `batch_size` to their length; under inference_mode, no per-text pipeline steps."""
    import torch
    from tqdm.auto import tqdm

    tokenizer, model = pipe.tokenizer, pipe.model
    probs = np.zeros((len(texts), model.config.num_labels), dtype=np.float64)
    if not len(texts):
        return probs
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    keys = list(encoded.keys())
    autocast = torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16)
    with (torch.inference_mode(), autocast,
          tqdm(total=len(texts), desc=desc, file=sys.stderr, disable=not progress) as bar):
        for rows in common.token_batches([len(ids) for ids in encoded["input_ids"]], batch_size, max_tokens):
            batch = tokenizer.pad([{k: encoded[k][i] for k in keys} for i in rows], return_tensors="pt")
            logits = model(**batch.to(model.device)).logits.float()
            probs[rows] = scores(logits, model.config).cpu().numpy()
            bar.update(len(rows))
    return probs


def notebook_predict(model, tokenizer, texts: Sequence[str]) -> np.ndarray:
    """(b) The notebook recipe: pad the whole list to its longest text, then batches of 16 in order."""
    import torch

    encoded = tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
    out = []
    with torch.no_grad():
        for start in range(0, len(texts), NOTEBOOK_BATCH):
            logits = model(**{k: v[start:start + NOTEBOOK_BATCH] for k, v in encoded.items()}).logits
            out.append(logits.softmax(-1))
    return torch.cat(out).numpy().astype(np.float64)


def one_by_one_predict(model, tokenizer, texts: Sequence[str]) -> np.ndarray:
    """(c) The corpus' example script: for each text, tokenizer -> model -> argmax."""
    import torch

    out = []
    with torch.no_grad():
        for text in texts:
            inputs = tokenizer(text, return_tensors="pt")
            logits = model(**inputs).logits
            int(logits.argmax(-1))
            out.append(logits.softmax(-1)[0])
    return torch.stack(out).numpy().astype(np.float64)


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
    texts = common.read_split(split)["text"].tolist()
    n = len(texts)
    log(f"inference: {n} {split} texts; loading the pipeline")
    pipe = common.load_text_classifier(str(MODEL_DIR), "main", max_length)
    model, tokenizer = pipe.model, pipe.tokenizer
    model.eval()
    lengths = token_lengths(tokenizer, texts, max_length)
    # evaluate's settings, from the schema's defaults (= params.yaml's committed values).
    evaluate = common.EvaluateParams()
    batch_size, budget = evaluate.batch_size, evaluate.batch_tokens
    # The precision evaluate runs in by default: `auto` resolves per machine (bf16 where native).
    precision = common.inference_precision(evaluate.precision, model.device.type)
    default_bf16 = precision == "bf16"

    def project_positions(bs: int, mt: int) -> int:
        return padded_positions(lengths, common.token_batches(lengths.tolist(), bs, mt))

    def limits(bs: int, mt: int) -> str:
        return f"<= {bs} texts, <= {mt} positions"

    # name: (label, texts -> probabilities, positions fed to the model: texts x padded length).
    specs: dict[str, tuple[str, Callable[[Sequence[str]], np.ndarray], int]] = {
        "project": (f"(a) project `classify`, evaluate's defaults: {limits(batch_size, budget)}, "
                    + ("bf16 autocast (auto on a CPU with native bf16)" if default_bf16 else "fp32"),
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
    for other in common.SPLITS:
        other_lengths = lengths if other == split else token_lengths(
            tokenizer, common.read_split(other)["text"].tolist(), max_length)
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


# --- tokenisation -------------------------------------------------------------------------------


def bench_tokenisation(rounds: int, max_length: int) -> dict:
    from transformers import AutoTokenizer

    texts = [t for split in common.SPLITS for t in common.read_split(split)["text"]]
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


# --- end to end ---------------------------------------------------------------------------------


def bench_e2e(shared_pn: Path) -> dict:
    """`make smoke` (tiny models built, then `dvc exp run` of every stage) in a fresh clone of
    HEAD, then a no-op `dvc repro` there; and, on the model that smoke run trained, fp32 against
    bf16 inference on the test split (the precision question on a trained model's logits)."""
    venv = Path(sys.executable).parent.parent
    # `-o`: the clone's requirements files are newer than the venv's stamp; never reinstall.
    make = ["make", "-o", str(venv / "bin" / ".installed"), f"VENV={venv}", f"SHARED_PN={shared_pn}"]
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(Path(__file__).resolve().parent.parent), str(clone)],
                       check=True)
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, check=True,
                              capture_output=True, text=True).stdout.strip()
        log(f"end to end: make smoke in a clone of {head}")
        timed = {}
        for name, cmd in (("smoke", [*make, "smoke"]), ("noop", ["dvc", "repro"])):
            with Clock() as c:
                proc = subprocess.run(cmd, cwd=clone, env=env, capture_output=True, text=True)
            if proc.returncode:
                raise SystemExit(f"bench: {' '.join(cmd)} failed in the clone:\n{proc.stderr[-3000:]}")
            timed[name] = (c.wall, proc.stdout + proc.stderr)
            log(f"end to end: {name} {c.wall:.1f}s")
        out = {"commit": head, "smoke_command": "make smoke", "smoke_repro_s": round(timed["smoke"][0], 1),
               "smoke_stages_run": timed["smoke"][1].count("Running stage"),
               "noop_repro_s": round(timed["noop"][0], 2),
               "noop_stages_run": timed["noop"][1].count("Running stage")}
        out["trained_model_precision"] = precision_agreement(clone)
    return out


def precision_agreement(clone: Path) -> dict:
    """fp32 vs bf16 autocast `classify` of the test split with the smoke run's fine-tuned model."""
    from stages.evaluate import MODEL_DIR as FINETUNED
    from stages.evaluate import max_length_of, read_provenance

    with contextlib.chdir(clone):  # the stages' paths are relative to the project root
        frame = common.read_split("test")
        max_length = max_length_of(read_provenance())
        pipe = common.load_text_classifier(str(FINETUNED), "main", max_length)
    names = [pipe.model.config.id2label[i] for i in range(pipe.model.config.num_labels)]
    gold = frame["label_name"].map(names.index).to_numpy()
    cfg = common.EvaluateParams()  # evaluate's batching
    probs = {p: common.classify(pipe, frame["text"].tolist(), cfg.batch_size, max_length, progress=False,
                                max_tokens=cfg.batch_tokens, bf16=p == "bf16")
             for p in ("fp32", "bf16")}
    return {"model": "smoke run's models/finetuned (tiny BERT, 3 epochs)", "texts": len(frame),
            **agreement(probs["fp32"], probs["bf16"]),
            **{f"accuracy_{p}": round(float((pr.argmax(1) == gold).mean()), 4) for p, pr in probs.items()}}


# --- training -----------------------------------------------------------------------------------


def bench_training(rounds: int, project_steps: int, notebook_steps: int) -> dict:
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        set_seed,
    )
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from stages.finetune import load_model, make_loss, mixed_precision, to_dataset, training_args

    # The schema's defaults are params.yaml's committed values; params.yaml itself is not read, as a
    # `dvc exp run -S ...` in the same workspace may have rewritten it for the time being.
    train = common.TrainParams(checkpoint=str(MODEL_DIR), revision="main")
    frame = common.read_split("train")

    class Recorder:
        """The collator, noting the padded shape of every batch it makes."""

        def __init__(self, inner) -> None:
            self.inner, self.shapes = inner, []

        def __call__(self, features):
            batch = self.inner(features)
            self.shapes.append(tuple(batch["input_ids"].shape))
            return batch

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.ends: list[tuple[float, float]] = []

        def on_step_end(self, args, state, control, **kwargs) -> None:
            self.ends.append((time.perf_counter(), time.process_time()))

    def project_setup():
        # stages.finetune's own loading, dataset, settings and loss.
        set_seed(train.seed)
        tokenizer = AutoTokenizer.from_pretrained(train.checkpoint, revision=train.revision,
                                                  trust_remote_code=False, model_max_length=train.max_length)
        model = load_model(train, LABELS)
        dataset = to_dataset(frame, tokenizer, train.max_length, train.soft_labels)
        args = training_args(train, mixed_precision(train.precision))
        return model, tokenizer, dataset, args, {"compute_loss_func": make_loss(len(LABELS), None,
                                                                                train.label_smoothing)}

    def notebook_setup():
        # The whole train set padded to its longest text, batch 16, the Trainer's random sampling.
        set_seed(train.seed)
        tokenizer = AutoTokenizer.from_pretrained(str(MODEL_DIR))
        model = AutoModelForSequenceClassification.from_pretrained(str(MODEL_DIR), num_labels=len(LABELS))
        encoded = tokenizer(frame["text"].tolist(), padding=True, truncation=True)
        dataset = Dataset.from_dict({**encoded, "labels": frame["label"].astype(int).tolist()})
        args = TrainingArguments(output_dir=str(TRAINER_DIR), per_device_train_batch_size=NOTEBOOK_BATCH,
                                 learning_rate=train.learning_rate, weight_decay=train.weight_decay,
                                 seed=train.seed)
        return model, tokenizer, dataset, args, {}

    def run(name: str, setup, steps: int) -> dict:
        model, tokenizer, dataset, args, extra = setup()
        # One warm-up step (first-call kernel setup, optimiser state allocation), then `steps` timed;
        # no evaluation, checkpoints or logging in between.
        args = dataclasses.replace(args, output_dir=str(TRAINER_DIR / name), max_steps=steps + 1,
                                   eval_strategy="no", save_strategy="no", logging_strategy="no",
                                   load_best_model_at_end=False, report_to="none", disable_tqdm=True,
                                   dataloader_pin_memory=False)
        collator, clock = Recorder(DataCollatorWithPadding(tokenizer)), StepClock()
        trainer = Trainer(model=model, args=args, processing_class=tokenizer, data_collator=collator,
                          train_dataset=dataset, callbacks=[clock], **extra)
        trainer.train()
        ends = np.array(clock.ends)
        return {"batch_size": args.per_device_train_batch_size, "sampling": str(args.train_sampling_strategy),
                "step_walls": np.diff(ends[:, 0]), "step_cpus": np.diff(ends[:, 1]),
                "positions": [b * s for b, s in collator.shapes[1:steps + 1]],
                "lengths": [len(x) for x in dataset["input_ids"]]}

    setups = {"project": (project_setup, project_steps), "notebook_padded": (notebook_setup, notebook_steps)}
    runs: dict[str, list[dict]] = {k: [] for k in setups}
    for r in range(rounds):
        for name, (setup, steps) in setups.items():
            log(f"training round {r + 1}/{rounds} {name}: 1 warm-up + {steps} timed steps")
            res = run(name, setup, steps)
            runs[name].append(res)
            wall, cpu = float(res["step_walls"].sum()), float(res["step_cpus"].sum())
            log(f"training round {r + 1}/{rounds} {name}: {steps * res['batch_size'] / wall:.2f} samples/s "
                f"({wall:.1f}s, CPU share {share(cpu, wall)})")
            gc.collect()

    out: dict = {"torch_threads": threads(), "precision": "fp32", "rounds": rounds,
                 "learning_rate": train.learning_rate}
    for name, (_, steps) in setups.items():
        first = runs[name][0]
        samples = steps * first["batch_size"]
        walls = np.array([x["step_walls"] for x in runs[name]])
        cpus = np.array([x["step_cpus"] for x in runs[name]])
        best = walls.min(axis=0)  # the same batches every round (seeded): each step's best round
        out[name] = {
            "steps_timed": steps, "batch_size": first["batch_size"], "sampling": first["sampling"],
            "samples": samples, "per_s": round(samples / float(best.sum()), 2),
            "per_s_median": round(samples / float(np.median(walls.sum(axis=1))), 2),
            "wall_s": round(float(best.sum()), 3),
            "rounds_wall_s": [round(float(w), 3) for w in walls.sum(axis=1)],
            "rounds_cpu_share": [share(float(c), float(w))
                                 for c, w in zip(cpus.sum(axis=1), walls.sum(axis=1), strict=True)],
            "same_batches_every_round": all(x["positions"] == first["positions"] for x in runs[name]),
            "padded_positions_per_sample": round(sum(first["positions"]) / samples, 2),
            "best_step_s": [round(float(s), 3) for s in best], "step_positions": first["positions"]}
        log(f"training {name}: {out[name]['per_s']:.2f} samples/s (best of {rounds} rounds per step)")
    # How typical the project's timed window is: padded positions per sample over a whole epoch of
    # group_by_length batches (a seeded order of its own: the Trainer draws its order from the global
    # RNG). Each megabatch is sorted longest first and the longest text's batch comes first, so the
    # first steps of an epoch are its costliest.
    lengths, bs = runs["project"][0]["lengths"], out["project"]["batch_size"]
    order = np.array(list(LengthGroupedSampler(bs, lengths=lengths,
                                               generator=torch.Generator().manual_seed(train.seed))))
    epoch = np.array([len(b) * max(lengths[j] for j in b) for b in fixed_batches(order, bs)])
    out["project"]["epoch"] = {"steps": len(epoch),
                               "padded_positions_per_sample": round(float(epoch.sum()) / len(order), 2)}
    return out


# --- report -------------------------------------------------------------------------------------


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
    for key, label in (("project", f"Training (a) project finetune path, batch {project_bs}"),
                       ("notebook_padded", f"Training (b) notebook: all padded, batch {NOTEBOOK_BATCH}")):
        if key in tr:
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


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="test", choices=common.SPLITS)
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

    import torch
    import transformers

    torch.set_num_threads(args.threads)
    if args.bf16 is None:
        args.bf16 = common.native_bf16("cpu")
    max_length = common.TrainParams(checkpoint="-", revision="-").max_length
    meta = {"torch": torch.__version__, "transformers": transformers.__version__,
            "torch_threads": torch.get_num_threads(), "cpu": cpu_name(), "cpus": os.cpu_count(),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()], "argv": sys.argv[1:]}
    log(f"torch {torch.__version__} on {meta['torch_threads']} threads; load average {meta['loadavg_start']}")
    train_texts = common.read_split("train")["text"].tolist()
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
        res["training"] = bench_training(args.train_rounds, args.project_steps, args.notebook_steps)
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
    e2e = res.get("end_to_end", {})
    res["smoke_repro_s"], res["noop_repro_s"] = e2e.get("smoke_repro_s"), e2e.get("noop_repro_s")
    previous = args.out / "results.json"
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
