"""Provenance: which model, revision and settings a result comes from. The finetune stage writes
models/finetuned/provenance.json; evaluate and every metrics file name the model from it."""

from __future__ import annotations

import json
from pathlib import Path

from ja_sentiment.data import FINETUNED_DIR

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MAX_LENGTH = 128
PROVENANCE = "provenance.json"


class ProvenanceError(SystemExit):
    """The fine-tuned model's provenance record is missing or incomplete; the message names the file."""


def model_card(model: str, revision: str) -> dict[str, str]:
    """How metrics files name the model behind them: hub id or path, and revision."""
    local = Path(model).is_dir()
    return {"model": str(Path(model).resolve().relative_to(ROOT)) if local and _under_root(model)
            else model, "revision": "local directory" if local else revision}


def _under_root(path: str) -> bool:
    try:
        Path(path).resolve().relative_to(ROOT)
        return True
    except ValueError:
        return False


def read_provenance(model_dir: Path = FINETUNED_DIR) -> dict:
    """The record the finetune stage writes beside the model: base model, revision, best epoch, params."""
    path = model_dir / PROVENANCE
    if not path.is_file():
        raise ProvenanceError(f"evaluate: {path} is missing (the finetune stage writes it)")
    prov = json.loads(path.read_text(encoding="utf-8"))
    missing = [k for k in ("base_model", "revision") if not prov.get(k)]
    if missing:
        raise ProvenanceError(f"evaluate: {path} lacks {missing}")
    return prov


def max_length_of(prov: dict) -> int:
    """The max_length the model was trained with: flat, or under provenance 'params'/'train'."""
    for source in (prov, prov.get("params"), prov.get("train")):
        if isinstance(source, dict) and isinstance(source.get("max_length"), int):
            return source["max_length"]
    return DEFAULT_MAX_LENGTH
