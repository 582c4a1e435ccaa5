"""The study tool's parts that need no DVC run: the study file and its errors, the plan, what a
re-run skips, the report in both languages, the queue's status reads. (The whole tool runs end to end
on queued experiments in tests/test_e2e.py.)"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ja_sentiment import study as st
from ja_sentiment.countermeasures import COUNTERMEASURES
from ja_sentiment.reports.study import markdown, plots
from ja_sentiment.tools import dvc_cli
from ja_sentiment.tools import study_queue as queue

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["negative", "neutral", "positive"]


def write_study(tmp_path: Path, body: dict) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def test_the_shipped_study_has_the_baseline_and_one_configuration_per_countermeasure():
    study = st.load_study(ROOT / "studies/overfitting.yaml", ROOT / "params.yaml")
    assert len(study.configs) == 16 and study.baseline == "baseline"  # Holm over 15 countermeasures
    run = sorted(c.countermeasure for c in study.configs.values() if c.countermeasure)
    assert run == sorted(COUNTERMEASURES)
    for key, config in study.configs.items():  # each sets the params its countermeasure names
        if config.countermeasure:
            assert set(config.set) <= set(COUNTERMEASURES[config.countermeasure].params), key
    for cm in COUNTERMEASURES.values():
        assert len(cm.what["en"]) >= 100 and len(cm.what["ja"]) >= 100 and cm.sources


def test_each_text_names_its_knob_and_the_shipped_value_in_both_languages():
    """Every countermeasure's text says which param it sets and the value studies/overfitting.yaml
    tries, in both languages; the Japanese texts name the technique in Japanese and use one word for
    the baseline configuration (基準設定; `baseline` is also Level 1's stage)."""
    shipped = yaml.safe_load((ROOT / "studies/overfitting.yaml").read_text(encoding="utf-8"))
    for config in shipped["configs"].values():
        if not config.get("countermeasure"):
            continue
        cm = COUNTERMEASURES[config["countermeasure"]]
        for key, value in config["set"].items():
            shown = yaml.safe_dump(value).removesuffix("...\n").strip()  # 0.1, true, balanced
            for lang in ("en", "ja"):
                assert f"{key}: {shown}" in cm.what[lang], (cm.key, lang, key)
    terms = {"dropout": "ドロップアウト", "label_smoothing": "ラベル平滑化", "soft_labels": "ソフトラベル",
             "layer_lr_decay": "層ごとの学習率減衰", "weight_decay": "重み減衰", "early_stopping": "早期終了"}
    for key, term in terms.items():
        assert term in COUNTERMEASURES[key].what["ja"] and term in COUNTERMEASURES[key].name["ja"], key
    unnatural = ("忍耐回数", "硬い目標", "注意の確率", "急峻", "当てはめ込み", "少数派の少ない例",
                 "ベースライン")
    for cm in COUNTERMEASURES.values():
        assert cm.name["en"] and cm.name["ja"]
        for text in (cm.what["ja"], cm.baseline_note["ja"]):
            assert not [u for u in unnatural if u in text], (cm.key, text)


@pytest.mark.parametrize("body, message", [
    ({"name": "s", "configs": {"baseline": {}, "x": {"set": {"train.epoch": 2}}}},
     r"configs\.x\.set\.train\.epoch: no such key in params\.yaml"),
    ({"name": "s", "configs": {"baseline": {}, "x": {"set": {"train.epochs": -1}}}},
     r"configs\.x\.set gives invalid params: train\.epochs: Input should be greater than 0$"),
    ({"name": "s", "configs": {"x": {}}}, r"baseline 'baseline' is not among the configs"),
    ({"name": "s", "configs": {"baseline": {}, "x": {"countermeasure": "magic"}}},
     r"configs\.x: Value error, unknown countermeasure 'magic'"),
    ({"name": "s", "configs": {"baseline": {}, "x": {"set": {"train.seed": 3}}}},
     r"configs\.x\.set\.train\.seed: the seeds are the study's"),
    ({"name": "S!", "configs": {"baseline": {}}}, r"invalid study: name: String should match pattern"),
    ({"name": "s", "configs": {"baseline": {}}, "seeds": [1]}, r"invalid study: seeds: Extra inputs are "),
    ({"name": "s", "configs": {"baseline": {}}, "alpha": 0.7}, r"invalid study: alpha: Input should be less"),
    ({"name": "s", "configs": {"baseline": {}}, "alpha": 0}, r"invalid study: alpha: Input should be great"),
])
def test_study_file_errors_name_the_key(tmp_path, body, message):
    with pytest.raises(SystemExit, match=message) as stop:
        st.load_study(write_study(tmp_path, body), ROOT / "params.yaml")
    assert "\n" not in str(stop.value)  # one line


def test_plan_pairs_every_configuration_with_the_same_seeds_and_only_keeps_the_baseline():
    study = st.StudyFile(name="s", configs={"baseline": st.Config(), "a": st.Config(set={"train.epochs": 2}),
                                            "b": st.Config(set={"train.weight_decay": 0.1})})
    planned = st.plan(study, [1, 2])
    assert [e["name"] for e in planned] == ["s-baseline-s1", "s-baseline-s2", "s-a-s1", "s-a-s2", "s-b-s1",
                                            "s-b-s2"]
    assert planned[2]["set"] == {"train.epochs": 2, "train.seed": 1}
    assert [e["config"] for e in st.plan(study, [1], only=["b"])] == ["baseline", "b"]
    with pytest.raises(SystemExit, match=r"--only \['c'\]"):
        st.plan(study, [1], only=["c"])


def test_a_study_level_set_applies_to_every_configuration_and_a_configs_own_value_wins(tmp_path):
    body = {"name": "s", "set": {"train.epochs": 10, "train.learning_rate": 1e-3},
            "configs": {"baseline": {}, "short": {"set": {"train.epochs": 4}}}}
    study = st.load_study(write_study(tmp_path, body), ROOT / "params.yaml")
    planned = {e["name"]: e["set"] for e in st.plan(study, [1])}
    assert planned == {"s-baseline-s1": {"train.epochs": 10, "train.learning_rate": 1e-3, "train.seed": 1},
                       "s-short-s1": {"train.epochs": 4, "train.learning_rate": 1e-3, "train.seed": 1}}
    for bad, message in (({"train.epoch": 3}, r"s\.yaml: set\.train\.epoch: no such key in params\.yaml$"),
                         ({"train.epochs": 0}, r"s\.yaml: set gives invalid params: train\.epochs: Input"),
                         ({"train.seed": 3}, r"s\.yaml: set\.train\.seed: the seeds are the study's")):
        with pytest.raises(SystemExit, match=message):
            st.load_study(write_study(tmp_path, {**body, "set": bad}), ROOT / "params.yaml")
    runs = {"baseline": fake_runs([1, 2], 0), "short": fake_runs([1, 2], 3)}
    result = st.aggregate(study, runs, NAMES)
    assert ("Every configuration, the baseline included, also ran with the study's own overrides: "
            "`train.epochs=10`, `train.learning_rate=0.001`.") in markdown(result, "en")


def test_the_two_configuration_shorthand_names_itself_by_its_overrides():
    one = st.adhoc(["train.epochs=2"])
    assert one.configs["set"].set == {"train.epochs": 2} and one.name.startswith("seeds-")
    assert st.adhoc(["train.epochs=2"]).name == one.name != st.adhoc(["train.epochs=3"]).name
    with pytest.raises(SystemExit, match="expected KEY=VALUE"):
        st.adhoc(["train.epochs"])
    with pytest.raises(SystemExit, match=r"^study: --set train\.epoch: no such key in params\.yaml$"):
        st.adhoc(["train.epoch=2"])
    with pytest.raises(SystemExit, match=r"^study: --set gives invalid params: train\.epochs: Input should"):
        st.adhoc(["train.epochs=-1"])


def fake_runs(seeds: list[int], shift: int, n: int = 200, epochs: int = 3) -> dict[int, dict]:
    """Per seed a run whose predictions are right on the first (n/2 + shift + seed) rows."""
    gold = pd.Series([i % 3 for i in range(n)], index=[f"t{i:03d}" for i in range(n)])
    runs = {}
    for seed in seeds:
        right = n // 2 + shift + seed
        pred = pd.Series([g if i < right else (g + 1) % 3 for i, g in enumerate(gold)], index=gold.index)
        acc = right / n
        curves = {"train_ce": {e: 1.0 / e for e in range(1, epochs + 1)},
                  "dev_ce": {e: 0.8 + 0.05 * (e - 2) ** 2 for e in range(1, epochs + 1)}}
        runs[seed] = {"scores": {"accuracy": acc, "macro_f1": acc}, "gold": gold, "pred": pred,
                      "curves": curves, "kept_epoch": 2, "standin": True, "cuda_visible_devices": None}
    return runs


@pytest.fixture
def result() -> dict:
    study = st.StudyFile(name="s", configs={
        "baseline": st.Config(), "weight_decay": st.Config(countermeasure="weight_decay",
                                                           set={"train.weight_decay": 0.1}),
        "dropout": st.Config(countermeasure="dropout", set={"train.hidden_dropout": 0.2})})
    runs = {"baseline": fake_runs([1, 2, 3], 0), "weight_decay": fake_runs([1, 2, 3], 60),
            "dropout": fake_runs([1, 2, 3], 1)}
    return st.aggregate(study, runs, NAMES)


def test_aggregate_summarises_seeds_and_judges_with_holm(result):
    base, wd = result["configs"]["baseline"], result["configs"]["weight_decay"]
    assert base["accuracy"]["values"] == [0.505, 0.51, 0.515]
    assert base["accuracy"]["mean"] == pytest.approx(0.51)
    # Dev loss 0.85, 0.8, 0.85 over epochs 1-3, train loss 1, 0.5, 0.33: minimum at 2, rise 0.05, gap 0.3.
    assert wd["overfitting"] == {"kept_epoch": [2, 2, 2], "min_dev_ce_epoch": [2, 2, 2],
                                 "dev_ce_rise": [pytest.approx(0.05)] * 3,
                                 "gap_at_kept": [pytest.approx(0.3)] * 3,
                                 "train_ce_change": [pytest.approx(1 / 3 - 0.5)] * 3,
                                 "gap_at_min": [pytest.approx(0.3)] * 3,
                                 "gap_at_last": [pytest.approx(0.85 - 1 / 3)] * 3}
    assert result["family"] == 2  # Holm and the simultaneous intervals across both countermeasures
    comparisons = result["comparisons"]
    big, small = comparisons["weight_decay"]["accuracy"], comparisons["dropout"]["accuracy"]
    assert big["diff"] == pytest.approx(0.3) and big["verdict"] == "better" and big["p_holm"] < 0.05
    assert small["diff"] == pytest.approx(0.005) and small["verdict"] == "not distinguishable"
    assert big["seeds"] == 3 and big["df"] == 2  # the seed level's degrees of freedom
    assert (big["ci_low_simultaneous"] < big["ci_low"] < big["diff"] < big["ci_high"]
            < big["ci_high_simultaneous"])
    # The fake runs differ by the same 60 rows on every seed: paired by seed, no spread to build on.
    assert big["seeds_only"]["verdict"] == "no interval: the difference was the same on every seed"


def test_the_report_explains_every_countermeasure_in_both_languages(result, tmp_path):
    en = markdown(result, "en")
    for key, cm in COUNTERMEASURES.items():
        assert f"### {cm.name['en']} (`{key}`)" in en and cm.what["en"] in en and cm.sources[0].cite() in en
    assert en.count("Not run in this study.") == len(COUNTERMEASURES) - 2
    assert "Holm-adjusted p-value across the 2 countermeasures" in en
    assert "| `weight_decay` | 1, 2, 3 | +30.0 [" in en and "**Made with offline stand-ins" in en
    assert "not distinguishable; differences from " in en
    # The fake curves: dev loss 0.85, 0.8, 0.85 and train loss 1, 0.5, 0.33 over epochs 1-3.
    assert ("**Overfitting in the baseline** (facts from its curves): dev loss rose after its minimum on 3 "
            "of 3 seeds (minimum at epochs 2, 2, 2), by 0.050 on average, while train loss changed by -0.167 "
            "over the same epochs; dev minus train loss grew from 0.300 at the minimum to 0.517 at the last "
            "epoch") in en
    ja = markdown(result, "ja")
    assert ja.startswith("# Level 4 の実験 `s`") and COUNTERMEASURES["dropout"].what["ja"] in ja
    assert "この実験では実行していない。" in ja and "区別できない" in ja
    assert "### ドロップアウト (`dropout`)" in ja and "### 層ごとの学習率減衰 (`layer_lr_decay`)" in ja
    plots(result, tmp_path, "ja")
    for name in ("learning_curves", "dev_loss", "forest"):
        assert (tmp_path / "plots" / f"{name}.png").stat().st_size > 5000


CASES = {"wd": ("weight_decay", 90, [1, 2, 3]), "sugg": ("dropout", 30, [1, 2, 3]),
         "same": ("early_stopping", 0, [1, 2, 3]), "unclear": ("label_smoothing", 1, [1, 2, 3]),
         "one": ("freeze_layers", 5, [1])}


@pytest.fixture
def cases() -> dict:
    """One configuration per case of the wording, against a baseline over seeds 1-3; `notrun` is in
    the study file (Holm's family: 6) but has no runs."""
    configs = {"baseline": st.Config(), "notrun": st.Config(countermeasure="class_weights")}
    configs |= {name: st.Config(countermeasure=cm) for name, (cm, _, _) in CASES.items()}
    study = st.StudyFile(name="c", configs=configs)
    runs = {"baseline": fake_runs([1, 2, 3], 0)} | {
        name: fake_runs(seeds, shift) for name, (_, shift, seeds) in CASES.items()}
    for name in ("same", "baseline"):  # early stopping's records: it stopped after the kept epoch
        for run in runs[name].values():
            run["engaged"] = engaged(stopped=3, patience=1) if name == "same" else engaged()
    return st.aggregate(study, runs, NAMES)


def engaged(stopped: int | None = None, patience: int = 0) -> dict:
    return {"early_stopping_patience": patience, "epochs_planned": 4, "epochs_run": stopped or 4,
            "stopped_at_epoch": stopped, "dropped_rows": 0, "dropped_by_class": dict.fromkeys(NAMES, 0),
            "frozen_layers": 0, "trainable_parameters": 100, "parameters": 100, "reinitialised_layers": 0,
            "reinitialised_tensors": 0, "lr_groups": 1, "weight_decay": 0.01,
            "dropout": {"hidden": 0.1, "attention": 0.1, "classifier": None},
            "loss": {"target": "gold", "label_smoothing": 0.0, "class_weights": None}}


def test_one_wording_per_case_in_both_languages(cases):
    """Significant after Holm; suggestive (the unadjusted interval excludes 0, Holm does not);
    not distinguishable (with the smallest detectable difference); identical models (and why); no
    verdict with one paired seed (the unpaired seeds listed)."""
    f1 = {name: c["macro_f1"] for name, c in cases["comparisons"].items()}
    assert cases["family"] == 6 and "notrun" not in f1
    # Each case's precondition, then its verdict.
    assert f1["wd"]["p_holm"] < 0.05 and f1["wd"]["verdict"] == "better"
    assert f1["sugg"]["ci_low"] > 0 and f1["sugg"]["p"] < 0.05 <= f1["sugg"]["p_holm"]
    assert f1["sugg"]["verdict"] == "not distinguishable"
    assert f1["unclear"]["ci_low"] < 0 < f1["unclear"]["ci_high"]
    assert f1["unclear"]["verdict"] == "not distinguishable"
    assert f1["same"]["verdict"] == st.IDENTICAL and f1["same"]["diff"] == 0
    assert f1["one"]["verdict"] == st.NO_VERDICT and f1["one"]["gate"] == ("one_seed", {"seeds": 1})
    assert f1["one"]["unpaired"] == {"config": [], "baseline": [2, 3]} and f1["one"]["p_holm"] is None
    en, ja = markdown(cases, "en"), markdown(cases, "ja")
    row = {line.split(" | ")[0][3:-1]: line for line in en.splitlines() if line.startswith("| `")}
    assert row["wd"].endswith("| better: significant after correcting for 6 comparisons (Holm p = "
                              f"{f1['wd']['p_holm']:.3f}) |")
    assert "| suggestive; not significant after correcting for 6 comparisons (unadjusted p = " in row["sugg"]
    m = f"{100 * f1['unclear']['power']['detectable']:.1f}"
    assert row["unclear"].endswith(f"with the data; the smallest this study could detect is {m} points |")
    assert row["unclear"].startswith("| `unclear` | 1, 2, 3 | +0.")
    assert f"| {m} | not distinguishable; " in row["unclear"]
    assert row["same"].endswith("| identical: the same test predictions as the baseline on every paired "
                                "seed |")
    assert row["one"].endswith("| no verdict: 1 paired seed(s), at least 2 needed |")
    assert "Seeds without a partner, left out of this comparison: the baseline's 2, 3." in en
    assert ("Identical: on every paired seed (1, 2, 3) its kept model made the same predictions on every "
            "test row as the baseline's; there is no difference to estimate. Why: it kept the baseline's "
            "epoch on every seed (kept epochs 2, 2, 2); early stopping (patience 1: stopped at epoch 3 of 4) "
            "came after the kept epoch") in en
    # The same cases in Japanese, each with its own words.
    for words in ("優れる: 6 個の比較について補正した後も有意",
                  "示唆的。6 個の比較について補正すると有意でない",
                  "区別できない。", f"この実験が検出できる最小の差は {m} ポイント",
                  "同一: 対応するすべてのシードでテスト予測が基準設定と同じ",
                  "判定なし: 対応するシードが 1 個(2 個以上必要)",
                  "対応する相手がなく、この比較から除いたシード: 基準設定の 2, 3。",
                  "早期終了(patience 1: 4 エポック中エポック 3 で停止)は採用したエポックより後"):
        assert words in ja, words
    # Power: the smallest detectable difference, the seeds that would halve it, the test set's floor.
    power = f1["unclear"]["power"]
    assert power["floor"] < power["detectable"] and (power["seeds_to_halve"] or 0) > 3
    assert f"Power: the smallest difference this comparison would detect 80% of the time is {m} points" \
        in en


def test_identical_early_stopping_that_never_triggered_and_a_floor_the_study_cannot_state(cases):
    import copy

    result = copy.deepcopy(cases)
    for record in result["configs"]["same"]["engaged"].values():
        record.update(stopped_at_epoch=None, epochs_run=4)
    en = markdown(result, "en")
    assert "Why: early stopping never triggered (dev macro-F1 kept improving within the patience)" in en
    result["comparisons"]["unclear"]["macro_f1"]["power"]["detectable"] = 1.5  # 150 points: out of range
    en = markdown(result, "en")
    assert "That is more than 100 points, more than any difference of macro-F1 can be" in en
    result["comparisons"]["unclear"]["macro_f1"]["power"]["floor"] = 0.0  # a fitted row level of 0
    assert "the test set's own floor cannot be stated from this study" in markdown(result, "en")
    assert "テストセット自体による下限はこの実験からは示せない" in markdown(result, "ja")


def test_the_dry_runs_power_lines_say_why_no_seed_count_halves_it(tmp_path, monkeypatch):
    """The two reasons apart: the test set's floor above half the detectable difference, or more
    seeds than the search goes to."""
    import functools

    from ja_sentiment.study_stats import power_of
    from ja_sentiment.tools import study as tool

    study = st.StudyFile(name="p", configs={"baseline": st.Config(), "a": st.Config()})
    train = {"finetune": {"params": {"train": {"epochs": 2}}}}
    many = [{"seed": s, "config": c, "inputs": train} for c in ("baseline", "a") for s in range(1, 21)]
    monkeypatch.chdir(tmp_path)
    rows_only = {"seed": 0.0, "row": 0.05, "residual": 0.0}  # all of it the rows' level: the floor
    monkeypatch.setattr(tool, "components_for", lambda out: (rows_only, "given"))
    note = tool.power_note(study, many, tmp_path, 1, (None, ""))
    assert "no number of seeds halves it: the test set's floor is above half of it" in note
    seeds_only = {"seed": 0.01, "row": 0.0, "residual": 0.0}  # no floor, but the search stops at 4 seeds
    monkeypatch.setattr(tool, "components_for", lambda out: (seeds_only, "given"))
    monkeypatch.setattr(tool, "power_of", functools.partial(power_of, max_seeds=4))
    few = [e for e in many if e["seed"] <= 3]
    note = tool.power_note(study, few, tmp_path, 1, (None, ""))
    assert "more than 4 seeds would be needed to halve it" in note


def test_the_time_estimate_counts_r_drops_second_pass():
    from ja_sentiment.tools.study import train_cost

    assert train_cost({"epochs": 5, "r_drop": 0.0}) == 5 and train_cost({"epochs": 5, "r_drop": 1.0}) == 10
    assert train_cost({"epochs": 3}) == 3  # params from before the knob


def test_the_engaged_table_states_the_new_knobs_per_run():
    from ja_sentiment.reports.study import TABLES, engaged_cells
    from ja_sentiment.reports.text import Text

    record = {**engaged(), "l2_sp": 0.01, "r_drop": 1.0, "lora_rank": 8,
              "averaged": {"epochs": [3, 4, 5], "dev_macro_f1": 0.71, "kept": True, "best_epoch": 4,
                           "best_epoch_dev_macro_f1": 0.7}}
    assert engaged_cells(Text("en", TABLES), record)[-1] == (
        "L2-SP 0.01; R-Drop 1; average of epochs 3-5: dev macro-F1 0.7100 against 0.7000 at epoch 4, kept; "
        "LoRA rank 8")
    assert engaged_cells(Text("ja", TABLES), engaged())[-1] == "なし"


def test_verdicts_only_where_the_simulator_measured_the_method(cases, monkeypatch):
    """A seed count or a level the simulator did not measure: intervals only, and why."""
    from ja_sentiment import study_stats

    gate = study_stats.verdict_gate
    assert gate(3, 0.05, 11) is None and gate(1, 0.05, 11)[0] == "one_seed"
    assert gate(3, 0.1, 11) == ("alpha", {"alpha": 0.1, "measured": 0.05})
    monkeypatch.setattr(study_stats, "MEASURED_FWER", {1: {2: 0.0, 5: 0.0}, 11: {2: 0.01, 5: 0.06}})
    assert gate(3, 0.05, 1) == ("not_measured", {"seeds": 3, "measured": [2, 5]})
    # Between two measured family sizes: the higher error of the two at each seed count.
    assert study_stats.measured_fwer(4) == {2: 0.01, 5: 0.06}
    assert gate(2, 0.05, 4) is None  # measured, and above alpha:
    assert gate(5, 0.05, 4) == ("above", {"seeds": 5, "error": 0.06, "alpha": 0.05})
    assert gate(2, 0.05, 15) == ("family", {"family": 15, "measured": [1, 11]})  # above every measured size
    study = st.StudyFile(name="c", alpha=0.1, configs={"baseline": st.Config(), "wd": st.Config()})
    runs = {"baseline": fake_runs([1, 2, 3], 0), "wd": fake_runs([1, 2, 3], 60)}
    result = st.aggregate(study, runs, NAMES)
    wd = result["comparisons"]["wd"]["macro_f1"]
    assert wd["verdict"] == st.NO_VERDICT and wd["p_holm"] < 0.05  # it would have been "better"
    assert ("| no verdict: the method's error rate was measured at alpha 0.05, not at this study's 0.1; "
            "differences from +") in markdown(result, "en")


def test_seeds_added_after_a_first_look_are_shown(result, tmp_path):
    """The seeds of the first report are kept from report to report; seeds added later are named."""
    from ja_sentiment.tools.study import write

    write(result, tmp_path, "en")
    first = json.loads((tmp_path / "study.json").read_text())["first_look"]
    assert first["seeds"] == [1, 2, 3] and first["added"] == []
    assert "Seeds added after a first look" not in (tmp_path / "study.md").read_text()
    study = st.StudyFile(name="s", configs={"baseline": st.Config(),
                                            "dropout": st.Config(countermeasure="dropout")})
    runs = {"baseline": fake_runs([1, 2, 3, 4], 0), "dropout": fake_runs([1, 2, 3, 4], 1)}
    more = st.aggregate(study, runs, NAMES)
    write(more, tmp_path, "ja")
    again = json.loads((tmp_path / "study.json").read_text())["first_look"]
    assert again == {"seeds": [1, 2, 3], "at": first["at"], "added": [4]}
    assert f"**最初の報告の後に追加したシード**: 4(最初の報告のシードは 1, 2, 3、{first['at']} に作成)" in \
        (tmp_path / "study.md").read_text()
    write(more, tmp_path, "en")  # a third report: still measured from the first
    assert json.loads((tmp_path / "study.json").read_text())["first_look"]["added"] == [4]


def test_models_that_predict_one_class_are_identical_and_the_report_says_why():
    study = st.StudyFile(name="o", configs={"baseline": st.Config(),
                                            "short": st.Config(countermeasure="fewer_epochs")})
    runs = {c: fake_runs([1, 2], 0) for c in ("baseline", "short")}
    for by_seed in runs.values():
        for run in by_seed.values():
            run["pred"] = run["pred"] * 0 + 2  # "positive" for every row
    result = st.aggregate(study, runs, NAMES)
    c = result["comparisons"]["short"]["macro_f1"]
    assert (c["verdict"], c["one_class"]) == (st.IDENTICAL, 2)
    assert "Both predict one class, positive, for every test row" in markdown(result, "en")
    assert "一つのクラス(positive)を予測した" in markdown(result, "ja")


def test_the_dry_runs_variance_components_come_from_the_last_report_or_a_stated_prior(cases, tmp_path):
    from ja_sentiment.tools.study import components_for

    prior, why = components_for(tmp_path)
    assert why.endswith("no report of this study yet") and why.startswith("a prior: the simulator's world")
    assert prior["row"] > 0 and prior["residual"] > prior["row"]
    (tmp_path / "study.json").write_text(json.dumps(cases), encoding="utf-8")
    fitted, why = components_for(tmp_path)
    comps = [c["macro_f1"]["components"] for c in cases["comparisons"].values()
             if c["macro_f1"].get("components")]
    assert len(comps) == 3 and why == f"fitted in {tmp_path / 'study.json'} (median over its 3 comparisons)"
    assert fitted == {k: pytest.approx(np.median([c[k] for c in comps])) for k in comps[0]}
    only_same = {**cases, "comparisons": {"same": cases["comparisons"]["same"]}}
    (tmp_path / "study.json").write_text(json.dumps(only_same), encoding="utf-8")
    again, why = components_for(tmp_path)  # identical models only: nothing to fit, the prior, and why
    assert again == prior and "study.json has no comparison with a spread to fit" in why


def _fake_dvc(tmp_path, monkeypatch, failures: int) -> None:
    """A `dvc` first on PATH whose `queue status` fails `failures` times as DVC 3 does when it reads a
    half-written state file, then prints a status table."""
    count = tmp_path / "count"
    count.write_text("0")
    script = tmp_path / "bin" / "dvc"
    script.parent.mkdir()
    script.write_text(f"""#!/bin/sh
n=$(cat {count}); echo $((n + 1)) > {count}
if [ "$n" -lt {failures} ]; then
  echo "ERROR: unexpected error - Expecting value: line 1 column 1 (char 0)" >&2; exit 255
fi
echo "Task     Name       Created    Status"
echo "abc1234  r-baseline-s1  10:00 AM  Success"
""")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}:{os.environ['PATH']}")


