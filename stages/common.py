"""What every stage shares: the params schema, the label scheme, the data files and model loading."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ROOT = Path(__file__).resolve().parent.parent
PARAMS_FILE = Path("params.yaml")
RAW_FILE = Path("data/raw/pn.tsv")
PROCESSED_DIR = Path("data/processed")
PREDICTIONS_DIR = Path("predictions")
SPLITS = ("train", "dev", "test")
# Corpus label values, in the order of the class ids 0/1/2 (negative, neutral, positive).
CORPUS_LABELS = (-1, 0, 1)

Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]
Positive = Annotated[int, Field(gt=0)]


class Section(BaseModel):
    # Unknown keys are typos (`-S train.epoch=2`): reject them instead of silently ignoring.
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class DataParams(Section):
    url: str = Field(min_length=1, description="http(s) URL, file:// URL or local path of pn.tsv")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    timeout: Annotated[float, Field(gt=0.0)] = 60.0  # seconds without data before a try fails


class PreprocessParams(Section):
    label_names: tuple[str, str, str] = ("negative", "neutral", "positive")
    split: Literal["corpus", "stratified"] = "corpus"
    seed: int = 42
    dev_fraction: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.2
    test_fraction: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.1

    @model_validator(mode="after")
    def _distinct(self) -> PreprocessParams:
        if len(set(self.label_names)) != 3:
            raise ValueError("label_names must be three distinct names")
        return self


class BaselineParams(Section):
    model: str = Field(min_length=1)
    revision: str = Field(min_length=1)
    # Model label (case-insensitive) -> project label name.
    label_map: dict[str, str]
    # "off": plain mapping only; "tune": threshold picked on dev; a number: fixed threshold.
    neutral_band: Literal["off", "tune"] | Annotated[float, Field(gt=0.0, lt=1.0)] = "tune"
    batch_size: Positive = 64
    max_length: Annotated[int, Field(gt=0, le=512)] = 128


class TfidfParams(Section):
    ngram_min: Positive = 1
    ngram_max: Positive = 3
    max_features: Positive | None = None
    C: Annotated[float, Field(gt=0.0)] = 4.0
    class_weight: Literal["none", "balanced"] = "balanced"
    seed: int = 42

    @model_validator(mode="after")
    def _ngram_order(self) -> TfidfParams:
        if self.ngram_min > self.ngram_max:
            raise ValueError("ngram_min must not exceed ngram_max")
        return self


class TrainParams(Section):
    checkpoint: str = Field(min_length=1)
    revision: str = Field(min_length=1)
    epochs: Positive = 5
    learning_rate: Annotated[float, Field(gt=0.0, lt=1.0)] = 3e-5
    batch_size: Positive = 32
    eval_batch_size: Positive = 128
    max_length: Annotated[int, Field(gt=0, le=512)] = 128
    weight_decay: Annotated[float, Field(ge=0.0)] = 0.01
    warmup: Fraction = 0.1  # fraction of the optimisation steps
    seed: int = 42
    label_smoothing: Fraction = 0.0
    hidden_dropout: Fraction = 0.1
    attention_dropout: Fraction = 0.1
    classifier_dropout: Fraction | None = None  # None: the model's default (= hidden_dropout for BERT)
    early_stopping_patience: Annotated[int, Field(ge=0)] = 0  # 0: off
    freeze_layers: Annotated[int, Field(ge=0)] = 0  # bottom encoder layers (and embeddings) frozen
    class_weights: Literal["none", "balanced"] = "none"
    grad_accum: Positive = 1
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    soft_labels: bool = False
    resume: bool = False
    report_to: Literal["none", "wandb", "tensorboard", "mlflow"] = "none"


class EvaluateParams(Section):
    batch_size: Positive = 128  # texts per batch at most
    batch_tokens: Positive = 1024  # padded positions per batch at most
    # auto: bf16 autocast where the hardware computes bf16 natively (see native_bf16), else fp32
    precision: Literal["auto", "fp32", "bf16"] = "auto"


class ErrorAnalysisParams(Section):
    splits: tuple[Literal["train", "dev", "test"], ...] = ("train", "test")
    # Upper bounds (characters, inclusive) of the text-length buckets; the last bucket is open.
    length_bins: tuple[Positive, ...] = (10, 20, 40)
    examples: Annotated[int, Field(ge=0)] = 10


class Params(Section):
    data: DataParams
    preprocess: PreprocessParams
    baseline: BaselineParams
    tfidf: TfidfParams
    train: TrainParams
    evaluate: EvaluateParams
    error_analysis: ErrorAnalysisParams

    @model_validator(mode="after")
    def _mapping_targets(self) -> Params:
        unknown = set(self.baseline.label_map.values()) - set(self.preprocess.label_names)
        if unknown:
            raise ValueError(
                f"baseline.label_map maps to unknown label(s) {sorted(unknown)}; "
                f"known: {list(self.preprocess.label_names)}"
            )
        return self


class ParamsError(SystemExit):
    """A params problem: exits with a message naming the key, before any work is done."""


def load_params(path: Path | str = PARAMS_FILE) -> Params:
    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f) or {}
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            key = ".".join(str(p) for p in e["loc"]) or "(top level)"
            got = f" (got {e['input']!r})" if e["type"] != "missing" else ""
            lines.append(f"  {key}: {e['msg']}{got}")
        raise ParamsError(f"{path}: invalid params\n" + "\n".join(lines)) from None


# --- data files -------------------------------------------------------------------------------


def split_path(split: str) -> Path:
    return PROCESSED_DIR / f"{split}.tsv"


def read_split(split: str) -> pd.DataFrame:
    """One processed split: id, text, label (0/1/2), label_name, agreement, votes, length."""
    return pd.read_csv(split_path(split), sep="\t", dtype={"id": str, "text": str}, keep_default_na=False)


def write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def macro_f1(gold: np.ndarray, pred: np.ndarray, n_classes: int = len(CORPUS_LABELS)) -> float:
    """Macro-F1 over all classes, counting a class that is never predicted as F1 = 0."""
    from sklearn.metrics import f1_score

    return float(f1_score(gold, pred, labels=list(range(n_classes)), average="macro", zero_division=0))


def prob_columns(names: Sequence[str]) -> list[str]:
    return [f"p_{n}" for n in names]


def write_predictions(path: Path, frame: pd.DataFrame, probs: np.ndarray, pred: np.ndarray,
                      names: Sequence[str]) -> None:
    """Predictions of one model on one split: id, gold and predicted names, per-class probabilities."""
    out = pd.DataFrame({"id": frame["id"].to_numpy(), "gold": frame["label_name"].to_numpy(),
                        "pred": np.asarray(names)[pred]})
    out[prob_columns(names)] = np.round(probs, 6)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False)


def read_predictions(model: str, split: str) -> pd.DataFrame:
    return pd.read_csv(PREDICTIONS_DIR / model / f"{split}.csv", dtype={"id": str})


# --- models -----------------------------------------------------------------------------------


def device_index() -> int:
    """GPU 0 when one is visible, else CPU (-1), in the convention of `pipeline(device=...)`."""
    import torch

    return 0 if torch.cuda.is_available() else -1


def native_bf16(device_type: str) -> bool:
    """Whether bfloat16 matrix maths is native here: a CUDA GPU that has it, or a CPU with
    AVX512-BF16 or AMX instructions (elsewhere bf16 is emulated and gains little or nothing)."""
    import torch

    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private, hence the getattr
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def inference_precision(precision: str, device_type: str) -> str:
    """The precision evaluate/predict run in: `auto` is bf16 where native_bf16, else fp32."""
    if precision != "auto":
        return precision
    return "bf16" if native_bf16(device_type) else "fp32"


def load_text_classifier(model: str, revision: str, max_length: int):
    """A `text-classification` pipeline for a hub id or a local directory; never runs remote code."""
    from transformers import AutoTokenizer, pipeline

    # Some hub tokenizers (mr4's among them) carry no usable model_max_length: set it.
    tokenizer = AutoTokenizer.from_pretrained(model, revision=revision, trust_remote_code=False,
                                              model_max_length=max_length)
    return pipeline("text-classification", model=model, tokenizer=tokenizer, revision=revision,
                    trust_remote_code=False, device=device_index())


def token_batches(lengths: Sequence[int], batch_size: int, max_tokens: int) -> list[np.ndarray]:
    """Indices, longest first, cut into batches of at most `batch_size` texts and at most
    `max_tokens` padded positions (texts x the batch's longest), so that a few long texts do not
    pad a whole large batch to their length (a lone text longer than the budget is its own batch)."""
    order = np.argsort([-n for n in lengths], kind="stable")
    out, start = [], 0
    while start < len(order):
        n = max(1, min(batch_size, max_tokens // max(1, lengths[order[start]])))
        out.append(order[start:start + n])
        start += n
    return out


def classify(pipe, texts: Sequence[str], batch_size: int, max_length: int, desc: str = "classify",
             progress: bool = True, max_tokens: int = 1024, bf16: bool = False) -> np.ndarray:
    """Class probabilities, in the model's id order, for every text, through the pipeline.

    Texts are grouped by token count (one tokenizer pass up front) into batches that each pad to
    their own longest text under a budget of `max_tokens` positions; results come back in input
    order. `bf16` runs the model under bfloat16 autocast (faster where the hardware has it; the
    probabilities then differ from fp32 in the third decimal or so).
    """
    import torch
    from tqdm.auto import tqdm

    id2label = pipe.model.config.id2label
    column = {id2label[i]: i for i in range(len(id2label))}
    probs = np.zeros((len(texts), len(column)), dtype=np.float64)
    lengths = [len(ids) for ids in pipe.tokenizer(list(texts), truncation=True,
                                                 max_length=max_length)["input_ids"]]
    autocast = torch.autocast(pipe.model.device.type, dtype=torch.bfloat16, enabled=bf16)
    with autocast, tqdm(total=len(texts), desc=desc, file=sys.stderr, disable=not progress) as bar:
        for rows in token_batches(lengths, batch_size, max_tokens):
            outputs = pipe([texts[i] for i in rows], batch_size=len(rows), top_k=None,
                           truncation=True, max_length=max_length)
            for i, scores in zip(rows, outputs, strict=True):
                for s in scores:
                    probs[i, column[s["label"]]] = s["score"]
            bar.update(len(rows))
    return probs


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


def chunks(items: Iterable, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
