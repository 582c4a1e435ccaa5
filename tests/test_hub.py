"""A hub model that can be neither reached nor found in the cache: one line, not a traceback."""

from __future__ import annotations

import pytest

from ja_sentiment.hub import ModelUnavailable, hub_model
from ja_sentiment.models import load_text_classifier


def test_a_hub_miss_becomes_one_line_naming_model_revision_and_ways_out():
    from huggingface_hub import constants

    # Offline (conftest), and the process's own cache (read by huggingface_hub at import) has no such
    # model: the stand-ins of the e2e tests live in caches of their own.
    # The real loading path (transformers' OSError from the hub client), for the ready-made model's id.
    with pytest.raises(ModelUnavailable) as caught:
        load_text_classifier("mr4/bert-base-jp-sentiment-analysis", "main", 128)
    message = str(caught.value)
    assert "\n" not in message and caught.value.code == message  # SystemExit prints it, status 1
    assert message.startswith("model 'mr4/bert-base-jp-sentiment-analysis' at revision 'main' is neither "
                              "reachable (HF_HUB_OFFLINE=1) nor in the Hugging Face cache")
    assert f"nor in the Hugging Face cache {constants.HF_HUB_CACHE}." in message


def test_a_local_path_keeps_its_own_error(tmp_path):
    with pytest.raises(OSError, match="broken"), hub_model(str(tmp_path), "main"):
        raise OSError("broken")
    with pytest.raises(OSError, match="gone"), hub_model(str(tmp_path / "a" / "b"), "main"):
        raise OSError("gone")  # a path, not an org/name id
