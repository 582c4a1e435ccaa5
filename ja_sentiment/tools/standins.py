"""Not a pipeline stage: builds small local stand-ins for the hub models, for offline runs and tests.

Both are tiny, randomly initialised BERTs with the tohoku v3 tokenizer design (MeCab word
splitting with unidic-lite, then WordPiece), whose vocabulary is learnt from the training split.
They are written with `save_pretrained` and load through the same `from_pretrained` path as hub
models, so every stage runs its real code on them:

- `<out>/sentiment`: a 2-label (negative/positive) classifier, the stand-in for the ready-made
  Level 1 model (its predictions are as good as chance: it is untrained);
- `<out>/bert`: an encoder without a task head, the stand-in for the Level 2 checkpoint.

    python -m ja_sentiment.tools.standins --data ../shared/data/jrte/pn.tsv --out build/tiny
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ja_sentiment.corpus import read_rows

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MECAB = {"mecab_dic": "unidic_lite"}


def train_vocab(texts: Iterable[str], vocab_size: int) -> list[str]:
    """WordPiece vocabulary over MeCab words, as tohoku v3 builds its own (at a far larger scale)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers.models.bert_japanese.tokenization_bert_japanese import MecabTokenizer

    mecab = MecabTokenizer(do_lower_case=False, mecab_dic="unidic_lite")
    words = (" ".join(mecab.tokenize(t)) for t in texts)
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.train_from_iterator(words, trainers.WordPieceTrainer(vocab_size=vocab_size,
                                                             special_tokens=SPECIAL,
                                                             show_progress=False))
    vocab = tok.get_vocab()
    return sorted(vocab, key=vocab.__getitem__)


def build(texts: list[str], out: Path, vocab_size: int = 4000, hidden: int = 64, layers: int = 2,
          seed: int = 0) -> dict[str, Path]:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertJapaneseTokenizer, BertModel

    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file = Path(tmp) / "vocab.txt"
        vocab_file.write_text("\n".join(train_vocab(texts, vocab_size)) + "\n", encoding="utf-8")
        tokenizer = BertJapaneseTokenizer(str(vocab_file), word_tokenizer_type="mecab",
                                          subword_tokenizer_type="wordpiece", mecab_kwargs=MECAB,
                                          model_max_length=512)
    config = dict(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                  num_attention_heads=2, intermediate_size=hidden * 4, max_position_embeddings=512)
    paths = {"sentiment": out / "sentiment", "bert": out / "bert"}
    sentiment = BertForSequenceClassification(BertConfig(
        **config, id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1}))
    encoder = BertModel(BertConfig(**config))
    for model, path in ((sentiment, paths["sentiment"]), (encoder, paths["bert"])):
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="pn.tsv whose train rows give the vocab")
    parser.add_argument("--out", type=Path, default=Path("build/tiny"))
    parser.add_argument("--vocab-size", type=int, default=4000)
    args = parser.parse_args(argv)
    rows = read_rows(args.data)
    texts = rows.loc[rows["usage"] == "train", "text"].tolist()
    paths = build(texts, args.out, vocab_size=args.vocab_size)
    print("tiny models: " + ", ".join(f"{k} -> {v}" for k, v in paths.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
