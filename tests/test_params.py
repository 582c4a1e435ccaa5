"""params.yaml goes through one schema: bad values fail at once with a message naming the key."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ja_sentiment.params import ParamsError, load_params

ROOT = Path(__file__).resolve().parent.parent


def with_change(tmp_path: Path, section: str, key: str, value) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params[section][key] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True))
    return path


def test_project_params_are_valid():
    params = load_params(ROOT / "params.yaml")
    assert params.preprocess.label_names == ("negative", "neutral", "positive")
    assert params.train.checkpoint == "tohoku-nlp/bert-base-japanese-v3"
    assert params.baseline.model == "mr4/bert-base-jp-sentiment-analysis"


@pytest.mark.parametrize("section, key, value, expected", [
    ("train", "epochs", -1, "train.epochs: Input should be greater than 0 (got -1)"),
    ("train", "epochs", "two", "train.epochs"),
    ("train", "precision", "fp8", "train.precision"),
    ("train", "learning_rate", 0, "train.learning_rate"),
    ("train", "label_smoothing", 1.5, "train.label_smoothing"),
    ("train", "class_weights", "inverse", "train.class_weights"),
    ("train", "epoch", 2, "train.epoch: Extra inputs are not permitted"),
    ("baseline", "label_map", {"positive": "positive", "negative": "bad"}, "baseline.label_map"),
    ("baseline", "neutral_band", 1.5, "baseline.neutral_band"),
    ("data", "sha256", "abc", "data.sha256"),
    ("preprocess", "label_names", ["a", "a", "b"], "label_names must be three distinct names"),
    ("preprocess", "split", "random", "preprocess.split"),
    ("tfidf", "ngram_min", 5, "ngram_min must not exceed ngram_max"),
])
def test_bad_value_names_the_key(tmp_path, section, key, value, expected):
    with pytest.raises(ParamsError) as err:
        load_params(with_change(tmp_path, section, key, value))
    assert expected in str(err.value)


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("data: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(yaml.constructor.ConstructorError):
        load_params(path)


@pytest.mark.parametrize("stage, section, key, value, expected", [
    ("finetune", "train", "epochs", -1, "train.epochs"),
    ("finetune", "train", "precision", "fp8", "train.precision"),
    ("baseline_pipeline", "baseline", "label_map", {"negative": "negative", "positive": "great"},
     "baseline.label_map"),
    ("fetch", "data", "url", "", "data.url"),
])
def test_stage_fails_before_any_work(tmp_path, stage, section, key, value, expected):
    with_change(tmp_path, section, key, value)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", f"stages.{stage}"], cwd=tmp_path, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0
    assert expected in proc.stderr, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]  # nothing written
    assert time.perf_counter() - started < 60
