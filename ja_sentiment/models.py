"""Loading a classifier for inference: a hub id or a local directory, never remote code."""

from __future__ import annotations

from ja_sentiment.hardware import device_index
from ja_sentiment.hub import hub_model


def load_text_classifier(model: str, revision: str, max_length: int):
    """A `text-classification` pipeline for a hub id or a local directory; never runs remote code."""
    from transformers import AutoTokenizer, pipeline

    # Some hub tokenizers (mr4's among them) carry no usable model_max_length: set it.
    with hub_model(model, revision):
        tokenizer = AutoTokenizer.from_pretrained(model, revision=revision, trust_remote_code=False,
                                                  model_max_length=max_length)
        return pipeline("text-classification", model=model, tokenizer=tokenizer, revision=revision,
                        trust_remote_code=False, device=device_index())
