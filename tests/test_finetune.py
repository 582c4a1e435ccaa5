"""Stage `finetune` on a tiny local BERT and a few dozen hand-written reviews: real training runs."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    EvalPrediction,
    Trainer,
    pipeline,
)

from ja_sentiment import training
from ja_sentiment.checkpoints import CHECKPOINTS
from ja_sentiment.metrics import macro_f1
from ja_sentiment.params import TrainParams
from ja_sentiment.tools.standins import build
from stages import finetune

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("negative", "neutral", "positive")
TEXTS = {
    0: ["部屋が狭くて汚かったです。", "スタッフの対応が最悪でした。", "朝食が冷めていて残念でした。",
        "二度と利用しません。", "エアコンの音がうるさくて眠れませんでした。", "お風呂のお湯がぬるかった。",
        "チェックインに時間がかかりすぎです。", "タバコの臭いがひどかった。", "料金の割にサービスが悪い。",
        "シーツに髪の毛が落ちていました。", "駐車場が狭くて停めにくかった。", "隣の部屋の声が筒抜けでした。",
        "予約が間違っていて不快でした。", "トイレが壊れていました。", "フロントの態度が冷たかった。",
        "食事がまずくて残念です。", "窓からの景色が最悪でした。", "清掃が行き届いていません。",
        "期待外れのホテルでした。"],
    1: ["出張で利用しました。", "駅から歩いて十分です。", "二泊しました。", "家族で泊まりました。",
        "チェックアウトは十時です。", "部屋は八階でした。", "朝食はバイキング形式です。",
        "近くにコンビニがあります。", "車で行きました。", "また機会があれば。", "仕事の関係で宿泊。",
        "一人で利用しました。", "夕食は外で食べました。", "シングルの部屋でした。", "バスで向かいました。",
        "平日に泊まりました。", "大浴場があります。", "(笑)", "三回目の利用です。"],
    2: ["とても快適に過ごせました。", "スタッフの皆さんが親切でした。", "朝食がとても美味しかったです。",
        "また利用したいと思います。", "部屋が広くて綺麗でした。", "温泉が最高でした。",
        "景色が素晴らしかったです。", "ありがとうございました。", "コスパが良くて満足です。",
        "ベッドがふかふかでよく眠れました。", "立地が便利で助かりました。", "料理が本当に美味しい。",
        "接客が丁寧で感動しました。", "清潔で気持ちよかったです。", "子供も喜んでいました。",
        "静かでゆっくりできました。", "お部屋から海が見えて最高。", "素敵な旅行になりました。",
        "大満足の滞在でした。"],
}
N_DEV = 5  # per class; the rest is train
BASE = {"epochs": 2, "batch_size": 8, "eval_batch_size": 16, "max_length": 32, "learning_rate": 2e-3,
        "warmup": 0.0}


class KilledError(Exception):
    """Stands for the process being killed mid-run."""


def votes(label: int, i: int) -> list[int]:
    """Three annotators: unanimous, or one dissenting vote to a neighbouring class every third row."""
    v = [0, 0, 0]
    v[label] = 3
    if i % 3 == 0:
        v[label] -= 1
        v[1 if label != 1 else (i // 3) % 2 * 2] += 1
    return v


def split_frame(split: str) -> pd.DataFrame:
    rows = []
    for label, texts in TEXTS.items():
        part = texts[:N_DEV] if split == "dev" else texts[N_DEV:]
        for i, text in enumerate(part):
            v = votes(label, i)
            rows.append({"id": f"{split}{label}{i:02d}", "text": text, "label": label,
                         "label_name": NAMES[label], "agreement": round(max(v) / 3, 4),
                         "votes": json.dumps(v), "length": len(text)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    texts = [t for ts in TEXTS.values() for t in ts]
    return build(texts, tmp_path_factory.mktemp("tiny"), vocab_size=300)["bert"]


def workdir(path: Path, tiny_bert: Path, **train) -> Path:
    """A project directory holding params.yaml and data/processed/{train,dev}.tsv."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["train"].update({"checkpoint": str(tiny_bert), **BASE, **train})
    path.mkdir(parents=True, exist_ok=True)
    (path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    (path / "data/processed").mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev"):
        split_frame(split).to_csv(path / f"data/processed/{split}.tsv", sep="\t", index=False)
    return path


def run(path: Path, tiny_bert: Path, **train) -> Path:
    with contextlib.chdir(workdir(path, tiny_bert, **train)):
        finetune.main()
    return path


def tsv(path: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(path / "dvclive/plots/metrics" / f"{name}.tsv", sep="\t")


def dev_logits(model_dir: Path) -> np.ndarray:
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    batch = tokenizer(split_frame("dev")["text"].tolist(), padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**batch).logits.numpy()


@pytest.fixture(scope="module")
def base_run(tmp_path_factory, tiny_bert) -> Path:
    return run(tmp_path_factory.mktemp("base"), tiny_bert)


def test_trains_saves_a_pipeline_ready_model_and_logs_each_epoch(base_run):
    model_dir = base_run / "models/finetuned"
    classify = pipeline("text-classification", model=str(model_dir))
    assert classify("部屋が綺麗でした。")[0]["label"] in NAMES
    provenance = json.loads((model_dir / "provenance.json").read_text(encoding="utf-8"))
    assert provenance["revision"] == "local directory" and provenance["params"]["epochs"] == 2
    # A stand-in's snapshot loaded as a directory: that it is one, and that it is a stand-in.
    assert provenance["commit"] == "local directory" and provenance["standin"] is True
    assert provenance["precision"] == training.train_precision("auto")
    saved = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert saved["model_max_length"] == 32 and not {"is_local", "local_files_only"} & set(saved)
    for name, column in [("train/loss", "loss"), ("dev/loss", "loss"), ("dev/accuracy", "accuracy"),
                         ("dev/macro_f1", "macro_f1")]:
        frame = tsv(base_run, name)
        assert list(frame.columns) == ["step", column] and frame["step"].tolist() == [1, 2]
    metrics = json.loads((base_run / "dvclive/metrics.json").read_text())
    f1 = tsv(base_run, "dev/macro_f1").set_index("step")["macro_f1"]
    assert metrics["best_epoch"] == f1.idxmax() and metrics["dev"]["macro_f1"] == f1.max()
    assert metrics["dev"]["macro_f1"] == provenance["dev_macro_f1"] and metrics["epochs_run"] == 2
    assert metrics["train_runtime_s"] > 0 and metrics["train_samples_per_second"] > 0
    assert {k: metrics[k] for k in ("base_model", "revision", "commit", "standin", "precision")} == {
        k: provenance[k] for k in ("base_model", "revision", "commit", "standin", "precision")}
    assert not (base_run / "dvclive/params.yaml").exists()  # params live in params.yaml only
    # No countermeasure on: nothing engaged (the study's report states these per run).
    engaged = metrics["engaged"]
    assert engaged["stopped_at_epoch"] is None and engaged["dropped_rows"] == 0
    assert engaged["dropped_by_class"] == dict.fromkeys(NAMES, 0)
    assert engaged["trainable_parameters"] == engaged["parameters"] > 0 and engaged["lr_groups"] == 1
    assert engaged["loss"] == {"target": "gold", "label_smoothing": 0.0, "class_weights": None}
    assert engaged["reinitialised_tensors"] == 0 and engaged["frozen_layers"] == 0
    assert not (base_run / CHECKPOINTS).exists()


def test_same_seed_same_predictions_and_resume_without_checkpoint_starts_fresh(base_run, tiny_bert,
                                                                               tmp_path):
    again = run(tmp_path, tiny_bert, resume=True)
    assert np.array_equal(dev_logits(again / "models/finetuned"), dev_logits(base_run / "models/finetuned"))
    assert tsv(again, "train/loss").equals(tsv(base_run, "train/loss"))


def test_soft_labels_train_on_vote_shares(base_run, tiny_bert, tmp_path):
    data = training.to_dataset(split_frame("train"), AutoTokenizer.from_pretrained(tiny_bert), 32, soft=True)
    shares = np.array(data["labels"])
    assert shares.shape == (len(data), 3) and np.allclose(shares.sum(axis=1), 1.0)
    assert {tuple(np.round(r, 4)) for r in shares} >= {(0.0, 0.0, 1.0), (0.0, 0.3333, 0.6667)}
    soft = run(tmp_path, tiny_bert, soft_labels=True)
    hard_loss = tsv(base_run, "train/loss")["loss"].tolist()
    assert tsv(soft, "train/loss")["loss"].tolist() != pytest.approx(hard_loss)
    assert (soft / "models/finetuned/provenance.json").is_file()


def test_loss_matches_torch_cross_entropy():
    logits = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    gold = torch.tensor([0, 1, 2, 2, 1, 0])
    out = {"logits": logits}
    ce = torch.nn.functional.cross_entropy
    assert torch.allclose(training.make_loss(3, None, 0.0)(out, gold), ce(logits, gold))
    weights = torch.tensor([2.0, 1.0, 0.5])
    expected = ce(logits, gold, weight=weights, label_smoothing=0.1, reduction="sum") / 6
    assert torch.allclose(training.make_loss(3, weights, 0.1)(out, gold), expected)
    # Over a 12-example accumulated batch: the Trainer counts 12 gold ids, or 36 vote shares.
    one_hot = torch.nn.functional.one_hot(gold, 3).float()
    hard = training.make_loss(3, weights, 0.1)(out, gold, num_items_in_batch=torch.tensor(12))
    assert torch.allclose(hard, expected / 2)
    assert torch.allclose(training.make_loss(3, weights, 0.1)(out, one_hot, num_items_in_batch=36), hard)


def test_freeze_layers_freezes_embeddings_and_bottom_layers(tiny_bert):
    params = TrainParams(checkpoint=str(tiny_bert), revision="main")
    model = training.load_model(params, NAMES)
    assert model.config.id2label == dict(enumerate(NAMES))
    training.freeze(model, 1)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    expected = {n for n, _ in model.named_parameters()
                if n.startswith(("bert.embeddings.", "bert.encoder.layer.0."))}
    assert frozen == expected and expected
    with pytest.raises(SystemExit, match=r"train\.freeze_layers: 3 exceeds .* 2 encoder layers"):
        training.freeze(model, 3)


def test_knobs_together_keep_frozen_weights(tiny_bert, tmp_path):
    out = run(tmp_path, tiny_bert, freeze_layers=2, class_weights="balanced", label_smoothing=0.1,
              grad_accum=2, early_stopping_patience=1, precision="fp32")
    base = AutoModelForSequenceClassification.from_pretrained(tiny_bert).state_dict()
    tuned = AutoModelForSequenceClassification.from_pretrained(out / "models/finetuned").state_dict()
    for name, tensor in base.items():
        if name.startswith(("bert.embeddings.", "bert.encoder.")):
            assert torch.equal(tensor, tuned[name]), name
    assert not torch.equal(base["bert.pooler.dense.weight"], tuned["bert.pooler.dense.weight"])
    engaged = json.loads((out / "dvclive/metrics.json").read_text())["engaged"]
    trained = sum(t.numel() for n, t in tuned.items() if n.startswith(("bert.pooler.", "classifier.")))
    assert (engaged["frozen_layers"], engaged["trainable_parameters"]) == (2, trained)
    labels = split_frame("train")["label"]
    counts = labels.value_counts().reindex(range(3)).to_numpy()
    balanced = len(labels) / (3 * counts)  # sklearn's "balanced"
    assert engaged["loss"]["label_smoothing"] == 0.1 and engaged["loss"]["target"] == "gold"
    assert list(engaged["loss"]["class_weights"].values()) == pytest.approx(balanced, abs=1e-4)
    # Early stopping (patience 1) triggered iff epoch 2's dev macro-F1 did not beat epoch 1's.
    f1 = tsv(out, "dev/macro_f1")["macro_f1"].tolist()
    assert engaged["stopped_at_epoch"] == (2 if f1[1] <= f1[0] else None)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_fp16_without_gpu_fails_before_work(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.chdir(workdir(tmp_path, tiny_bert, precision="fp16"))
    with pytest.raises(SystemExit, match=r"train\.precision: fp16 needs a CUDA GPU"):
        finetune.main()
    assert not Path("dvclive").exists() and not CHECKPOINTS.exists()


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("cuda", [True, False])
def test_auto_precision_is_bf16_where_native(monkeypatch, native, cuda):
    """auto: bf16 where the same check as inference's says bf16 is native and fast, else fp16 on CUDA, fp32
    on CPU."""
    asked = []
    monkeypatch.setattr(training, "fast_bf16", lambda device: asked.append(device) or native)
    monkeypatch.setattr(training, "native_bf16", lambda device: native)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert training.train_precision("auto") == ("bf16" if native else "fp16" if cuda else "fp32")
    assert asked == ["cuda" if cuda else "cpu"]
    assert training.train_precision("fp32") == "fp32"
    if cuda and not native:
        with pytest.raises(SystemExit, match=r"train\.precision: bf16 is not supported by this CUDA GPU"):
            training.train_precision("bf16")
    else:  # explicit bf16 runs on any CPU (emulated where not native)
        assert training.train_precision("bf16") == "bf16"


@pytest.mark.skipif(torch.cuda.is_available(), reason="bf16 on a CPU")
def test_bf16_on_cpu_trains_under_autocast_and_is_recorded(tiny_bert, tmp_path, monkeypatch):
    """A CPU with native bf16 (simulated here: this one may lack it, and bf16 then runs emulated):
    `auto` trains under bf16 autocast, and provenance and metrics say so."""
    monkeypatch.setattr(training, "fast_bf16", lambda device: True)
    assert training.training_args(TrainParams(checkpoint="-", revision="-"), "bf16").use_cpu
    dtypes = set()  # (training step?, dtype of the classifier's output), seen by a forward hook

    def hooked_model(*args):
        model = training.load_model(*args)
        model.classifier.register_forward_hook(
            lambda module, inputs, output: dtypes.add((torch.is_grad_enabled(), output.dtype)))
        return model

    monkeypatch.setattr(finetune, "load_model", hooked_model)
    out = run(tmp_path, tiny_bert, epochs=1)
    # The forward passes of training and of the dev evaluation both run under bf16 autocast.
    assert dtypes == {(True, torch.bfloat16), (False, torch.bfloat16)}
    provenance = json.loads((out / "models/finetuned/provenance.json").read_text(encoding="utf-8"))
    metrics = json.loads((out / "dvclive/metrics.json").read_text())
    assert provenance["precision"] == metrics["precision"] == "bf16"
    assert provenance["params"]["precision"] == "auto"


def test_patience_that_can_never_trigger_is_an_error(tiny_bert, tmp_path, monkeypatch):
    monkeypatch.chdir(workdir(tmp_path, tiny_bert, early_stopping_patience=2))
    with pytest.raises(SystemExit, match=r"train\.early_stopping_patience: 2 .* train\.epochs=2"):
        finetune.main()


def test_resume_continues_from_the_last_epoch_checkpoint(base_run, tiny_bert, tmp_path, monkeypatch):
    def stop(self, args, state, control, **kwargs):
        raise KilledError(f"killed after epoch {state.epoch}")

    with monkeypatch.context() as m:  # a run killed right after its epoch-1 checkpoint was written
        m.setattr(training.LiveCallback, "on_save", stop, raising=False)
        with pytest.raises(KilledError):
            run(tmp_path, tiny_bert)
    checkpoints = sorted(p.name for p in (tmp_path / CHECKPOINTS).glob("checkpoint-*"))
    steps_per_epoch = 6  # 42 train texts / 8
    assert checkpoints == [f"checkpoint-{steps_per_epoch}"]
    assert tsv(tmp_path, "train/loss")["step"].tolist() == [1]
    epoch1 = tsv(tmp_path, "train/loss")

    with pytest.raises(SystemExit, match=r"train\.resume: .* \['learning_rate'\]"):
        run(tmp_path, tiny_bert, resume=True, learning_rate=1e-3)

    started_at, begin = [], training.LiveCallback.on_train_begin

    def record_start(self, args, state, control, **kwargs):
        started_at.append(state.global_step)
        begin(self, args, state, control, **kwargs)

    monkeypatch.setattr(training.LiveCallback, "on_train_begin", record_start)
    (tmp_path / "dvclive").rename(tmp_path / "dvclive.old")  # `dvc repro` deletes outs before a run
    run(tmp_path, tiny_bert, resume=True)
    assert started_at == [steps_per_epoch]
    resumed = tsv(tmp_path, "train/loss")
    assert resumed["step"].tolist() == [1, 2] and resumed.iloc[:1].equals(epoch1)
    assert not (tmp_path / CHECKPOINTS).exists()
    # Resuming at an epoch boundary restores weights, optimiser, scheduler and RNG: same as uninterrupted.
    assert resumed.equals(tsv(base_run, "train/loss"))
    assert np.allclose(dev_logits(tmp_path / "models/finetuned"), dev_logits(base_run / "models/finetuned"))


def test_each_epoch_logs_plain_cross_entropy_on_dev_and_a_fixed_train_sample(base_run):
    """dev/ce is the cross-entropy of the gold labels in eval mode: recomputed here from the saved
    (best-epoch) model, it is the value logged for that epoch."""
    for name in ("train/ce", "dev/ce"):
        assert tsv(base_run, name)["step"].tolist() == [1, 2]
    metrics = json.loads((base_run / "dvclive/metrics.json").read_text())
    gold = split_frame("dev")["label"].to_numpy()
    assert training.cross_entropy(dev_logits(base_run / "models/finetuned"), gold) == pytest.approx(
        metrics["dev"]["ce"], abs=1e-4)
    assert metrics["train"]["ce"] > 0 and metrics["train_rows"] == len(split_frame("train"))
    sample = training.train_sample(split_frame("train"), 15)
    assert len(sample) == 15 and sample.equals(training.train_sample(split_frame("train"), 15))


def test_a_changed_training_loss_leaves_the_logged_cross_entropy_plain(base_run, tiny_bert, tmp_path):
    # The metric is the plain cross-entropy of the gold labels, whatever loss the run trains with.
    logits = np.array([[2.0, 0.1, -1.0], [0.0, 3.0, 0.5], [-1.0, 0.2, 1.5], [1.0, 1.0, 0.0]])
    gold = np.array([0, 1, 2, 1])
    ce = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(gold)).item()
    metrics = training.compute_metrics(EvalPrediction(predictions=logits, label_ids=gold))
    assert metrics["ce"] == pytest.approx(ce, abs=1e-6) and metrics["accuracy"] == 0.75
    smoothed = training.make_loss(3, None, 0.2)({"logits": torch.tensor(logits)}, torch.tensor(gold)).item()
    assert abs(smoothed - ce) > 0.05
    # Without smoothing or weights the run's own dev loss is that cross-entropy; with smoothing, the
    # logged dev/ce is still the plain cross-entropy of the kept model.
    assert np.allclose(tsv(base_run, "dev/loss")["loss"], tsv(base_run, "dev/ce")["ce"], atol=1e-4)
    out = run(tmp_path, tiny_bert, label_smoothing=0.2)
    kept = json.loads((out / "dvclive/metrics.json").read_text())
    assert training.cross_entropy(dev_logits(out / "models/finetuned"), split_frame("dev")["label"].to_numpy()
                                  ) == pytest.approx(kept["dev"]["ce"], abs=1e-4)


def test_reinit_layers_changes_the_top_layers_and_the_pooler_only(tiny_bert):
    params = TrainParams(checkpoint=str(tiny_bert), revision="main")
    before = training.load_model(params, NAMES).state_dict()
    model = training.load_model(params, NAMES)
    torch.manual_seed(0)
    names = training.reinit_top_layers(model, 1)  # the tiny model has 2 encoder layers
    after = model.state_dict()
    changed = {n for n in before if n.startswith("bert.") and not torch.equal(before[n], after[n])}
    top = {n for n in before if n.startswith(("bert.encoder.layer.1.", "bert.pooler."))}
    weights = {n for n in top if n.endswith("weight") and "LayerNorm" not in n}
    assert weights <= changed <= top  # every matrix re-drawn; LayerNorm and biases reset (may equal)
    assert set(names) == top
    assert training.reinit_top_layers(model, 0) == []
    with pytest.raises(SystemExit, match=r"train\.reinit_layers: 3 exceeds .* 2 encoder layers"):
        training.reinit_top_layers(model, 3)


def test_layer_lr_decay_gives_each_layer_the_rate_of_the_one_above_times_the_decay(tiny_bert, tmp_path):
    params = TrainParams(checkpoint=str(tiny_bert), revision="main", learning_rate=1e-3)
    model = training.load_model(params, NAMES)
    dev = training.to_dataset(split_frame("dev"), AutoTokenizer.from_pretrained(tiny_bert), 32, soft=False)
    with contextlib.chdir(tmp_path):
        args = training.training_args(params, "fp32")
        optimizer = training.FinetuneTrainer(model=model, args=args, eval_dataset=dev,
                                             layer_lr_decay=0.5).create_optimizer()
    lr_of = {id(p): (g["lr"], g["weight_decay"]) for g in optimizer.param_groups for p in g["params"]}
    expected_lr = {"bert.embeddings.": 1e-3 * 0.5 ** 3, "bert.encoder.layer.0.": 1e-3 * 0.5 ** 2,
                   "bert.encoder.layer.1.": 1e-3 * 0.5, "bert.pooler.": 1e-3, "classifier.": 1e-3}
    for name, param in model.named_parameters():
        prefix = next(p for p in expected_lr if name.startswith(p))
        lr, decay = lr_of[id(param)]
        assert lr == pytest.approx(expected_lr[prefix]), name
        assert decay == (0.0 if "bias" in name or "LayerNorm" in name else params.weight_decay), name
    with contextlib.chdir(tmp_path):  # 1.0: the Trainer's own optimizer, one learning rate
        plain = training.FinetuneTrainer(model=model, args=args, eval_dataset=dev).create_optimizer()
    assert {g["lr"] for g in plain.param_groups} == {1e-3}


def test_the_layer_lr_decay_text_says_what_the_optimizer_does(tiny_bert, tmp_path):
    """The Level 4 text's claim, read from the text itself (en and ja: head and pooler at the base rate,
    the top encoder layer at rate x decay, layer i at rate x decay^(L - i), the embeddings at
    rate x decay^(L + 1)), against the optimizer's groups on a built model."""
    from ja_sentiment.countermeasures import COUNTERMEASURES

    text = COUNTERMEASURES["layer_lr_decay"].what
    assert ("Gives the classification head and the pooler the base learning rate (train.learning_rate), the "
            "top encoder layer that rate × train.layer_lr_decay") in text["en"]
    assert ("分類ヘッドとプーラーに基本の学習率（train.learning_rate）を、"
            "最上位のエンコーダ層にその学習率 × train.layer_lr_decay を") in text["ja"]
    layer = re.search(r"layer i \(counted from 0 at the bottom\) learns at rate × decay\^\((.+?)\)",
                      text["en"])[1]
    embeddings = re.search(r"embeddings at rate × decay\^\((.+?)\)", text["en"])[1]
    assert f"学習率 × 減衰率^({layer})" in text["ja"] and f"学習率 × 減衰率^({embeddings})" in text["ja"]

    def exponent(formula: str, n_layers: int, i: int = 0) -> int:  # "L − i" as the text writes it
        return eval(formula.replace("−", "-"), {"L": n_layers, "i": i})  # noqa: S307 (our own text)

    params = TrainParams(checkpoint=str(tiny_bert), revision="main", learning_rate=1e-3)
    model = training.load_model(params, NAMES)
    dev = training.to_dataset(split_frame("dev"), AutoTokenizer.from_pretrained(tiny_bert), 32, soft=False)
    with contextlib.chdir(tmp_path):
        optimizer = training.FinetuneTrainer(model=model, args=training.training_args(params, "fp32"),
                                             eval_dataset=dev, layer_lr_decay=0.7).create_optimizer()
    lr_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    n_layers = model.config.num_hidden_layers
    claimed = {"bert.embeddings.": exponent(embeddings, n_layers), "bert.pooler.": 0, "classifier.": 0,
               **{f"bert.encoder.layer.{i}.": exponent(layer, n_layers, i) for i in range(n_layers)}}
    assert claimed[f"bert.encoder.layer.{n_layers - 1}."] == 1  # the top layer: rate x decay
    for name, param in model.named_parameters():
        prefix = next(p for p in claimed if name.startswith(p))
        assert lr_of[id(param)] == pytest.approx(1e-3 * 0.7 ** claimed[prefix]), name


def test_drop_label_issues_leaves_out_exactly_the_lowest_ranked_rows(tiny_bert, tmp_path):
    from ja_sentiment.label_issues import read_ranking
    from stages import label_issues

    path = workdir(tmp_path, tiny_bert, drop_label_issues=4)
    with contextlib.chdir(path):
        label_issues.main()
        finetune.main()
    ranking = read_ranking(path / "data/label_issues/ranking.csv")
    assert ranking["rank"].tolist() == list(range(1, len(split_frame("train")) + 1))
    provenance = json.loads((path / "models/finetuned/provenance.json").read_text(encoding="utf-8"))
    assert provenance["dropped_label_issues"] == ranking["id"].head(4).tolist()
    metrics = json.loads((path / "dvclive/metrics.json").read_text())
    assert (metrics["train_rows"], metrics["dropped_label_issues"]) == (len(split_frame("train")) - 4, 4)
    dropped = split_frame("train").set_index("id").loc[ranking["id"].head(4), "label"]
    assert metrics["engaged"]["dropped_by_class"] == {name: int((dropped == i).sum()) for i, name in
                                                      enumerate(NAMES)}
    with contextlib.chdir(path), pytest.raises(SystemExit, match=r"train\.drop_label_issues: 999 rows"):
        finetune.without_label_issues(split_frame("train"), 999)


def test_the_new_knobs_run_through_the_stage(tiny_bert, tmp_path):
    out = run(tmp_path, tiny_bert, layer_lr_decay=0.8, reinit_layers=1)
    provenance = json.loads((out / "models/finetuned/provenance.json").read_text(encoding="utf-8"))
    assert (provenance["params"]["layer_lr_decay"], provenance["params"]["reinit_layers"]) == (0.8, 1)
    engaged = json.loads((out / "dvclive/metrics.json").read_text())["engaged"]
    # Embeddings, layer 0, layer 1 and the top (pooler, head): four learning rates.
    assert engaged["lr_groups"] == 4 and engaged["reinitialised_layers"] == 1
    model = AutoModelForSequenceClassification.from_pretrained(out / "models/finetuned")
    top = [n for n, _ in model.named_parameters() if n.startswith(("bert.encoder.layer.1.", "bert.pooler."))]
    assert engaged["reinitialised_tensors"] == len(top)
    assert tsv(out, "dev/ce")["step"].tolist() == [1, 2]


def test_token_batched_evaluation_matches_the_trainers_own(tiny_bert, tmp_path):
    """The per-epoch evaluation in length-sorted token-budget batches: every dev row once, fewer padded
    positions, and the same loss and metrics as the Trainer's fixed-size batches in dataset order."""
    params = TrainParams(checkpoint=str(tiny_bert), revision="main", eval_batch_size=4)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    dev = training.to_dataset(split_frame("dev"), tokenizer, 32, soft=False)
    results, padded = {}, {}
    model = training.load_model(params, NAMES)  # one model: its new head is random
    loss_fn = training.make_loss(len(NAMES), None, 0.1)  # label smoothing: row_loss is not ce
    with contextlib.chdir(tmp_path):
        for budget in (0, 40):
            trainer = training.FinetuneTrainer(
                model=model, args=training.training_args(params, "fp32"),
                eval_dataset={"dev": dev}, data_collator=DataCollatorWithPadding(tokenizer),
                compute_metrics=partial(training.compute_metrics, loss_fn=loss_fn), eval_batch_tokens=budget,
                compute_loss_func=loss_fn)
            loader = trainer.get_eval_dataloader("dev")
            batches = list(loader)
            assert sum(len(b["labels"]) for b in batches) == len(dev)
            padded[budget] = sum(b["input_ids"].numel() for b in batches)
            if budget:
                assert all(b["input_ids"].numel() <= budget for b in batches if len(b["labels"]) > 1)
            results[budget] = trainer.evaluate()
    assert padded[40] < padded[0]
    for key in ("eval_dev_row_loss", "eval_dev_ce", "eval_dev_accuracy", "eval_dev_macro_f1"):
        assert results[40][key] == pytest.approx(results[0][key], abs=1e-5), key


def test_the_best_epoch_is_the_same_with_either_evaluation_batching(base_run, tiny_bert, tmp_path):
    other = run(tmp_path / "trainer_batches", tiny_bert, eval_batch_tokens=0)
    for name in ("dev/macro_f1", "dev/ce", "dev/loss"):
        assert np.allclose(tsv(base_run, name).iloc[:, -1], tsv(other, name).iloc[:, -1], atol=1e-5), name
    best = [json.loads((p / "dvclive/metrics.json").read_text())["best_epoch"] for p in (base_run, other)]
    assert best[0] == best[1]


def test_a_hub_model_neither_reachable_nor_cached_is_one_clear_line(tmp_path, monkeypatch):
    """The default hub id offline with an empty cache: the stage ends with one line naming the model,
    its revision and the ways out, and no traceback."""
    path = workdir(tmp_path / "project", Path("unused"))
    params = yaml.safe_load((path / "params.yaml").read_text(encoding="utf-8"))
    default = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))["train"]
    params["train"].update(checkpoint=default["checkpoint"], revision=default["revision"])
    (path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "HF_HOME": str(tmp_path / "empty_hf"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "stages.finetune"], cwd=path, env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(f"model '{default['checkpoint']}' at revision 'main' is neither reachable "
                           "(HF_HUB_OFFLINE=1) nor in the Hugging Face cache"), line
    for way_out in ("go online", "hf download", ". build/smoke.env", "make exp SMOKE=1",
                    "local model directory"):
        assert way_out in line


def test_l2_sp_penalty_and_gradient_after_a_known_perturbation(tiny_bert):
    """alpha / 2 x |delta|^2 over the pre-trained parameters only, gradient alpha x delta; the new head
    and re-initialised layers are not pulled."""
    params = TrainParams(checkpoint=str(tiny_bert), revision="main")
    model = training.load_model(params, NAMES)
    torch.manual_seed(0)
    new = set(training.reinit_top_layers(model, 1))
    l2 = training.L2SP(model, alpha=0.5, new=new)
    named = dict(model.named_parameters())
    assert set(l2.names) == {n for n in named if not n.startswith("classifier.") and n not in new} and new
    assert float(l2.penalty()) == 0.0
    delta = {}
    with torch.no_grad():
        for name, param in named.items():
            delta[name] = 0.01 * torch.randn_like(param)
            param += delta[name]
    penalty = l2.penalty()
    expected = 0.5 / 2 * sum(float((delta[n] ** 2).sum()) for n in l2.names)
    assert float(penalty) == pytest.approx(expected, rel=1e-5)
    penalty.backward()
    for name, param in named.items():
        if name in l2.names:
            assert torch.allclose(param.grad, 0.5 * delta[name], atol=1e-7), name
        else:
            assert param.grad is None, name  # the head and the re-initialised layer: not pulled


def _trainer(tiny_bert, tmp_path, params: TrainParams, **kwargs):
    model = training.load_model(params, NAMES)
    dev = training.to_dataset(split_frame("dev"), AutoTokenizer.from_pretrained(tiny_bert), 32, soft=False)
    with contextlib.chdir(tmp_path):
        trainer = training.FinetuneTrainer(model=model, args=training.training_args(params, "fp32"),
                                           eval_dataset={"dev": dev}, compute_loss_func=training.make_loss(
                                               3, None, 0.0), **kwargs)
    return model, trainer


def test_r_drop_loss_is_cross_entropy_plus_alpha_times_the_two_passes_kl(tiny_bert, tmp_path):
    params = TrainParams(checkpoint=str(tiny_bert), revision="main")
    model, trainer = _trainer(tiny_bert, tmp_path, params, r_drop=0.7)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    frame = split_frame("train").head(6)
    batch = dict(tokenizer(frame["text"].tolist(), padding=True, return_tensors="pt"))
    labels = torch.tensor(frame["label"].to_numpy())
    model.train()
    torch.manual_seed(1)
    loss = trainer.compute_loss(model, {**batch, "labels": labels})
    torch.manual_seed(1)  # the same dropout masks: one pass of the batch stacked twice
    logits = model(**{k: torch.cat([v, v]) for k, v in batch.items()}).logits
    ce = torch.nn.functional.cross_entropy(logits, torch.cat([labels, labels]))  # mean of the two passes
    p, q = logits.log_softmax(-1).chunk(2)
    kl = ((p.exp() * (p - q)).sum(-1) + (q.exp() * (q - p)).sum(-1)) / 2
    assert float(loss) == pytest.approx(float(ce + 0.7 * kl.mean()), rel=1e-5)
    assert float(kl.mean()) > 0  # the two passes differ: dropout is on
    model.eval()  # evaluation: one pass, the plain loss
    with torch.no_grad():
        plain = torch.nn.functional.cross_entropy(model(**batch).logits, labels)
        assert float(trainer.compute_loss(model, {**batch, "labels": labels})) == pytest.approx(float(plain))


def test_weight_averaging_averages_the_last_epochs_and_keeps_what_dev_prefers(tiny_bert, tmp_path):
    """The average is the mean of the saved epochs' weights; the stage evaluates it on dev like an
    epoch and keeps it only if its dev macro-F1 is at least the best epoch's: the saved model is
    the one the record says."""
    params = TrainParams(checkpoint=str(tiny_bert), revision="main")
    model = training.load_model(params, NAMES)
    averager = training.WeightAverage(2)
    states = []
    for epoch in (1, 2, 3):
        with torch.no_grad():
            for param in model.parameters():
                param += 0.1 * epoch
        states.append({n: t.clone() for n, t in model.state_dict().items()})
        averager.on_epoch_end(None, type("State", (), {"epoch": float(epoch)})(), None, model=model)
    assert averager.epochs == [2, 3]
    average = averager.average()
    for name, tensor in states[-1].items():
        if tensor.is_floating_point():
            assert torch.allclose(average[name], (states[1][name] + states[2][name]) / 2), name
        else:
            assert torch.equal(average[name], tensor), name  # position ids: as saved
    out = run(tmp_path, tiny_bert, epochs=3, average_checkpoints=2)
    metrics = json.loads((out / "dvclive/metrics.json").read_text())
    averaged = metrics["engaged"]["averaged"]
    assert averaged["epochs"] == [2, 3]
    f1 = tsv(out, "dev/macro_f1").set_index("step")["macro_f1"]
    assert averaged["best_epoch_dev_macro_f1"] == pytest.approx(f1.max())
    assert averaged["kept"] == (averaged["dev_macro_f1"] >= f1.max())
    kept = averaged["dev_macro_f1"] if averaged["kept"] else f1.max()
    assert metrics["dev"]["macro_f1"] == pytest.approx(kept)
    gold = split_frame("dev")["label"].to_numpy()
    saved = dev_logits(out / "models/finetuned").argmax(axis=1)
    assert macro_f1(gold, saved, 3) == pytest.approx(kept, abs=1e-6)  # the saved model is the kept one
    with pytest.raises(SystemExit, match=r"train\.average_checkpoints: 4 epochs cannot be averaged"):
        run(tmp_path / "bad", tiny_bert, epochs=3, average_checkpoints=4)


def test_lora_trains_adapters_and_the_head_and_saves_a_merged_model(tiny_bert, tmp_path):
    params = TrainParams(checkpoint=str(tiny_bert), revision="main")
    model = training.add_lora(training.load_model(params, NAMES), 4)
    config = model.config
    lora = 2 * config.num_hidden_layers * 2 * 4 * config.hidden_size  # query and value: A (r x h), B (h x r)
    head = config.hidden_size * 3 + 3
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == lora + head
    with torch.no_grad():  # B starts at 0 (the adapted model equals the base): give the adapters weight
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    batch = tokenizer(split_frame("dev")["text"].tolist(), padding=True, return_tensors="pt")
    with torch.no_grad():
        adapted = model(**batch).logits
        merged = model.merge_and_unload()(**batch).logits
    assert (adapted.argmax(-1) == merged.argmax(-1)).all() and torch.allclose(adapted, merged, atol=1e-4)
    out = run(tmp_path, tiny_bert, lora_rank=4)
    engaged = json.loads((out / "dvclive/metrics.json").read_text())["engaged"]
    assert (engaged["lora_rank"], engaged["trainable_parameters"]) == (4, lora + head)
    saved = out / "models/finetuned"
    assert not (saved / "adapter_config.json").exists()  # a plain model: pipeline() and predict load it
    classify = pipeline("text-classification", model=str(saved))
    assert classify("部屋が綺麗でした。")[0]["label"] in NAMES
    texts = tmp_path / "texts.txt"
    texts.write_text("部屋が綺麗でした。\n朝食が冷めていた。\n", encoding="utf-8")
    predicted = subprocess.run([sys.executable, "-m", "ja_sentiment.tools.predict", str(texts), "--model",
                                str(saved)], capture_output=True, text=True, cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert len(rows) == 2 and all(r["label"] in NAMES for r in rows)


class _TorchClipping(training.FinetuneTrainer):
    """The control: the Trainer's own clipping (clip_grad_norm_'s separate multiplying pass)."""

    def _clip_grad_norm(self, model):
        return Trainer._clip_grad_norm(self, model)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_clipping_folded_into_the_fused_step_trains_as_clip_grad_norm_does(tiny_bert, tmp_path, precision):
    """The same 4 optimiser steps with the gradient clipping folded into fused AdamW's step and with
    clip_grad_norm_: the same norms, weights within 1e-6 where clipping acts (a division where torch
    multiplies: the last bit; 1e-4 in bf16), bitwise equal where it never acts."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    train = training.to_dataset(split_frame("train"), tokenizer, 32, soft=False)

    def weights(cls, max_norm: float) -> tuple[torch.Tensor, list[float]]:
        params = TrainParams(checkpoint=str(tiny_bert), revision="main", batch_size=8, learning_rate=2e-3)
        torch.manual_seed(0)
        model = training.load_model(params, NAMES)
        args = dataclasses.replace(training.training_args(params, precision), output_dir=str(tmp_path),
                                   max_steps=4, max_grad_norm=max_norm, logging_strategy="steps",
                                   logging_steps=1, eval_strategy="no", save_strategy="no",
                                   load_best_model_at_end=False, report_to="none", disable_tqdm=True)
        with contextlib.chdir(tmp_path):
            trainer = cls(model=model, args=args, train_dataset=train,
                          data_collator=DataCollatorWithPadding(tokenizer),
                          compute_loss_func=training.make_loss(3, None, 0.0))
            trainer.train()
        assert trainer.optimizer.optimizer.defaults["fused"]  # the default optimizer: fused AdamW
        norms = [row["grad_norm"] for row in trainer.state.log_history if "grad_norm" in row]
        return torch.cat([p.detach().flatten() for p in model.parameters()]), norms

    folded, folded_norms = weights(training.FinetuneTrainer, 0.05)
    control, control_norms = weights(_TorchClipping, 0.05)
    assert len(folded_norms) == 4 and min(control_norms) > 0.05  # clipping acted on every step
    # The first step's norm is the same; later ones follow weights that differ in the last bits.
    assert folded_norms[0] == pytest.approx(control_norms[0], rel=1e-7)
    assert folded_norms == pytest.approx(control_norms, rel=1e-5 if precision == "fp32" else 1e-4)
    # fp32: the last bit of the division; bf16: that bit can flip a weight's bf16 rounding in the next
    # forward (measured up to 7e-6 after 4 steps; the weights move by up to 8e-3 at lr 2e-3).
    assert float((folded - control).abs().max()) <= (1e-6 if precision == "fp32" else 1e-4)
    assert not torch.equal(folded, control)
    assert torch.equal(weights(training.FinetuneTrainer, 1e6)[0], weights(_TorchClipping, 1e6)[0])


def test_clipping_stays_with_clip_grad_norm_for_an_optimizer_that_is_not_fused_adam():
    model = torch.nn.Linear(3, 2)
    model(torch.ones(4, 3)).sum().backward()
    for optimizer in (torch.optim.SGD(model.parameters(), lr=0.1),
                      torch.optim.AdamW(model.parameters(), lr=0.1, foreach=True)):
        assert training.clip_in_optimizer(optimizer, model.parameters(), 1.0) is None
        assert getattr(optimizer, "grad_scale", None) is None
    fused = torch.optim.AdamW(model.parameters(), lr=0.1, fused=True)
    norm = training.clip_in_optimizer(fused, model.parameters(), 1.0)
    grads = [p.grad for p in model.parameters()]
    assert float(norm) == pytest.approx(float(torch.nn.utils.get_total_norm(grads)))
    assert float(fused.grad_scale) == pytest.approx(max(1.0, float(norm) + 1e-6))


FAULTS = """
import resource, sys, torch
from ja_sentiment.hardware import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "kept" else False
def step():  # what a training step does with its gradients: allocate, fill, free
    torch.empty(25 << 20).fill_(1.0)  # 100 MB: bert-base's word-embedding gradient
    torch.empty(4 << 20).fill_(1.0)  # 16 MB
for _ in range(20):  # the heap settles (where kept)
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(kept, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_memory_freed_by_a_step_is_reused_without_page_faults():
    """A step's blocks (100 MB, as bert-base's word-embedding gradient, and 16 MB) freed and
    allocated again, 20 times after 20: with glibc's defaults a block above its largest mmap
    threshold (32 MB) is a fresh mmap each time whose 25,600 pages fault in again; with
    keep_freed_memory (finetune's setting) the heap keeps the blocks and no page faults (each run in
    its own process: the setting is the process's)."""
    out = {arm: subprocess.run([sys.executable, "-c", FAULTS, arm], capture_output=True, text=True,
                               check=True, cwd=ROOT).stdout.split() for arm in ("default", "kept")}
    assert out["kept"][0] == "True" and out["default"][0] == "False"
    assert float(out["default"][1]) > 20_000 and float(out["kept"][1]) < 10, out
