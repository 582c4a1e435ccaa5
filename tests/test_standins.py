"""The offline stand-ins: the files the hub repos hold, in their shape, in a Hugging Face cache laid out as
the hub client lays it out; the default params.yaml ids load from it offline and name its commit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from ja_sentiment.provenance import LOCAL, STANDIN_MARKER, model_card
from ja_sentiment.tools import standins
from tests.conftest import ROOT

TEXTS = ["駅から近くて便利でした。", "部屋が狭かった。", "朝食は普通でした。", "スタッフの対応が最悪でした。",
         "また利用したいと思います。", "温泉が最高でした。"] * 4
# tohoku-nlp/bert-base-japanese-v3's config.json (cl-tohoku/bert-japanese, hf_model_configs/).
TOHOKU_V3_CONFIG = {"architectures": ["BertForPreTraining"], "attention_probs_dropout_prob": 0.1,
                    "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768,
                    "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-12,
                    "max_position_embeddings": 512, "model_type": "bert", "num_attention_heads": 12,
                    "num_hidden_layers": 12, "pad_token_id": 0, "tokenizer_class": "BertJapaneseTokenizer",
                    "type_vocab_size": 2, "vocab_size": 32768}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    return standins.build(TEXTS, tmp_path_factory.mktemp("standins"), vocab_size=300)


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_ids_are_the_params_defaults():
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    assert (params["baseline"]["model"], params["baseline"]["revision"]) == (standins.SENTIMENT_ID, "main")
    assert (params["train"]["checkpoint"], params["train"]["revision"]) == (standins.BERT_ID, "main")


def test_base_size_is_tohoku_v3s_architecture():
    assert standins.bert_config("base", 32768) == TOHOKU_V3_CONFIG


def test_tohoku_standin_has_exactly_the_hub_files_and_keys(built):
    bert = built["bert"]
    assert sorted(p.name for p in bert.iterdir()) == sorted(
        ["config.json", "pytorch_model.bin", "tokenizer_config.json", "vocab.txt", STANDIN_MARKER])
    config = read(bert / "config.json")
    assert set(config) == set(TOHOKU_V3_CONFIG)
    assert config["architectures"] == ["BertForPreTraining"]
    assert config["tokenizer_class"] == "BertJapaneseTokenizer"
    # Only the four keys: no tokenizer class and no model_max_length there.
    assert read(bert / "tokenizer_config.json") == {"do_lower_case": False, "word_tokenizer_type": "mecab",
                                                    "subword_tokenizer_type": "wordpiece",
                                                    "mecab_kwargs": {"mecab_dic": "unidic_lite"}}
    state = torch.load(bert / "pytorch_model.bin", weights_only=True)
    assert {"cls.predictions.bias", "cls.seq_relationship.weight", "bert.pooler.dense.weight"} <= set(state)
    assert state["bert.embeddings.word_embeddings.weight"].shape[0] == config["vocab_size"]
    vocab = (bert / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert len(vocab) == config["vocab_size"] and vocab[:5] == standins.SPECIAL


def test_sentiment_standin_has_mr4s_labels_and_no_usable_max_length(built):
    sentiment = built["sentiment"]
    config = read(sentiment / "config.json")
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    tokenizer = read(sentiment / "tokenizer_config.json")
    assert tokenizer["model_max_length"] == int(1e30)  # transformers' "very large": no usable limit
    assert tokenizer["tokenizer_class"] == "BertJapaneseTokenizer"
    assert tokenizer["mecab_kwargs"] == {"mecab_dic": "unidic_lite"} and "backend" not in tokenizer


def test_cache_is_laid_out_as_the_hub_client_does(built):
    from huggingface_hub import scan_cache_dir

    cache = built["hf_home"] / "hub"
    for key, repo_id in (("sentiment", standins.SENTIMENT_ID), ("bert", standins.BERT_ID)):
        snapshot = built[key]
        folder = cache / ("models--" + repo_id.replace("/", "--"))
        assert snapshot.parent == folder / "snapshots"
        commit = (folder / "refs" / "main").read_text()
        assert commit == snapshot.name and len(commit) == 40 and int(commit, 16) >= 0
        for file in snapshot.iterdir():  # relative links into blobs/, named by sha256 (LFS) or git sha1
            target = os.readlink(file)
            assert target.startswith("../../blobs/"), target
            assert (snapshot / target).resolve().parent == folder / "blobs"
            assert len(Path(target).name) == (64 if file.suffix in (".bin", ".safetensors") else 40)
        assert read(snapshot / STANDIN_MARKER)["standin"] is True
    scanned = scan_cache_dir(cache)
    assert not scanned.warnings
    assert {r.repo_id: {rev.commit_hash for rev in r.revisions} for r in scanned.repos} == {
        standins.SENTIMENT_ID: {built["sentiment"].name}, standins.BERT_ID: {built["bert"].name}}


LOAD = """
import json, sys
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from huggingface_hub import snapshot_download
from ja_sentiment.inference import classify
from ja_sentiment.models import load_text_classifier
from ja_sentiment.provenance import model_card

