"""Token attributions (Level 3): which tokens pushed the fine-tuned model towards the class it chose.

captum's LayerIntegratedGradients on the word-embedding layer: the path integral of the gradient of
the predicted class's probability from a baseline input (every token replaced by [PAD], [CLS] and
[SEP] kept) to the real input. A token's score is its share of the change in that probability
between baseline and input: positive scores pushed towards the predicted class. The convergence
delta says how far the scores' sum misses that change (the integral's numerical error).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd


def attribute(model_dir: str | Path, texts: Sequence[str], targets: Sequence[int], steps: int,
              max_length: int) -> pd.DataFrame:
    """One row per (text, token): text index, position, token, score towards `targets[i]`; plus the
    text's convergence delta and the probability change the scores share out."""
    import torch
    from captum.attr import LayerIntegratedGradients
    from tqdm.auto import tqdm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()

    def probabilities(input_ids, attention_mask):
        return torch.softmax(model(input_ids=input_ids, attention_mask=attention_mask).logits, dim=-1)

    integrated = LayerIntegratedGradients(probabilities, model.get_input_embeddings())
    special = set(tokenizer.all_special_ids) - {tokenizer.pad_token_id}
    rows = []
    for i, (text, target) in enumerate(tqdm(list(zip(texts, targets, strict=True)), desc="attributions",
                                            file=sys.stderr)):
        enc = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
        ids, mask = enc["input_ids"], enc["attention_mask"]
        baseline = torch.where(torch.isin(ids, torch.tensor(sorted(special))), ids,
                               torch.full_like(ids, tokenizer.pad_token_id))
        scores, delta = integrated.attribute(ids, baselines=baseline, additional_forward_args=(mask,),
                                             target=int(target), n_steps=steps,
                                             return_convergence_delta=True)
        with torch.no_grad():
            change = float(probabilities(ids, mask)[0, target] - probabilities(baseline, mask)[0, target])
        per_token = scores.sum(dim=-1)[0].detach().numpy()
        for pos, (tok, score) in enumerate(zip(tokenizer.convert_ids_to_tokens(ids[0]), per_token,
                                               strict=True)):
            if int(ids[0, pos]) in special:
                continue
            rows.append({"text_index": i, "position": pos, "token": tok, "score": float(score),
                         "delta": float(delta[0]), "change": change})
    return pd.DataFrame(rows, columns=["text_index", "position", "token", "score", "delta", "change"])


def attributions_of(
    model_dir: str | Path, errors: pd.DataFrame, names: Sequence[str], n: int, steps: int, max_length: int
) -> pd.DataFrame:
    """`attribute` for the `n` most confident errors, one row per token with the error's id, text,
    gold, pred and confidence (an empty table when `n` is 0)."""
    top = errors.sort_values("confidence", ascending=False, kind="stable").head(n)
    columns = ["id", "text", "gold", "pred", "confidence", "position", "token", "score", "delta", "change"]
    if top.empty:
        return pd.DataFrame(columns=columns)
    targets = [names.index(p) for p in top["pred"]]
    scores = attribute(model_dir, top["text"].tolist(), targets, steps, max_length)
    info = top[["id", "text", "gold", "pred", "confidence"]].reset_index(drop=True)
    return scores.join(info, on="text_index")[columns]
