"""The seeds tool's parts that need no DVC run: what a configuration changed, and its report.
(The whole tool runs end to end on queued experiments in tests/test_e2e.py.)"""

from __future__ import annotations

import os

import pytest

from ja_sentiment.stats import compare_seeds, seed_summary
from ja_sentiment.tools import seeds


def test_the_overrides_are_read_from_the_experiments_own_params():
    base = seeds.flat({"train": {"seed": 1, "epochs": 5, "lr": 3e-5}, "evaluate": {"precision": "auto"}})
    changed = seeds.flat({"train": {"seed": 2, "epochs": 2, "lr": 3e-5}, "evaluate": {"precision": "auto"}})
    assert base == {"train.seed": 1, "train.epochs": 5, "train.lr": 3e-5, "evaluate.precision": "auto"}
    assert seeds.differences(changed, base) == ["train.epochs=2"]  # the seed is not an override
    assert seeds.NAME.match("seeds-20261123-101500-set-s12").groupdict() == {
        "run": "seeds-20261123-101500", "config": "set", "seed": "12"}


def test_markdown_shows_spread_difference_and_verdict():
    a, b = [0.80, 0.81, 0.79], [0.70, 0.71, 0.69]
    result = {"run": "r", "overrides": ["train.epochs=2"], "configs": {
        "params": {"label": "params.yaml", "experiments": {"1": "p1", "2": "p2", "3": "p3"},
                   "accuracy": seed_summary(b), "macro_f1": seed_summary(b)},
        "set": {"label": "params.yaml + train.epochs=2", "experiments": {"1": "x", "2": "y", "3": "z"},
                "accuracy": seed_summary(a), "macro_f1": seed_summary(a)}},
        "comparison": {"accuracy": compare_seeds(a, b), "macro_f1": compare_seeds(a, b)}}
    text = seeds.markdown(result)
    assert "| params.yaml | 1, 2, 3 | 0.7000 ± 0.0100 [0.6900, 0.7100] |" in text
    assert "| test accuracy | +0.1000 | [+0.0773, +0.1227] | 2.6e-04 | better |" in text


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
echo "abc1234  r-params-s1  10:00 AM  Success"
""")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}:{os.environ['PATH']}")


def test_a_queue_status_read_that_fails_once_is_read_again(tmp_path, monkeypatch):
    _fake_dvc(tmp_path, monkeypatch, failures=2)
    assert "r-params-s1  10:00 AM  Success" in seeds.queue_status(attempts=3, pause_s=0)
    seeds.poll(["r-params-s1"], poll_s=0, timeout_s=5)  # done: returns instead of raising


def test_a_queue_status_that_keeps_failing_stops_with_dvcs_message(tmp_path, monkeypatch):
    _fake_dvc(tmp_path, monkeypatch, failures=3)
    with pytest.raises(SystemExit, match="`dvc queue status` failed:\nERROR: unexpected error - Expecting"):
        seeds.queue_status(attempts=3, pause_s=0)


def test_parallel_jobs_share_the_cores_and_a_users_setting_is_kept(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert seeds.worker_env(2, cpus=2)["OMP_NUM_THREADS"] == "1"
    assert seeds.worker_env(3, cpus=8)["OMP_NUM_THREADS"] == "2"
    assert seeds.worker_env(4, cpus=2)["OMP_NUM_THREADS"] == "1"  # never 0
    assert "OMP_NUM_THREADS" not in seeds.worker_env(1, cpus=2)  # one job: torch's own default
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert seeds.worker_env(2, cpus=2)["OMP_NUM_THREADS"] == "3"