def test_a_queue_status_read_that_fails_once_is_read_again(tmp_path, monkeypatch):
    _fake_dvc(tmp_path, monkeypatch, failures=2)
    assert dvc_cli.queue_tasks(attempts=3, pause_s=0) == [dvc_cli.Task("abc1234", "r-baseline-s1", "Success")]
    assert queue.poll({"r-baseline-s1": "abc1234"}, poll_s=0, timeout_s=5) == {}  # done, none failed


def test_queued_experiments_with_no_worker_alive_get_their_workers_started_again(tmp_path, monkeypatch):
    """Seen with dvc 3.67: queue workers that took a `dvc queue stop` sent as the previous ones were
    leaving quit after one experiment each, the others staying queued with no worker. A `dvc` whose
    status says so until the workers are started again (the restart writes the marker file)."""
    marker = tmp_path / "started"
    script = tmp_path / "bin" / "dvc"
    script.parent.mkdir()
    script.write_text(f"""#!/bin/sh
echo "Task     Name       Created    Status"
if [ -f {marker} ]; then echo "abc1234  r-a-s1  10:00 AM  Success"; echo "Worker status: 0 active, 1 idle"
else echo "abc1234  r-a-s1  10:00 AM  Queued"; echo "Worker status: 0 active, 0 idle"; fi
""")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}:{os.environ['PATH']}")
    assert queue.poll({"r-a-s1": "abc1234"}, poll_s=0, timeout_s=30, restart=marker.touch) == {}
    assert marker.exists()
    marker.unlink()
    with pytest.raises(SystemExit, match="did not finish within 0 s"):  # without a restart: it waits
        queue.poll({"r-a-s1": "abc1234"}, poll_s=0, timeout_s=0)


