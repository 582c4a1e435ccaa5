"""Level 4 as a study: the study file, the plan of experiments, and the aggregate of their results.

A study file (YAML, e.g. studies/overfitting.yaml) names configurations as override sets against
params.yaml, one of them the baseline; every configuration runs with the same seeds (paired by seed)
as DVC experiments named `<study>-<config>-s<seed>`. The file is validated by a pydantic schema and,
configuration by configuration, the overrides against params.yaml's own schema: every error names
the key (`configs.weight_decay.set.train.weight_decay: ...`).

`aggregate` turns the experiments' params, metrics, per-row test predictions and per-epoch curves
(read from each experiment's commit) into the study's result: per configuration the spread over
seeds and the overfitting picture of the curves; per countermeasure against the baseline the
difference of means with a two-level paired bootstrap interval, its p-value, and a verdict from the
Holm-adjusted p across the study's countermeasures on the primary metric (study_stats).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from ja_sentiment.countermeasures import COUNTERMEASURES
from ja_sentiment.params import PARAMS_FILE, Params
from ja_sentiment.stats import BETTER, UNCLEAR, WORSE, compare_seeds, seed_summary
from ja_sentiment.study_stats import (
    curve_summary,
    holm,
    power_of,
    seed_row_moments,
    simultaneous,
    verdict_gate,
)

Scalar = str | int | float | bool | None
ConfigName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]*$")]
METRICS = ("macro_f1", "accuracy")  # the primary metric first
CURVES = {"train_ce": "train/ce", "dev_ce": "dev/ce", "train_loss": "train/loss", "dev_loss": "dev/loss",
          "dev_macro_f1": "dev/macro_f1"}  # dvclive/plots/metrics/<name>.tsv
TEST_ROWS = "reports/test_predictions/finetuned.csv"
NO_VERDICT = "no verdict"  # the method's error rate is not measured for this comparison: intervals only
IDENTICAL = "identical"  # the same test predictions as the baseline's on every paired seed


class StudyError(SystemExit):
    """A study that cannot be planned, run or aggregated as asked; the message says why."""


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    countermeasure: str | None = None  # a key of ja_sentiment.countermeasures.COUNTERMEASURES
    set: dict[str, Scalar] = Field(default_factory=dict)  # params.yaml key -> value

    @model_validator(mode="after")
    def _known(self) -> Config:
        if self.countermeasure is not None and self.countermeasure not in COUNTERMEASURES:
            raise ValueError(f"unknown countermeasure {self.countermeasure!r}; "
                             f"known: {list(COUNTERMEASURES)}")
        return self


class StudyFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    baseline: ConfigName = "baseline"
    alpha: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.05  # level of the Holm-adjusted verdicts
    # Overrides common to every configuration, the baseline included (part of each experiment's
    # identity); a configuration's own `set` wins for the keys it names.
    set: dict[str, Scalar] = Field(default_factory=dict)
    configs: dict[ConfigName, Config]

    def overrides(self, config: str) -> dict[str, Scalar]:
        """What a configuration runs with against params.yaml: the study's `set`, then its own."""
        return {**self.set, **self.configs[config].set}

    @model_validator(mode="after")
    def _baseline(self) -> StudyFile:
        if self.baseline not in self.configs:
            raise ValueError(f"baseline {self.baseline!r} is not among the configs {list(self.configs)}")
        if self.configs[self.baseline].set:
            raise ValueError(f"the baseline {self.baseline!r} must not override params (it is params.yaml, "
                             "with the study's own `set:` if it has one)")
        return self


def _errors(err: ValidationError) -> str:
    """pydantic's errors on one line, each naming its key."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}" for e in err.errors())


def set_key(tree: dict, key: str, value: Scalar) -> None:
    """tree["train"]["epochs"] = value for key "train.epochs"; the key must exist in the tree."""
    *path, last = key.split(".")
    node = tree
    for part in path:
        if not isinstance(node.get(part), dict):
            raise KeyError(key)
        node = node[part]
    if last not in node:
        raise KeyError(key)
    node[last] = value


def flat(tree: dict, prefix: str = "") -> dict[str, object]:
    """{"train": {"epochs": 2}} -> {"train.epochs": 2}"""
    out: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def load_study(path: Path | str, params_file: Path | str = PARAMS_FILE) -> StudyFile:
    """The study file, validated; each configuration's overrides validated against params.yaml."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        first = " ".join(str(err).split())  # YAML's messages span lines: one line, with the position
        raise StudyError(f"study: cannot read {path}: {first}") from None
    try:
        study = StudyFile.model_validate(raw)
    except ValidationError as err:
        raise StudyError(f"{path}: invalid study: {_errors(err)}") from None
    check_overrides(study, yaml.safe_load(Path(params_file).read_text(encoding="utf-8")), str(path))
    return study


