"""Nearest training sentences of each test error (Level 3).

Two similarities: cosine over character n-gram TF-IDF vectors fitted on the training texts (cheap,
no model; finds sentences that share wording), or cosine over the fine-tuned model's sentence
vectors (mean of the last hidden layer over the tokens; finds sentences the model itself treats
alike). For each error: the k nearest training rows, and how many of them carry the label the model
predicted rather than the gold one. For every test row, errors and correctly classified rows alike:
whether a strict majority of its k nearest training rows carries a label other than its gold label
(`other_label_majority`), the quantity Level 3 compares between errors and correct rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ja_sentiment.batching import token_batches


def tfidf_vectors(train: Sequence[str], queries: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectoriser = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
    return vectoriser.fit_transform(train), vectoriser.transform(queries)  # rows L2-normalised


def model_vectors(
    model_dir: str | Path, texts: Sequence[str], max_length: int, max_tokens: int = 4096
) -> np.ndarray:
    """Mean-pooled last hidden states of the model's encoder, L2-normalised, one row per text."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for rows in token_batches([len(ids) for ids in encoded["input_ids"]], 256, max_tokens):
            batch = tokenizer.pad({"input_ids": [encoded["input_ids"][i] for i in rows]}, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out[rows] = ((hidden * mask).sum(1) / mask.sum(1)).float().numpy()
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def nearest(train_vectors, query_vectors, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into train) and cosine similarities of each query's k nearest rows, nearest first;
    ties keep the training order."""
    sims = np.asarray(
        (query_vectors @ train_vectors.T).todense()
        if hasattr(query_vectors, "todense")
        else query_vectors @ train_vectors.T
    )
    k = min(k, sims.shape[1])
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


def other_label_majority(index: np.ndarray, train_labels: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Per query row: whether more than half of its neighbours (`index`, rows into train) carry a
    label other than the row's own `gold` label."""
    labels = np.asarray(train_labels)[np.asarray(index)]  # (queries, k)
    return (labels != np.asarray(gold)[:, None]).sum(axis=1) > index.shape[1] / 2


def neighbour_table(
    errors: pd.DataFrame, train: pd.DataFrame, index: np.ndarray, sims: np.ndarray
) -> pd.DataFrame:
    """One row per (test error, neighbour): the error's id, gold and pred, the neighbour's rank, id,
    text, gold label, agreement level and similarity."""
    rows = []
    for (_, error), idx, sim in zip(errors.iterrows(), index, sims, strict=True):
        for rank, (i, s) in enumerate(zip(idx, sim, strict=True), start=1):
            n = train.iloc[i]
            rows.append(
                {
                    "id": error["id"],
                    "gold": error["gold"],
                    "pred": error["pred"],
                    "rank": rank,
                    "neighbour_id": n["id"],
                    "neighbour_text": n["text"],
                    "neighbour_gold": n["label_name"],
                    "neighbour_agreement": n["agreement_level"],
                    "similarity": round(float(s), 4),
                }
            )
    return pd.DataFrame(rows)


def neighbour_votes(table: pd.DataFrame, k: int) -> pd.DataFrame:
    """Per test error: neighbours carrying its predicted label, its gold label, and whether the
    predicted label holds a strict majority of the k neighbours."""
    if table.empty:
        return pd.DataFrame(columns=["id", "with_pred", "with_gold", "mostly_pred"])
    votes = table.assign(
        with_pred=table["neighbour_gold"] == table["pred"], with_gold=table["neighbour_gold"] == table["gold"]
    )
    out = votes.groupby("id", sort=False)[["with_pred", "with_gold"]].sum().reset_index()
    out["mostly_pred"] = out["with_pred"] > k / 2
    return out


def neighbours_of(
    test: pd.DataFrame, train: pd.DataFrame, similarity: str, k: int, model_dir: str | Path, max_length: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The `k` nearest training sentences of every test row (`similarity`: "model", the vectors of the
    model in `model_dir`, or "tfidf"): the table of the errors' neighbours, and per test row (errors and
    correct rows alike: the control) whether a strict majority of its neighbours carries a label other
    than its gold label."""
    if similarity == "model":
        train_vec = model_vectors(model_dir, train["text"].tolist(), max_length)
        query_vec = model_vectors(model_dir, test["text"].tolist(), max_length)
    else:
        train_vec, query_vec = tfidf_vectors(train["text"].tolist(), test["text"].tolist())
    index, sims = nearest(train_vec, query_vec, k)
    rows = test[["id", "gold", "wrong"]].reset_index(drop=True)
    labels = train["label_name"].to_numpy()
    rows["other_majority"] = other_label_majority(index, labels, rows["gold"].to_numpy())
    wrong = rows["wrong"].to_numpy()
    return neighbour_table(test[wrong], train, index[wrong], sims[wrong]), rows
