"""Batched inference: class probabilities for many texts through a `text-classification`
pipeline, in token-budget batches, optionally under bf16 autocast where the hardware has it."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from ja_sentiment.batching import token_batches
from ja_sentiment.hardware import fast_bf16


def inference_precision(precision: str, device_type: str) -> str:
    """The precision evaluate/predict run in: `auto` is bf16 where bf16 is native and faster than fp32
    (hardware.fast_bf16), else fp32."""
    if precision != "auto":
        return precision
    return "bf16" if fast_bf16(device_type) else "fp32"


def classify(pipe, texts: Sequence[str], batch_size: int, max_length: int, desc: str = "classify",
             progress: bool = True, max_tokens: int = 1024, bf16: bool = False) -> np.ndarray:
    """Class probabilities, in the model's id order, for every text, through the pipeline.

    Texts are grouped by token count (one tokenizer pass up front) into batches that each pad to
    their own longest text under a budget of `max_tokens` positions; results come back in input
    order. `bf16` runs the model under bfloat16 autocast (faster where the hardware has it; the
    probabilities then differ from fp32 in the third decimal or so).
    """
    import torch
    from tqdm.auto import tqdm

    id2label = pipe.model.config.id2label
    column = {id2label[i]: i for i in range(len(id2label))}
    probs = np.zeros((len(texts), len(column)), dtype=np.float64)
    lengths = [len(ids) for ids in pipe.tokenizer(list(texts), truncation=True,
                                                 max_length=max_length)["input_ids"]]
    autocast = torch.autocast(pipe.model.device.type, dtype=torch.bfloat16, enabled=bf16)
    with autocast, tqdm(total=len(texts), desc=desc, file=sys.stderr, disable=not progress) as bar:
        for rows in token_batches(lengths, batch_size, max_tokens):
            outputs = pipe([texts[i] for i in rows], batch_size=len(rows), top_k=None,
                           truncation=True, max_length=max_length)
            for i, scores in zip(rows, outputs, strict=True):
                for s in scores:
                    probs[i, column[s["label"]]] = s["score"]
            bar.update(len(rows))
    return probs
