"""The params schema: every section of params.yaml, validated by pydantic.

A wrong type, an out-of-range value or an unknown key (`-S train.epoch=2`) fails at once with a
message naming the key, before a stage does any work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PARAMS_FILE = Path("params.yaml")

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


class LabelIssuesParams(TfidfParams):
    """The `label_issues` stage: its own TF-IDF model (same fields as `tfidf`) and the folds."""
    folds: Annotated[int, Field(ge=2, le=20)] = 5


class TrainParams(Section):
    checkpoint: str = Field(min_length=1)
    revision: str = Field(min_length=1)
    epochs: Positive = 5
    learning_rate: Annotated[float, Field(gt=0.0, lt=1.0)] = 3e-5
    batch_size: Positive = 32
    eval_batch_size: Positive = 128
    # Per-epoch evaluation in the inference path's length-sorted batches of at most this many padded
    # positions (evaluate.batch_tokens' rule); 0: the Trainer's own batches, in dataset order.
    eval_batch_tokens: Annotated[int, Field(ge=0)] = 1024
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
    # Level 4 (studies/overfitting.yaml): each off by default.
    layer_lr_decay: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0  # 1.0: one learning rate for all layers
    reinit_layers: Annotated[int, Field(ge=0)] = 0  # top encoder layers (and pooler) re-initialised; 0: off
    drop_label_issues: Annotated[int, Field(ge=0)] = 0  # lowest-ranked train rows left out (label_issues)
    l2_sp: Annotated[float, Field(ge=0.0)] = 0.0  # L2-SP: alpha of the pull to pre-trained weights; 0: off
    r_drop: Annotated[float, Field(ge=0.0)] = 0.0  # R-Drop: alpha of the two passes' symmetric KL; 0: off
    average_checkpoints: Annotated[int, Field(ge=0)] = 0  # average the last k epochs' weights; 0: off
    lora_rank: Annotated[int, Field(ge=0)] = 0  # LoRA adapters of this rank (peft), merged when saved; 0: off
    resume: bool = False
    report_to: Literal["none", "wandb", "tensorboard", "mlflow"] = "none"


class EvaluateParams(Section):
    batch_size: Positive = 128  # texts per batch at most
    batch_tokens: Positive = 1024  # padded positions per batch at most
    # auto: bf16 autocast where the hardware computes bf16 natively and faster (hardware.fast_bf16), else fp32
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    # 95% intervals: percentile bootstrap over the rows, this many resamples, this seed.
    bootstrap_resamples: Annotated[int, Field(ge=100, le=100_000)] = 1000
    bootstrap_seed: int = 0
    # Fit a temperature on dev and apply it to the fine-tuned model's probabilities (labels unchanged).
    temperature_scaling: bool = False


class ErrorAnalysisParams(Section):
    splits: tuple[Literal["train", "dev", "test"], ...] = ("train", "test")
    # Upper bounds (characters, inclusive) of the text-length buckets; the last bucket is open.
    length_bins: tuple[Positive, ...] = (10, 20, 40)
    examples: Annotated[int, Field(ge=0)] = 10
    # Level of the single tests and false discovery rate of the word tests (Benjamini-Hochberg).
    alpha: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.05
    min_word_count: Annotated[int, Field(ge=2)] = 5  # words in fewer sentences of a split are not tested
    neighbours: Positive = 5                          # nearest training sentences per test error
    similarity: Literal["tfidf", "model"] = "tfidf"   # model: the fine-tuned model's sentence vectors
    label_issues_shown: Annotated[int, Field(ge=0)] = 30
    attributions: Annotated[int, Field(ge=0)] = 10     # most confident test errors explained; 0: off
    attribution_steps: Annotated[int, Field(ge=2, le=1000)] = 50


class ReportParams(Section):
    language: Literal["en", "ja"] = "en"  # reports/error_analysis.md and reports/summary.md


class Params(Section):
    data: DataParams
    preprocess: PreprocessParams
    baseline: BaselineParams
    tfidf: TfidfParams
    label_issues: LabelIssuesParams = LabelIssuesParams()
    train: TrainParams
    evaluate: EvaluateParams
    error_analysis: ErrorAnalysisParams
    report: ReportParams = ReportParams()

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
