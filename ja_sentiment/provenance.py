"""Provenance: which model, revision and settings a result comes from. The finetune stage writes
models/finetuned/provenance.json; evaluate and every metrics file name the model from it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ja_sentiment.data import FINETUNED_DIR

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MAX_LENGTH = 128
PROVENANCE = "provenance.json"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
LOCAL = "local directory"  # revision and commit of a model loaded from a directory
# A file that no hub repo has: tools/standins.py writes it into every stand-in it builds, and results
# made with such a model say `standin: true`.
STANDIN_MARKER = "standin.json"


def calibration_file(model_dir: Path) -> Path:
    """Where evaluate stores a model's fitted temperature: beside the model directory, named after it."""
    return model_dir.with_name(model_dir.name + "_calibration.json")


CALIBRATION_FILE = calibration_file(FINETUNED_DIR)


class ProvenanceError(SystemExit):
    """The fine-tuned model's provenance record is missing or incomplete; the message names the file."""


def model_card(model: str, revision: str) -> dict[str, str | bool]:
    """How metrics files name a model: hub id or path, revision, the commit the revision resolved to
    (for a hub id: the snapshot of the local Hugging Face cache that loading it used; for a local
    directory: that it is one), and whether it is an offline stand-in (STANDIN_MARKER in its files).
    Call it after the model has been loaded: the cache then holds the snapshot."""
    if Path(model).is_dir():
        return {"model": str(Path(model).resolve().relative_to(ROOT)) if _under_root(model) else model,
                "revision": LOCAL, "commit": LOCAL, "standin": (Path(model) / STANDIN_MARKER).is_file()}
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model, "config.json", revision=revision)
    if not isinstance(found, str):
        raise ProvenanceError(f"{model}: revision {revision!r} is not in the Hugging Face cache after "
                              "loading it, so the commit behind the results cannot be named")
    snapshot = Path(found).parent  # models--org--name/snapshots/<commit>/
    return {"model": model, "revision": revision, "commit": snapshot.name,
            "standin": (snapshot / STANDIN_MARKER).is_file()}


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


def weights_sha256(model_dir: Path) -> str:
    """sha256 of the model's weight file(s): ties a calibration record to the exact weights."""
    digest = hashlib.sha256()
    found = [model_dir / name for name in WEIGHT_FILES if (model_dir / name).is_file()]
    if not found:
        raise ProvenanceError(f"{model_dir}: no weight file ({', '.join(WEIGHT_FILES)})")
    for path in found:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def read_temperature(model_dir: Path) -> tuple[float, str]:
    """The temperature stored for `model_dir` by evaluate, and where it came from; (1.0, why) when there
    is none or it was fitted on other weights (a retrained model the evaluate stage has not seen)."""
    path = calibration_file(model_dir)
    if not path.is_file():
        return 1.0, f"no {path}"
    record = json.loads(path.read_text(encoding="utf-8"))
    if record.get("weights_sha256") != weights_sha256(model_dir):
        return 1.0, f"{path} was fitted on other weights than {model_dir}'s; run `dvc repro evaluate`"
    return float(record["temperature"]), str(path)
