"""evaluate: hand-computed metrics, confusion data per example, the fine-tuned model's predictions."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ja_sentiment.data import read_split, write_json
from ja_sentiment.inference import classify, inference_precision
from ja_sentiment.models import load_text_classifier
from ja_sentiment.params import EvaluateParams
from ja_sentiment.provenance import max_length_of
from ja_sentiment.stats import UNCLEAR
from ja_sentiment.tools.predict import main as predict_main
from stages import evaluate

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["negative", "neutral", "positive"]
TEXTS = ["部屋が狭かった。", "朝食は普通でした。", "また利用したいです。", "接客が最悪でした。",
         "駅から近くて便利でした。", "景色が最高でした。"]
# Gold label per split; ids are <split initial><n>.
GOLD = {"train": [0, 1, 2, 2, 0, 1], "dev": [0, 1, 2, 2], "test": [0, 0, 1, 2, 2, 2]}
# baseline_plain on test: accuracy 4/6; negative P 1 R 1/2; neutral P 1/3 R 1; positive P 1 R 2/3.
PLAIN_TEST = ["negative", "neutral", "neutral", "neutral", "positive", "positive"]


def write_splits() -> None:
    Path("data/processed").mkdir(parents=True)
    for split, labels in GOLD.items():
        texts = [TEXTS[i % len(TEXTS)] for i in range(len(labels))]
        pd.DataFrame({"id": [f"{split[0]}{i}" for i in range(len(labels))], "text": texts, "label": labels,
                      "label_name": [NAMES[v] for v in labels], "agreement": 1.0,
                      "votes": [json.dumps([3 * (v == c) for c in range(3)]) for v in labels],
                      "length": [len(t) for t in texts]}).to_csv(f"data/processed/{split}.tsv", sep="\t",
                                                                 index=False)


def write_preds(model: str, split: str, pred: list[str]) -> None:
    gold = [NAMES[v] for v in GOLD[split]]
    frame = pd.DataFrame({"id": [f"{split[0]}{i}" for i in range(len(gold))], "gold": gold, "pred": pred})
    for n in NAMES:
        frame[f"p_{n}"] = np.where(frame["pred"] == n, 0.8, 0.1)
    out = Path("predictions") / model
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / f"{split}.csv", index=False)
    card = {"commit": "c" * 40, "standin": model == "baseline_plain"} if model.startswith("baseline") else {}
    write_json(out / "meta.json", {"model": f"hub/{model}", "revision": "abc123", "threshold": None, **card})


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Splits plus hand-made predictions of every model (finetuned too: evaluate_all scores it alike)."""
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    write_splits()
    for model in ("baseline_plain", "baseline_band", "tfidf", "finetuned"):
        for split in ("train", "dev", "test"):
            gold = [NAMES[v] for v in GOLD[split]]
            write_preds(model, split, PLAIN_TEST if split == "test" else gold)
    return tmp_path


