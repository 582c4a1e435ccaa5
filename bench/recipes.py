"""The reference recipes the project's paths are compared with: (b) the notebook's whole-split
padding, (c) one text at a time, and (p) the project's batching with direct model calls."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from ja_sentiment.batching import token_batches

NOTEBOOK_BATCH = 16


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
    """(p) Proposed body of `classify` (same signature and result, one keyword more): one
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
        for rows in token_batches([len(ids) for ids in encoded["input_ids"]], batch_size, max_tokens):
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