def check_overrides(study: StudyFile, params: dict, source: str, where: str = "configs.{config}.set") -> None:
    """Every configuration's overrides name existing params keys and give values params.yaml's schema
    accepts; `train.seed` is the study's to set. `where` names a configuration's overrides in errors."""
    if study.set:  # the study's own overrides first, alone: their errors name them
        _validated(params, study.set, source, lambda key: f"set.{key}", "set", "a set's")
    for name in study.configs:
        at = where.format(config=name)

        def named(key: str, at: str = at, own: dict = study.configs[name].set) -> str:
            if at.startswith("--"):  # --set KEY
                return f"{at} {key}"
            return f"{at}.{key}" if key in own else f"set.{key}"  # the config's own set, or the study's

        _validated(params, study.overrides(name), source, named, at, "a config's")


def _validated(params: dict, overrides: dict[str, Scalar], source: str, named: Callable[[str], str],
               what: str, owner: str) -> None:
    """Apply `overrides` to a copy of params and validate it against the schema; every error names
    the key (`named(key)`) or the overrides (`what`) and stops the study."""
    tree = copy.deepcopy(params)
    for key, value in overrides.items():
        if key == "train.seed":
            raise StudyError(f"{source}: {named(key)}: the seeds are the study's (--seeds), not {owner}")
        try:
            set_key(tree, key, value)
        except KeyError:
            raise StudyError(f"{source}: {named(key)}: no such key in params.yaml") from None
    try:
        Params.model_validate(tree)
    except ValidationError as err:
        raise StudyError(f"{source}: {what} gives invalid params: {_errors(err)}") from None


def typed(params: dict, overrides: dict[str, Scalar]) -> dict[str, Scalar]:
    """The overrides as params.yaml's schema reads them (`1e-5` in a study file is a string to YAML 1.1,
    a float to the schema; `0` for a float is 0.0): what the experiment runs with, sent as such to DVC,
    so that the same value always makes the same experiment."""
    dumped = flat(Params.model_validate(with_overrides(params, overrides)).model_dump(mode="json"))
    return {key: dumped[key] for key in overrides}


def adhoc(overrides: Sequence[str], params_file: Path | str = PARAMS_FILE) -> StudyFile:
    """A two-configuration study (`make seeds`): params.yaml against params.yaml with `overrides`
    (KEY=VALUE, values read as YAML). Its name carries a hash of the overrides, so that running the
    same comparison again finds its experiments, and another one never collides with them."""
    sets = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise StudyError(f"study: --set {item!r}: expected KEY=VALUE, e.g. train.epochs=2")
        sets[key] = yaml.safe_load(value)
    tag = hashlib.sha1(json.dumps(sets, sort_keys=True).encode()).hexdigest()[:8]
    configs = {"baseline": Config()} | ({"set": Config(set=sets)} if sets else {})
    study = StudyFile(name=f"seeds-{tag}", configs=configs)
    check_overrides(study, yaml.safe_load(Path(params_file).read_text(encoding="utf-8")), "study", "--set")
    return study


def experiment_name(study: str, config: str, seed: int) -> str:
    return f"{study}-{config}-s{seed}"


def plan(study: StudyFile, seeds: Sequence[int], only: Sequence[str] = ()) -> list[dict]:
    """Every (configuration, seed) experiment: name, config, seed and its `-S` overrides. `only`
    restricts the configurations (the baseline always runs: everything is compared with it)."""
    unknown = sorted(set(only) - set(study.configs))
    if unknown:
        raise StudyError(f"study: --only {unknown}: not configurations of {study.name} "
                         f"({list(study.configs)})")
    names = [c for c in study.configs if not only or c in only or c == study.baseline]
    return [{"name": experiment_name(study.name, config, seed), "config": config, "seed": seed,
             "set": {**study.overrides(config), "train.seed": seed}}
            for config in names for seed in seeds]