def test_an_interrupted_study_stops_the_queue_only_when_it_holds_nothing_else(tmp_path, monkeypatch, capsys):
    """`dvc queue stop` stops every worker of the repository: a study interrupted while another
    experiment of the repository is queued leaves the workers running for it, and says so."""
    calls = tmp_path / "calls"
    status = tmp_path / "status"
    script = tmp_path / "bin" / "dvc"
    script.parent.mkdir()
    script.write_text(f"""#!/bin/sh
echo "$@" >> {calls}
[ "$1 $2" = "queue status" ] && cat {status}
exit 0
""")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}:{os.environ['PATH']}")
    status.write_text("Task     Name       Created    Status\nabc1234  r-a-s1  10:00 AM  Running\n"
                      "def5678  someone-elses  10:01 AM  Queued\n")
    assert queue.stop_unless_shared({"abc1234"}) is False
    assert "queue stop" not in calls.read_text()
    said = capsys.readouterr().err
    assert "1 other experiment(s) are queued or running in this repository (someone-elses)" in said
    status.write_text("Task     Name       Created    Status\nabc1234  r-a-s1  10:00 AM  Running\n"
                      "old0000  r-b-s1  09:00 AM  Success\n")
    assert queue.stop_unless_shared({"abc1234"}) is True
    assert "queue stop" in calls.read_text()


