"""Models never run code shipped with them, and params YAML is never executed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ja_sentiment.models import load_text_classifier
from ja_sentiment.params import load_params
from ja_sentiment.tools import standins

TEXTS = ["駅から近くて便利でした。", "部屋が狭かった。", "朝食は普通でした。"] * 5


def test_model_with_custom_code_is_refused(tmp_path):
    model_dir = standins.build(TEXTS, tmp_path / "tiny", vocab_size=200)["sentiment"]
    marker = tmp_path / "executed"
    # A model repo that asks for its own Python code: loading it must not import that code.
    (model_dir / "evil.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "from transformers import BertForSequenceClassification as EvilModel\n")
    config = json.loads((model_dir / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "evil.EvilModel"}
    (model_dir / "config.json").write_text(json.dumps(config))
    try:
        load_text_classifier(str(model_dir), "main", 32)
    except Exception:  # refusing is fine: what matters is that the code never ran
        pass
    assert not marker.exists()


def test_no_source_enables_remote_code():
    root = Path(__file__).resolve().parent.parent
    for path in [*root.glob("stages/*.py"), *root.glob("bench/*.py")]:
        text = path.read_text()
        assert "trust_remote_code=True" not in text, path
        assert "pickle" not in text, path


def test_trackers_off_by_default():
    params = load_params(Path(__file__).resolve().parent.parent / "params.yaml")
    assert params.train.report_to == "none"


@pytest.mark.parametrize("payload", ["!!python/object/apply:os.system ['true']", "!!python/name:os.system"])
def test_params_yaml_tags_are_not_executed(tmp_path, payload):
    path = tmp_path / "params.yaml"
    path.write_text(f"data: {payload}\n")
    with pytest.raises(Exception, match="could not determine a constructor"):
        load_params(path)