def with_overrides(params: dict, overrides: dict[str, Scalar]) -> dict:
    """A copy of the params tree with the overrides applied (their keys must exist)."""
    tree = copy.deepcopy(params)
    for key, value in overrides.items():
        set_key(tree, key, value)
    return tree


# Reading an experiment's files: `read(rev, path) -> text or None` (git show of the experiment's commit).
Reader = Callable[[str, str], str | None]


def run_data(exp: dict, read: Reader, names: Sequence[str]) -> dict:
    """One finished experiment: test scores, per-row test predictions (class ids, by row id), the
    per-epoch curves and the kept epoch, its recorded CUDA_VISIBLE_DEVICES, and whether stand-ins made it."""
    rev = exp["rev"]
    rows_text = read(rev, TEST_ROWS)
    if rows_text is None:
        raise StudyError(f"study: experiment {exp['name']} ({rev[:7]}) has no {TEST_ROWS}")
    rows = pd.read_csv(io.StringIO(rows_text), dtype=str, keep_default_na=False).set_index("id").sort_index()
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted((set(rows["gold"]) | set(rows["pred"])) - set(index))
    if unknown:
        raise StudyError(f"study: {exp['name']}: {TEST_ROWS} has labels {unknown} outside {list(names)}")
    curves = {}
    for key, name in CURVES.items():
        text = read(rev, f"dvclive/plots/metrics/{name}.tsv")
        if text is not None:
            frame = pd.read_csv(io.StringIO(text), sep="\t")
            curves[key] = dict(zip(frame["step"].astype(int), frame.iloc[:, 1].astype(float), strict=True))
    return {"experiment": exp["name"], "scores": exp["test"], "gold": rows["gold"].map(index),
            "pred": rows["pred"].map(index),
            "curves": curves, "kept_epoch": exp.get("best_epoch"), "standin": exp.get("standin"),
            "cuda_visible_devices": exp.get("cuda_visible_devices"), "engaged": exp.get("engaged")}


def verdict_of(test: dict, alpha: float) -> str:
    """better / worse (Holm-adjusted p below alpha), not distinguishable, identical (the same
    predictions as the baseline on every paired seed), or no verdict (study_stats.verdict_gate)."""
    if test["gate"] is not None and test["gate"][0] == "one_seed":
        return NO_VERDICT  # even if that one seed's models agree: one pair is no basis for a verdict
    if test["identical"]:
        return IDENTICAL
    if test["gate"] is not None:
        return NO_VERDICT
    significant = test["p_holm"] < alpha and test["diff"] != 0
    return (BETTER if test["diff"] > 0 else WORSE) if significant else UNCLEAR


def per_class_f1(gold: pd.Series, by_seed: dict[int, dict], names: Sequence[str]) -> dict[str, float]:
    """Each class's F1, mean over the seeds."""
    from sklearn.metrics import f1_score

    scores = np.mean([f1_score(gold, run["pred"], labels=range(len(names)), average=None, zero_division=0)
                      for run in by_seed.values()], axis=0)
    return {name: float(v) for name, v in zip(names, scores, strict=True)}


def compare(gold: pd.Series, runs: dict, config: str, base: str, n_classes: int, metric: str) -> dict:
    """One configuration against the baseline on the seeds both have (paired by seed and row); the
    seeds only one of them has are listed (`unpaired`)."""
    paired = sorted(set(runs[config]) & set(runs[base]))
    unpaired = {"config": sorted(set(runs[config]) - set(runs[base])),
                "baseline": sorted(set(runs[base]) - set(runs[config]))}
    if not paired:
        return {"diff": None, "seeds": 0, "rows": len(gold), "ci_low": None, "ci_high": None, "p": None,
                "se": None, "df": None, "identical": False, "one_class": None, "paired_seeds": paired,
                "unpaired": unpaired}
    a = np.stack([runs[config][s]["pred"].to_numpy() for s in paired])
    b = np.stack([runs[base][s]["pred"].to_numpy() for s in paired])
    test = seed_row_moments(gold.to_numpy(), a, b, n_classes, metric)
    test["identical"] = bool((a == b).all())
    # Identical models that predict one class for every row: the likeliest reason they are identical.
    test["one_class"] = int(a.flat[0]) if test["identical"] and (a == a.flat[0]).all() else None
    return {**test, "paired_seeds": paired, "unpaired": unpaired}