def test_a_running_experiment_whose_worker_died_is_a_failure_not_an_endless_wait(tmp_path, monkeypatch):
    script = tmp_path / "bin" / "dvc"
    script.parent.mkdir()
    script.write_text("""#!/bin/sh
echo "Task     Name       Created    Status"
echo "abc1234  r-a-s1  10:00 AM  Running"
echo "def5678  r-b-s1  10:00 AM  Success"
echo "Worker status: 0 active, 0 idle"
""")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}:{os.environ['PATH']}")
    failures = queue.poll({"r-a-s1": "abc1234", "r-b-s1": "def5678"}, poll_s=0, timeout_s=60)
    assert failures == {"r-a-s1": "its queue worker died while it ran (`dvc queue logs abc1234`)"}


def test_a_queue_status_that_keeps_failing_stops_with_dvcs_message(tmp_path, monkeypatch):
    _fake_dvc(tmp_path, monkeypatch, failures=3)
    with pytest.raises(SystemExit, match="`dvc queue status` failed:\nERROR: unexpected error - Expecting"):
        dvc_cli.queue_tasks(attempts=3, pause_s=0)


def test_parallel_jobs_share_the_cores_and_a_users_setting_is_kept(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert queue.worker_env(2, cpus=2)["OMP_NUM_THREADS"] == "1"
    assert queue.worker_env(3, cpus=8)["OMP_NUM_THREADS"] == "2"
    assert queue.worker_env(4, cpus=2)["OMP_NUM_THREADS"] == "1"  # never 0
    assert "OMP_NUM_THREADS" not in queue.worker_env(1, cpus=2)  # one job: torch's own default
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert queue.worker_env(2, cpus=2)["OMP_NUM_THREADS"] == "3"


def test_runs_on_other_test_rows_cannot_be_paired():
    study = st.StudyFile(name="s", configs={"baseline": st.Config(), "a": st.Config()})
    other = fake_runs([1], 0)
    other[1]["gold"] = other[1]["gold"].rename(lambda i: "x" + i)
    with pytest.raises(SystemExit, match="other test rows than the baseline"):
        st.aggregate(study, {"baseline": fake_runs([1], 0), "a": other}, NAMES)
    assert np.isfinite(st.aggregate(study, {"baseline": fake_runs([1, 2], 0), "a": fake_runs([1, 2], 3)},
                                    NAMES)["comparisons"]["a"]["macro_f1"]["p"])


def test_queue_workers_are_pinned_one_per_gpu_unless_more_may_share_one():
    assert queue.worker_devices(2, gpus=0) == [None, None]  # a CPU machine: the cores are shared
    assert queue.worker_devices(2, gpus=2) == ["0", "1"]
    assert queue.worker_devices(3, gpus=4) == ["0", "1", "2"]
    assert queue.worker_devices(4, gpus=2, jobs_per_gpu=2) == ["0", "0", "1", "1"]
    with pytest.raises(SystemExit, match=r"JOBS=3 is more than the 2 GPU\(s\) this study may use \(0, 1\)"):
        queue.worker_devices(3, gpus=2)
    # Within the caller's CUDA_VISIBLE_DEVICES: asked for GPUs 2 and 3, the workers land on 2 and 3.
    assert queue.worker_devices(2, queue.visible_gpus(None, {"CUDA_VISIBLE_DEVICES": "2,3"})) == ["2", "3"]
    assert queue.visible_gpus(1, {"CUDA_VISIBLE_DEVICES": "5, 7"}) == ["5"]
    assert queue.visible_gpus(None, {"CUDA_VISIBLE_DEVICES": ""}) == []  # none visible: the CPU
    assert queue.visible_gpus(2, {}) == ["0", "1"]
    with pytest.raises(SystemExit, match=r"--gpus 3, but CUDA_VISIBLE_DEVICES='2,3' lists 2"):
        queue.visible_gpus(3, {"CUDA_VISIBLE_DEVICES": "2,3"})


def test_experiments_left_out_are_listed_in_the_report_with_why(result):
    assert "Experiments left out" not in markdown(result, "en")
    left_out = [{"name": "s-dropout-s4-0123abcd", "why": "failed: exited with -9"}]
    text = markdown({**result, "left_out": left_out}, "en")
    assert ("**Experiments left out** (the numbers below do not count them; running the study again runs "
            "those that failed or have not run): `s-dropout-s4-0123abcd`: failed: exited with -9.") in text
    assert "**除外した実験**" in markdown({**result, "left_out": left_out}, "ja")


def test_engine_ray_without_ray_says_in_one_line_how_to_install_it(monkeypatch):
    from ja_sentiment.tools import study_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(SystemExit) as stop:
        study_ray.import_ray()
    assert str(stop.value) == ("study: ENGINE=ray needs Ray, an optional extra: pip install '.[ray]' "
                               "(or: pip install 'ray>=2.40,<3')")
