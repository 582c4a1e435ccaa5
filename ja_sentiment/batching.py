"""Length-aware batching: texts grouped by token count so that each batch pads to its own longest."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def token_batches(lengths: Sequence[int], batch_size: int, max_tokens: int) -> list[np.ndarray]:
    """Indices, longest first, cut into batches of at most `batch_size` texts and at most
    `max_tokens` padded positions (texts x the batch's longest), so that a few long texts do not
    pad a whole large batch to their length (a lone text longer than the budget is its own batch)."""
    order = np.argsort([-n for n in lengths], kind="stable")
    out, start = [], 0
    while start < len(order):
        n = max(1, min(batch_size, max_tokens // max(1, lengths[order[start]])))
        out.append(order[start:start + n])
        start += n
    return out