bert, sentiment = sys.argv[1:3]
out = {"snapshots": [snapshot_download(i, local_files_only=True) for i in (bert, sentiment)]}
tokenizer = AutoTokenizer.from_pretrained(bert, revision="main", model_max_length=64)
out["bert_tokenizer"] = [type(tokenizer).__name__, tokenizer.model_max_length]
model = AutoModelForSequenceClassification.from_pretrained(bert, revision="main", num_labels=3)
weights = torch.load(out["snapshots"][0] + "/pytorch_model.bin", weights_only=True)
out["encoder_loaded"] = all(torch.equal(weights[k], v) for k, v in model.state_dict().items()
                            if k.startswith("bert."))
pipe = load_text_classifier(sentiment, "main", 128)
out["labels"] = pipe.model.config.id2label
out["sentiment_max_length"] = pipe.tokenizer.model_max_length
# Longer than the 512 positions: the length from params truncates it (the tokenizer has none of its own).
out["long_text"] = classify(pipe, ["駅から近くて便利でした。" * 200], 8, 128, progress=False).tolist()
out["cards"] = [model_card(i, "main") for i in (bert, sentiment)]
print(json.dumps(out))
"""


def test_default_ids_load_offline_through_the_cache_and_name_the_commit(built, tmp_path):
    """With HF_HOME at the built cache and the hub off, the default ids load through from_pretrained as a
    networked user's would; the commit named is the snapshot's, and nothing reaches the user's cache."""
    home = tmp_path / "home"
    env = {**os.environ, "HF_HOME": str(built["hf_home"]), "HF_HUB_OFFLINE": "1", "HOME": str(home)}
    env.pop("XDG_CACHE_HOME", None)
    env.pop("HF_HUB_CACHE", None)
    proc = subprocess.run([sys.executable, "-c", LOAD, standins.BERT_ID, standins.SENTIMENT_ID], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["snapshots"] == [str(built["bert"]), str(built["sentiment"])]
    assert out["bert_tokenizer"] == ["BertJapaneseTokenizer", 64]  # the class found through config.json
    assert out["encoder_loaded"] is True  # BertForPreTraining's encoder under a fresh 3-way head
    assert out["labels"] == {"0": "negative", "1": "positive"} and out["sentiment_max_length"] == 128
    assert len(out["long_text"][0]) == 2 and sum(out["long_text"][0]) == pytest.approx(1.0, abs=1e-5)
    assert out["cards"] == [
        {"model": repo_id, "revision": "main", "commit": built[key].name, "standin": True}
        for key, repo_id in (("bert", standins.BERT_ID), ("sentiment", standins.SENTIMENT_ID))]
    assert not home.exists()  # the user's own cache (~/.cache/huggingface) was never written


def test_a_directory_is_named_as_one(built, tmp_path):
    assert model_card(str(built["bert"]), "main") == {"model": str(built["bert"]), "revision": LOCAL,
                                                      "commit": LOCAL, "standin": True}
    assert model_card(str(tmp_path), "v1")["standin"] is False


def test_never_written_into_the_users_cache_nor_over_real_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    with pytest.raises(standins.StandinError, match="user's own Hugging Face cache"):
        standins.build(TEXTS, tmp_path / ".cache" / "huggingface", vocab_size=300)
    assert not (tmp_path / ".cache").exists()
    real = tmp_path / "build/hf/hub/models--mr4--bert-base-jp-sentiment-analysis/snapshots" / ("a" * 40)
    real.mkdir(parents=True)
    (real / "config.json").write_text("{}")
    with pytest.raises(standins.StandinError, match="holds real downloads"):
        standins.build(TEXTS, tmp_path / "build", vocab_size=300)
    assert (real / "config.json").read_text() == "{}"