def test_metrics_match_hand_computed(workdir: Path) -> None:
    metrics = evaluate.evaluate_all(NAMES)
    m = metrics["baseline_plain"]["test"]
    assert m["accuracy"] == pytest.approx(4 / 6, abs=1e-4)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 0.8) / 3, abs=1e-4)
    assert m["weighted_f1"] == pytest.approx((2 * 2 / 3 + 0.5 + 3 * 0.8) / 6, abs=1e-4)
    keys = ("precision", "recall", "f1", "support")
    for name, values in {"negative": (1.0, 0.5, 2 / 3, 2), "neutral": (1 / 3, 1.0, 0.5, 1),
                         "positive": (1.0, 2 / 3, 0.8, 3)}.items():
        assert {k: m[name][k] for k in keys} == pytest.approx(dict(zip(keys, values, strict=True)), abs=1e-4)
        assert m[name]["f1_ci_low"] <= m[name]["f1"] <= m[name]["f1_ci_high"]
    for key in ("accuracy", "macro_f1"):  # 6 test rows: the intervals are wide, and say so
        low, high = m[f"{key}_ci_low"], m[f"{key}_ci_high"]
        assert low < m[key] < high and high - low > 0.3
    assert "95% intervals (percentile bootstrap over the 6 rows, 1000 resamples, seed 0)" in Path(
        "reports/classification/baseline_plain_test.txt").read_text()
    # Every prediction has probability 0.8; 4 of 6 are right: ECE = |4/6 - 0.8|, in one bin.
    assert m["ece"] == pytest.approx(0.8 - 4 / 6, abs=1e-4)
    reliability = pd.read_csv("plots/calibration/baseline_plain_test.csv")  # the bins that hold rows
    assert reliability.to_dict("records") == [{"bin": 12, "low": 0.733333, "high": 0.8, "examples": 6,
                                               "confidence": pytest.approx(0.8),
                                               "accuracy": pytest.approx(4 / 6)}]
    # Every model made the same predictions here: no difference, McNemar p = 1, no verdict either way.
    versus = metrics["comparisons"]["finetuned_vs_tfidf"]
    assert versus["accuracy_diff"] == versus["accuracy_diff_ci_low"] == versus["accuracy_diff_ci_high"] == 0
    assert versus["mcnemar_p"] == 1.0 and versus["accuracy_verdict"] == UNCLEAR
    others = ("baseline_plain", "baseline_band", "tfidf")
    assert set(metrics["comparisons"]) == {f"finetuned_vs_{m}" for m in others}
    assert pd.read_csv("reports/test_predictions/tfidf.csv").columns.tolist() == ["id", "gold", "pred"]
    assert metrics["tfidf"]["dev"]["accuracy"] == 1.0
    # Baselines are scored on dev/test only; trained models on train too.
    assert set(metrics["baseline_band"]) == {"dev", "test"}
    assert set(metrics["tfidf"]) == set(metrics["finetuned"]) == {"train", "dev", "test"}
    assert metrics["models"]["baseline_plain"] == {"model": "hub/baseline_plain", "revision": "abc123",
                                                   "commit": "c" * 40, "standin": True}
    assert metrics["models"]["tfidf"] == {"model": "hub/tfidf", "revision": "abc123"}
    assert metrics["standin"] is True  # one stand-in among the models marks the whole file
    for model in ("baseline_plain", "tfidf"):
        for split in metrics[model]:
            conf = pd.read_csv(f"plots/confusion/{model}_{split}.csv")
            assert list(conf.columns) == ["actual", "predicted"] and len(conf) == len(GOLD[split])
            assert Path(f"plots/confusion/{model}_{split}.png").stat().st_size > 0
    assert pd.read_csv("plots/confusion/baseline_plain_test.csv")["predicted"].tolist() == PLAIN_TEST
    report = json.loads(Path("reports/classification/baseline_plain_test.json").read_text())
    assert report["neutral"]["precision"] == pytest.approx(1 / 3)
    assert "negative" in Path("reports/classification/baseline_plain_test.txt").read_text()
    assert not Path("plots/confusion/baseline_plain_train.csv").exists()


def test_missing_optional_split_is_skipped(workdir: Path) -> None:
    Path("predictions/baseline_band/dev.csv").unlink()
    metrics = evaluate.evaluate_all(NAMES)
    assert set(metrics["baseline_band"]) == {"test"}
    assert not Path("plots/confusion/baseline_band_dev.csv").exists()


def drop_rows() -> None:
    pd.read_csv("predictions/tfidf/dev.csv").head(3).to_csv("predictions/tfidf/dev.csv", index=False)


@pytest.mark.parametrize("breakage, message", [
    (lambda: shutil.rmtree("predictions/tfidf"), "predictions/tfidf is missing"),
    (drop_rows, "does not cover exactly the ids"),
    (lambda: write_preds("tfidf", "dev", ["negative", "neutral", "bogus", "positive"]), "unknown label"),
])
def test_bad_predictions_fail(workdir: Path, breakage, message: str) -> None:
    breakage()
    with pytest.raises(SystemExit, match=message):
        evaluate.evaluate_all(NAMES)


