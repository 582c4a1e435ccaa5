"""Not a pipeline stage: offline stand-ins for the two hub models, shaped and reached like them.

Both are randomly initialised BERTs with the tohoku v3 tokenizer design (MeCab word splitting with
unidic-lite, then WordPiece), whose vocabulary is learnt from the training split (padded with
`[unusedN]` entries to the vocabulary size, as tohoku v3's 32768 rows). Each is written with the
files the hub repo holds, in the shape it holds them:

- `mr4/bert-base-jp-sentiment-analysis` (Level 1): a 2-label `BertForSequenceClassification`
  (`id2label {0: negative, 1: positive}`; safetensors) whose tokenizer_config.json carries no usable
  `model_max_length` (1e30), as mr4's; its predictions are as good as chance (it is untrained);
- `tohoku-nlp/bert-base-japanese-v3` (Level 2): `BertForPreTraining` weights (encoder, MLM and NSP
  heads) in `pytorch_model.bin` only; config.json and tokenizer_config.json with exactly the keys of
  the authors' published configs, so the tokenizer class is found through config.json.

They are placed under those two ids in a Hugging Face cache laid out as the hub client lays it out
(`<out>/hf/hub/models--<org>--<name>/{blobs,snapshots/<commit>,refs/main}`), inside the build
directory: never the user's own cache. With `HF_HOME=<out>/hf HF_HUB_OFFLINE=1` the default
params.yaml ids then load through the same `from_pretrained` path, revision `main` resolving to the
stand-in's commit (a sha1 of the files; no real commit has it). Each snapshot also holds
`standin.json`, a file no hub repo has: provenance reads it, so every metrics file and report of a
run on stand-ins says `standin: true`.

    python -m ja_sentiment.tools.standins --data ../shared/data/jrte/pn.tsv --out build/tiny
    HF_HOME=build/tiny/hf HF_HUB_OFFLINE=1 dvc repro      # default model ids, stand-in weights

`--size base` builds them at bert-base size (tohoku v3's architecture: hidden 768, 12 layers, 12
heads, intermediate 3072, vocabulary 32768, 512 positions; about 0.9 GB on disk).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ja_sentiment.corpus import read_rows
from ja_sentiment.provenance import STANDIN_MARKER

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MECAB = {"mecab_dic": "unidic_lite"}
SENTIMENT_ID = "mr4/bert-base-jp-sentiment-analysis"  # params.yaml baseline.model
BERT_ID = "tohoku-nlp/bert-base-japanese-v3"  # params.yaml train.checkpoint
# Model sizes: the encoder's shape and the vocabulary (embedding rows) asked for by default.
SIZES = {
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256,
                 vocab_size=4000),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                 vocab_size=32768),  # tohoku-nlp/bert-base-japanese-v3
}
# tohoku v3's tokenizer_config.json, all of it (cl-tohoku/bert-japanese, hf_model_configs/).
TOHOKU_TOKENIZER_CONFIG = {"do_lower_case": False, "word_tokenizer_type": "mecab",
                           "subword_tokenizer_type": "wordpiece", "mecab_kwargs": MECAB}
WEIGHT_SUFFIXES = (".bin", ".safetensors")  # LFS files on the hub: their blobs are named by sha256


class StandinError(SystemExit):
    """The cache cannot take the stand-ins (the user's own cache, or real downloads there)."""


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


def bert_config(size: str, vocab_size: int) -> dict:
    """config.json of tohoku v3 (the authors' hf_model_configs shape: exactly these keys)."""
    shape = {k: v for k, v in SIZES[size].items() if k != "vocab_size"}
    return {"architectures": ["BertForPreTraining"], "attention_probs_dropout_prob": 0.1,
            "hidden_act": "gelu", "hidden_dropout_prob": 0.1, **shape, "initializer_range": 0.02,
            "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert", "pad_token_id": 0,
            "tokenizer_class": "BertJapaneseTokenizer", "type_vocab_size": 2, "vocab_size": vocab_size}


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")


def write_bert(folder: Path, vocab_file: Path, size: str, vocab_size: int) -> None:
    """The Level 2 checkpoint as the hub repo holds it: pytorch_model.bin (BertForPreTraining's state
    dict), config.json, tokenizer_config.json and vocab.txt; nothing else."""
    import torch
    from transformers import BertConfig, BertForPreTraining

    config = bert_config(size, vocab_size)
    model = BertForPreTraining(BertConfig(**config))
    folder.mkdir(parents=True)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    write_json(folder / "config.json", config)
    write_json(folder / "tokenizer_config.json", TOHOKU_TOKENIZER_CONFIG)
    shutil.copyfile(vocab_file, folder / "vocab.txt")


def write_sentiment(folder: Path, vocab_file: Path, size: str, vocab_size: int) -> None:
    """The Level 1 model: 2 labels named as mr4's, a tokenizer without a usable model_max_length."""
    from transformers import BertConfig, BertForSequenceClassification, BertJapaneseTokenizer

    config = {**bert_config(size, vocab_size), "architectures": ["BertForSequenceClassification"],
              "id2label": {"0": "negative", "1": "positive"}, "label2id": {"negative": 0, "positive": 1},
              "torch_dtype": "float32"}  # as transformers 4.x wrote it (5.x: dtype)
    BertForSequenceClassification(BertConfig(**config)).save_pretrained(folder)
    write_json(folder / "config.json", config)  # mr4's keys, not what 5.x's save_pretrained adds
    # No model_max_length given: the tokenizer's is transformers' "very large" 1e30, as mr4's.
    tokenizer = BertJapaneseTokenizer(str(vocab_file), word_tokenizer_type="mecab",
                                      subword_tokenizer_type="wordpiece", mecab_kwargs=MECAB)
    tokenizer.save_pretrained(folder)
    # mr4's files were written by transformers 4.x: drop what only 5.x writes.
    path = folder / "tokenizer_config.json"
    saved = json.loads(path.read_text(encoding="utf-8"))
    write_json(path, {k: v for k, v in saved.items() if k not in ("backend", "added_tokens_decoder")})


def user_caches() -> list[Path]:
    """The user's own Hugging Face homes (default locations), which never receive stand-ins."""
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return [Path(xdg, "huggingface").resolve(), Path(os.path.expanduser("~/.cache/huggingface")).resolve()]


def repo_folder(cache: Path, repo_id: str) -> Path:
    """Where the hub client keeps a model repo in a cache (`models--org--name`)."""
    return cache / ("models--" + repo_id.replace("/", "--"))


def etag(path: Path) -> str:
    """The name the hub client gives a file's blob: sha256 for LFS files (weights), else the git blob sha1."""
    data = path.read_bytes()
    if path.suffix in WEIGHT_SUFFIXES:
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def install(staged: Path, cache: Path, repo_id: str) -> Path:
    """Move the files of `staged` into `cache` under `repo_id`, laid out as the hub client does (blobs,
    a snapshot of relative symlinks, refs/main); the commit is a sha1 over the files. The repo's
    earlier stand-in snapshots are replaced; a repo holding anything but stand-ins is refused."""
    for home in user_caches():
        if cache.resolve().is_relative_to(home):
            raise StandinError(f"standins: {cache} is in the user's own Hugging Face cache ({home}); "
                               "stand-ins under real model ids go to a cache in the build directory only")
    folder = repo_folder(cache, repo_id)
    real = [s for s in (folder / "snapshots").glob("*") if not (s / STANDIN_MARKER).is_file()]
    if real:
        raise StandinError(f"standins: {folder} holds real downloads ({real[0].name}); not overwritten")
    files = sorted(p.name for p in staged.iterdir())
    tags = {name: etag(staged / name) for name in files}
    commit = hashlib.sha1("".join(f"{name}\0{tags[name]}\n" for name in files).encode()).hexdigest()
    shutil.rmtree(folder, ignore_errors=True)
    snapshot = folder / "snapshots" / commit
    (folder / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for name in files:
        shutil.move(staged / name, folder / "blobs" / tags[name])
        (snapshot / name).symlink_to(Path("..", "..", "blobs", tags[name]))
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit, encoding="utf-8")  # no newline, as the hub client
    return snapshot


def build(texts: list[str], out: Path, vocab_size: int | None = None, size: str = "tiny",
          seed: int = 0) -> dict[str, Path]:
    """Both stand-ins in `<out>/hf/hub` under the default hub ids. Returns `hf_home` (for HF_HOME) and
    the snapshot directories `sentiment` and `bert` (each also loadable as a local directory)."""
    import torch

    vocab_size = vocab_size or SIZES[size]["vocab_size"]
    hf_home = out / "hf"
    paths: dict[str, Path] = {"hf_home": hf_home}
    with tempfile.TemporaryDirectory() as tmp:
        vocab = train_vocab(texts, vocab_size)
        vocab += [f"[unused{i}]" for i in range(vocab_size - len(vocab))]  # as many rows as embeddings
        vocab_file = Path(tmp) / "vocab.txt"
        vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
        models = (("sentiment", SENTIMENT_ID, write_sentiment), ("bert", BERT_ID, write_bert))
        for key, repo_id, write in models:
            staged = Path(tmp) / key
            torch.manual_seed(seed)
            write(staged, vocab_file, size, len(vocab))
            write_json(staged / STANDIN_MARKER, {
                "standin": True, "stands_for": repo_id, "size": size, "seed": seed,
                "built_by": "python -m ja_sentiment.tools.standins",
                "note": "a randomly initialised offline stand-in: results made with it are not the real "
                        "model's"})
            paths[key] = install(staged, hf_home / "hub", repo_id)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="pn.tsv whose train rows give the vocab")
    parser.add_argument("--out", type=Path, default=Path("build/tiny"), help="HF_HOME is <out>/hf")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny",
                        help="tiny (seconds to train) or base (tohoku v3's architecture)")
    parser.add_argument("--vocab-size", type=int, default=None,
                        help="vocabulary rows (default: 4000 tiny, 32768 base)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = read_rows(args.data)
    texts = rows.loc[rows["usage"] == "train", "text"].tolist()
    paths = build(texts, args.out, vocab_size=args.vocab_size, size=args.size, seed=args.seed)
    print(f"stand-ins ({args.size}) in HF_HOME={paths['hf_home']}: {SENTIMENT_ID} -> commit "
          f"{paths['sentiment'].name}, {BERT_ID} -> commit {paths['bert'].name}", file=sys.stderr)


if __name__ == "__main__":
    main()