def aggregate(study: StudyFile, runs: dict[str, dict[int, dict]], names: Sequence[str]) -> dict:
    """The study's result from its runs ({config: {seed: run_data}}), JSON-ready."""
    base = study.baseline
    if base not in runs:
        raise StudyError(f"study: no finished experiment of the baseline {base!r}")
    gold = runs[base][min(runs[base])]["gold"]
    for config, by_seed in runs.items():
        for seed, run in by_seed.items():
            if not run["gold"].index.equals(gold.index) or not run["gold"].equals(gold):
                raise StudyError(f"study: {experiment_name(study.name, config, seed)} was evaluated on other "
                                 "test rows than the baseline: the runs cannot be paired")
    out: dict = {"study": study.name, "baseline": base, "alpha": study.alpha, "configs": {},
                 "comparisons": {}}
    for config, by_seed in runs.items():
        seeds = sorted(by_seed)
        entry: dict = {"countermeasure": study.configs[config].countermeasure,
                       "set": study.configs[config].set,
                       "study_set": study.set,
                       "seeds": seeds,
                       "experiments": {str(s): by_seed[s].get("experiment") or
                                       experiment_name(study.name, config, s) for s in seeds}}
        for metric in METRICS:
            values = [float(by_seed[s]["scores"][metric]) for s in seeds]
            entry[metric] = {**seed_summary(values), "values": values}
        entry["per_class_f1"] = per_class_f1(gold, by_seed, names)
        entry["curves"] = {str(s): by_seed[s]["curves"] for s in seeds}
        shapes = [curve_shape(by_seed[s]) for s in seeds]
        entry["overfitting"] = {key: [s[key] if s else None for s in shapes]
                                for key in ("kept_epoch", "min_dev_ce_epoch", "dev_ce_rise", "gap_at_kept",
                                            "train_ce_change", "gap_at_min", "gap_at_last")}
        entry["engaged"] = {str(s): by_seed[s].get("engaged") for s in seeds}
        entry["standin"] = any(by_seed[s].get("standin") is True for s in seeds)
        entry["cuda_visible_devices"] = {str(s): by_seed[s].get("cuda_visible_devices") for s in seeds}
        out["configs"][config] = entry
    # Holm's family: every countermeasure of the study file, run or not (one not run, or with fewer
    # than 2 seeds paired with the baseline's, counts as p = 1): --only never shrinks the correction.
    family = [c for c in study.configs if c != base]
    out["family"] = len(family)
    for metric in METRICS:
        tests = {c: compare(gold, runs, c, base, len(names), metric) for c in runs if c != base}
        p_values = [tests[c]["p"] if c in tests and tests[c]["p"] is not None else 1.0 for c in family]
        adjusted = dict(zip(family, holm(p_values), strict=True))
        for config, test in tests.items():
            test.update(simultaneous(test, len(family), study.alpha))
            test["p_holm"] = adjusted[config] if test["p"] is not None else None
            test["gate"] = verdict_gate(test["seeds"], study.alpha, len(family))
            test["verdict"] = verdict_of(test, study.alpha)
            test["seeds_only"] = compare_seeds(
                [float(runs[config][s]["scores"][metric]) for s in test["paired_seeds"]],
                [float(runs[base][s]["scores"][metric]) for s in test["paired_seeds"]]
            ) if test["paired_seeds"] else None
            if test.get("components") and test["se"]:
                test["power"] = power_of(test["components"], test["seeds"], test["rows"], len(family),
                                         study.alpha)
            out["comparisons"].setdefault(config, {})[metric] = test
    out["standin"] = any(c["standin"] for c in out["configs"].values())
    return out


def curve_shape(run: dict) -> dict | None:
    """`study_stats.curve_summary` of one run, or None when its plain cross-entropy curves are missing
    (an experiment made before they were logged)."""
    curves = run["curves"]
    if not curves.get("dev_ce") or not curves.get("train_ce") or run.get("kept_epoch") is None:
        return None
    epochs = sorted(set(curves["dev_ce"]) & set(curves["train_ce"]))
    if int(run["kept_epoch"]) not in epochs:
        return None
    return curve_summary(epochs, [curves["train_ce"][e] for e in epochs],
                         [curves["dev_ce"][e] for e in epochs], int(run["kept_epoch"]))