def test_label_order_by_name() -> None:
    assert evaluate.label_order({0: "positive", 1: "negative", 2: "neutral"}, NAMES) == [1, 2, 0]
    with pytest.raises(SystemExit, match="differ from label_names"):
        evaluate.label_order({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, NAMES)


def test_max_length_from_provenance() -> None:
    assert max_length_of({"params": {"max_length": 64}}) == 64
    assert max_length_of({"max_length": 32}) == 32
    assert max_length_of({"base_model": "x"}) == 128


@pytest.fixture(scope="module")
def fake_finetuned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random 3-label BERT whose ids are NOT in project order, saved like the finetune stage does."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from ja_sentiment.tools.standins import build

    base = tmp_path_factory.mktemp("tiny")
    paths = build(TEXTS * 3, base / "built", vocab_size=300)
    config = BertConfig.from_pretrained(paths["bert"])
    config.id2label = {0: "positive", 1: "negative", 2: "neutral"}
    config.label2id = {v: k for k, v in config.id2label.items()}
    out = base / "finetuned"
    BertForSequenceClassification(config).save_pretrained(out)
    AutoTokenizer.from_pretrained(paths["bert"]).save_pretrained(out)
    write_json(out / "provenance.json", {"base_model": "build/tiny/bert", "revision": "local directory",
                                         "commit": "local directory", "standin": False, "precision": "bf16",
                                         "best_epoch": 2, "params": {"max_length": 32}})
    return out


def set_precision(precision: str, **evaluate_params) -> None:
    params = yaml.safe_load(Path("params.yaml").read_text(encoding="utf-8"))
    params["evaluate"].update(precision=precision, **evaluate_params)
    Path("params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")


def test_main_predicts_with_finetuned_model(workdir: Path, fake_finetuned: Path) -> None:
    shutil.rmtree("predictions/finetuned")
    shutil.copytree(fake_finetuned, "models/finetuned")
    set_precision("fp32")  # bit-comparable with a plain pipeline call below
    evaluate.main()
    meta = json.loads(Path("predictions/finetuned/meta.json").read_text())
    assert meta == {"model": "models/finetuned", "base_model": "build/tiny/bert",
                    "revision": "local directory", "commit": "local directory", "standin": False,
                    "train_precision": "bf16", "max_length": 32, "precision": "fp32", "best_epoch": 2,
                    "temperature": 1.0}
    pipe = load_text_classifier("models/finetuned", "main", 32)
    for split, labels in GOLD.items():
        pred = pd.read_csv(f"predictions/finetuned/{split}.csv", dtype={"id": str})
        assert list(pred.columns) == ["id", "gold", "pred", "p_negative", "p_neutral", "p_positive"]
        assert pred["id"].tolist() == [f"{split[0]}{i}" for i in range(len(labels))]
        assert set(pred["pred"]) <= set(NAMES)
        probs = pred[["p_negative", "p_neutral", "p_positive"]].to_numpy()
        assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
        assert (np.asarray(NAMES)[probs.argmax(axis=1)] == pred["pred"]).all()
        # Columns are matched to the model's labels by name, not by id.
        raw = {s["label"]: s["score"] for s in pipe(TEXTS[0], top_k=None)}
        assert probs[0] == pytest.approx([raw[n] for n in NAMES], abs=1e-4)
        assert len(pd.read_csv(f"plots/confusion/finetuned_{split}.csv")) == len(labels)
    metrics = json.loads(Path("metrics/evaluate.json").read_text())
    assert metrics["models"]["finetuned"] == {"model": "models/finetuned", "base_model": "build/tiny/bert",
                                              "revision": "local directory", "commit": "local directory",
                                              "standin": False, "precision": "fp32",
                                              "train_precision": "bf16"}
    assert set(metrics["finetuned"]) == {"train", "dev", "test", "temperature"}


def test_auto_precision_is_resolved_and_recorded(workdir: Path, fake_finetuned: Path) -> None:
    """precision auto: bf16 where this CPU computes bf16 natively, fp32 elsewhere; the files name
    the precision that ran, and the predictions are those of that precision."""
    shutil.rmtree("predictions/finetuned")
    shutil.copytree(fake_finetuned, "models/finetuned")
    set_precision("auto")
    evaluate.main()
    ran = inference_precision("auto", "cpu")
    assert ran in ("bf16", "fp32")
    assert json.loads(Path("predictions/finetuned/meta.json").read_text())["precision"] == ran
    assert json.loads(Path("metrics/evaluate.json").read_text())["models"]["finetuned"]["precision"] == ran
    pipe = load_text_classifier("models/finetuned", "main", 32)
    cfg = EvaluateParams()
    for split in GOLD:
        frame = read_split(split)
        want = classify(pipe, frame["text"].tolist(), cfg.batch_size, 32, progress=False,
                               max_tokens=cfg.batch_tokens, bf16=ran == "bf16")
        got = pd.read_csv(f"predictions/finetuned/{split}.csv")[["p_negative", "p_neutral", "p_positive"]]
        np.testing.assert_allclose(got.to_numpy(), want[:, [1, 2, 0]], atol=1e-6)


def test_temperature_scaling_moves_probabilities_not_labels(workdir: Path, fake_finetuned: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    shutil.rmtree("predictions/finetuned")
    shutil.copytree(fake_finetuned, "models/finetuned")
    set_precision("fp32")
    evaluate.main()
    plain = {split: pd.read_csv(f"predictions/finetuned/{split}.csv") for split in GOLD}
    assert json.loads(Path("models/finetuned_calibration.json").read_text())["temperature"] == 1.0
    set_precision("fp32", temperature_scaling=True)
    evaluate.main()
    record = json.loads(Path("models/finetuned_calibration.json").read_text())
    t = record["temperature"]
    assert t != 1.0 and record["fitted_on"] == "dev"
    assert record["weights_sha256"] == hashlib.sha256(Path("models/finetuned/model.safetensors").read_bytes()
                                                      ).hexdigest()
    columns = ["p_negative", "p_neutral", "p_positive"]
    for split in GOLD:
        scaled = pd.read_csv(f"predictions/finetuned/{split}.csv")
        assert scaled["pred"].tolist() == plain[split]["pred"].tolist()  # same labels
        want = plain[split][columns].to_numpy() ** (1 / t)  # softmax(logits / T) = p^(1/T), renormalised
        want /= want.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(scaled[columns].to_numpy(), want, atol=2e-5)
    metrics = json.loads(Path("metrics/evaluate.json").read_text())
    assert metrics["finetuned"]["temperature"] == t
    assert metrics["finetuned"]["test"]["ece_before_scaling"] == record["ece_test_before_scaling"]
    # The predict CLI applies the stored temperature: the same scores as the evaluate stage's.
    Path("test.txt").write_text("\n".join(read_split("test")["text"]) + "\n", encoding="utf-8")
    predict_main(["test.txt", "--precision", "fp32", "--output", "out.jsonl"])
    got = [json.loads(line)["scores"] for line in Path("out.jsonl").read_text().splitlines()]
    expected = pd.read_csv("predictions/finetuned/test.csv")[columns].to_numpy()
    np.testing.assert_allclose([[g[c[2:]] for c in columns] for g in got], expected, atol=2e-6)
    assert f"temperature-scaled with T={t:g}" in capsys.readouterr().err
    # A record made for other weights is not applied, and the user is told why.
    Path("models/finetuned_calibration.json").write_text(json.dumps({**record, "weights_sha256": "0" * 64}))
    predict_main(["test.txt", "--precision", "fp32", "--output", "raw.jsonl"])
    raw = [json.loads(line)["scores"] for line in Path("raw.jsonl").read_text().splitlines()]
    np.testing.assert_allclose([[g[c[2:]] for c in columns] for g in raw],
                               plain["test"][columns].to_numpy(), atol=2e-6)
    assert "fitted on other weights" in capsys.readouterr().err
