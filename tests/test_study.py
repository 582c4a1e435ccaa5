"""The study tool's parts that need no DVC run: the study file and its errors, the plan, what a
re-run skips, the report in both languages, the queue's status reads. (The whole tool runs end to end
on queued experiments in tests/test_e2e.py.)"""

from __future__ import annotations

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
    assert len(study.configs) == 12 and study.baseline == "baseline"
    run = sorted(c.countermeasure for c in study.configs.values() if c.countermeasure)
    assert run == sorted(COUNTERMEASURES)
    for key, config in study.configs.items():  # each sets the params its countermeasure names
        if config.countermeasure:
            assert set(config.set) <= set(COUNTERMEASURES[config.countermeasure].params), key
    for cm in COUNTERMEASURES.values():
        assert len(cm.what["en"]) >= 100 and len(cm.what["ja"]) >= 100 and cm.sources


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
                                 "gap_at_kept": [pytest.approx(0.3)] * 3}
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
        assert f"### {key}" in en and cm.what["en"] in en and cm.sources[0].cite() in en
    assert en.count("Not run in this study.") == len(COUNTERMEASURES) - 2
    assert "Holm-adjusted p-value across the 2 countermeasures" in en
    assert "| `weight_decay` | 3 | +30.0 [" in en and "**Made with offline stand-ins" in en
    assert "not distinguishable: the data do not show a difference" in en
    ja = markdown(result, "ja")
    assert ja.startswith("# Level 4 の実験 `s`") and COUNTERMEASURES["dropout"].what["ja"] in ja
    assert "この実験では実行していない。" in ja and "差は示されない" in ja
    plots(result, tmp_path, "ja")
    for name in ("learning_curves", "dev_loss", "forest"):
        assert (tmp_path / "plots" / f"{name}.png").stat().st_size > 5000


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
    with pytest.raises(SystemExit, match=r"JOBS=3 is more than this machine's 2 GPU\(s\) x JOBS_PER_GPU=1"):
        queue.worker_devices(3, gpus=2)


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
