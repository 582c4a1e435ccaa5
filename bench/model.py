"""The bench model: bert-base with tohoku v3's architecture, randomly initialised (no hub), with a
MeCab + WordPiece tokenizer learnt from the train split; built once into build/bench_model/."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from bench.steps import LABELS
from bench.timing import log
from ja_sentiment.tools.standins import MECAB, train_vocab

MODEL_DIR = Path("build/bench_model")
STAMP = "bench_stamp.json"
# tohoku-nlp/bert-base-japanese-v3's config.json (architecture only; the weights are random).
ARCHITECTURE = dict(vocab_size=32768, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2,
                    hidden_act="gelu", layer_norm_eps=1e-12)


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
