"""params.yaml goes through one schema: bad values fail at once with a message naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stages.common import ParamsError, load_params

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
