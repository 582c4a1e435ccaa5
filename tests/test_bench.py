"""`python -m bench` end to end on a 1-layer model: every path runs, the ratios it reports are the
ratios of the throughputs it measured, and its end-to-end part really runs `make smoke`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ja_sentiment.inference import inference_precision
from ja_sentiment.params import EvaluateParams
from ja_sentiment.training import train_precision
from tests.conftest import ROOT, SHARED_PN, copy_project


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory) -> tuple[dict, str, Path]:
    """`python -m bench` on a 1-layer model in a work directory: its results, table and the directory
    (its data/processed/ and build/bench_model/)."""
    if not SHARED_PN.is_file():
        pytest.skip(f"the local corpus copy {SHARED_PN} is absent")
    work = tmp_path_factory.mktemp("bench")
    shutil.copy(ROOT / "params.yaml", work / "params.yaml")
    (work / "data" / "raw").mkdir(parents=True)
    shutil.copy(SHARED_PN, work / "data" / "raw" / "pn.tsv")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
           f"{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "stages.preprocess"], cwd=work, env=env, check=True,
                   capture_output=True)
    proc = subprocess.run([sys.executable, "-m", "bench", "--layers", "1", "--threads", "1",
                           "--rounds", "1", "--train-rounds", "1", "--project-steps", "3",
                           "--notebook-steps", "2", "--vocab-size", "2000", "--out", "out",
                           "--shared-pn", str(SHARED_PN)], cwd=work, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("wrote ") == 1, proc.stdout  # one bench run, one results file
    return (json.loads((work / "out" / "results.json").read_text(encoding="utf-8")),
            (work / "out" / "results.md").read_text(encoding="utf-8"), work)


@pytest.fixture(scope="module")
def results(bench_run) -> tuple[dict, str]:
    return bench_run[:2]


@pytest.mark.slow  # the whole bench on a 1-layer model, make smoke included (about 4 min)
def test_ratios_are_the_measured_throughputs(results):
    res, table = results
    inf, tr = res["inference"], res["training"]
    pairs = {"inference_vs_padded": (inf["project"], inf["notebook_padded"]),
             "inference_vs_one_by_one": (inf["project"], inf["one_by_one"]),
             "training_vs_padded": (tr["project"], tr["notebook_padded"]),
             "training_fp32_vs_padded": (tr["project_fp32"], tr["notebook_padded"])}
    # The project row trains in the default precision (bf16 where native), with an fp32 row beside it.
    assert tr["precision"] == train_precision("auto") == tr["project"]["precision"]
    assert tr["project_fp32"]["precision"] == "fp32" and tr["notebook_padded"]["precision"] == "fp32"
    for key, (fast, slow) in pairs.items():
        assert res[key] == pytest.approx(fast["per_s"] / slow["per_s"], abs=0.006)
        assert f"| `{key}` | {res[key]:.2f}x |" in table
    assert res["meta"]["model"]["architecture"]["num_hidden_layers"] == 1
    # Every path scored the same 553 test texts; (b) pads all of them to the longest one.
    assert inf["texts"] == 553
    pos = inf["positions_computed"]
    assert pos["notebook_padded"] == 553 * inf["token_lengths"]["max"]
    assert pos["one_by_one"] == pos["exact"] <= pos["project"] < pos["notebook_padded"]
    assert inf["padding_bound_by_split"]["test"] == round(pos["notebook_padded"] / pos["exact"], 2)


@pytest.mark.slow  # the whole bench on a 1-layer model, make smoke included (about 4 min)
def test_project_path_runs_at_evaluates_default_precision(results):


    inf = results[0]["inference"]
    ran = inference_precision(EvaluateParams().precision, "cpu")
    assert inf["project_precision"] == ran
    # fp32 paths give the same class as the fp32 project path for every text.
    assert inf["agreement_reference"] == ("project_fp32" if ran == "bf16" else "project")
    for name in ("notebook_padded", "one_by_one", "proposed"):
        assert inf[name]["vs_reference"]["argmax_agreement"] == 1.0
        assert inf[name]["vs_reference"]["max_abs_prob_diff"] < 1e-4


@pytest.mark.slow  # the whole bench on a 1-layer model, make smoke included (about 4 min)
def test_end_to_end_part_runs_make_smoke_then_nothing(results):
    res, table = results
    e2e = res["end_to_end"]
    assert e2e["smoke_stages_run"] == 9 and e2e["noop_stages_run"] == 0
    assert res["smoke_repro_s"] == e2e["smoke_repro_s"] > res["noop_repro_s"] == e2e["noop_repro_s"] > 0
    agree = e2e["trained_model_precision"]
    assert agree["texts"] == 553 and 0.9 <= agree["argmax_agreement"] <= 1.0
    assert f"| no-op `dvc repro` right after (0 stages run) | {e2e['noop_repro_s']:.2f} s |" in table


def test_fresh_clone_stops_with_one_line_saying_what_to_run(tmp_path):
    repo = copy_project(tmp_path / "clone")  # no data/processed yet
    proc = subprocess.run([sys.executable, "-m", "bench"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "bench: data/processed/train.tsv, data/processed/dev.tsv, data/processed/test.tsv missing; run "
        "`make smoke` (offline, about a minute) or `dvc repro preprocess` first"], proc.stderr
    # Nothing built, the committed results untouched.
    assert not (repo / "build").exists()
    assert (repo / "bench/results.json").read_bytes() == (ROOT / "bench/results.json").read_bytes()


def test_fullsize_times_each_stage_from_the_repro_output(tmp_path):
    """bench.fullsize's clock: each "Running stage" line to the next, the last to the command's end."""
    from bench.fullsize import notebook_estimate, timed_stages

    script = ("import time\nprint('Verifying data sources')\nprint(\"Running stage 'a':\", flush=True)\n"
              "time.sleep(0.6)\nprint(\"Running stage 'b':\", flush=True)\ntime.sleep(0.2)\n")
    stages, total, code = timed_stages([sys.executable, "-c", script], tmp_path, dict(os.environ),
                                       tmp_path / "log")
    assert code == 0 and list(stages) == ["a", "b"]
    assert 0.55 <= stages["a"] <= 1.5 and 0.15 <= stages["b"] <= 1.0
    assert stages["a"] + stages["b"] <= total
    assert "Running stage 'b':" in (tmp_path / "log").read_text()
    assert notebook_estimate({"training": {"notebook_padded": {"per_s": 4.0}}}, 19440)["train_s"] == 4860.0
    assert notebook_estimate({}, 19440) is None


@pytest.mark.slow  # the whole bench on a 1-layer model, make smoke included (about 4 min)
def test_share_of_the_machines_own_matmul_rate_is_computed_from_the_measured_throughputs(results):
    res, table = results
    limit, tr, inf = res["limit"], res["training"], res["inference"]
    arch = res["meta"]["model"]["architecture"]
    fwd = 2 * arch["num_hidden_layers"] * (4 * arch["hidden_size"] ** 2
                                            + 2 * arch["hidden_size"] * arch["intermediate_size"])
    assert limit["forward_flops_per_position"] == fwd
    train = limit["training_project"]
    positions = tr["project"]["per_s"] * tr["project"]["padded_positions_per_sample"]
    assert train["gflops"] == pytest.approx(3 * fwd * positions / 1e9, rel=0.01)
    rate = limit["machine_gflops"][train["precision"]]
    assert train["share"] == pytest.approx(train["gflops"] / rate, abs=0.002)
    infer = limit["inference_project"]
    assert infer["precision"] == inf["project_precision"]
    positions = inf["project"]["per_s"] * inf["positions_computed"]["project"] / inf["texts"]
    assert infer["gflops"] == pytest.approx(fwd * positions / 1e9, rel=0.01)
    # Positive. No upper bound here: on a busy machine (this suite runs two workers) the probe can
    # read low against a path's best round; docs/performance.md gives the figures of an idle one.
    assert train["share"] > 0 and infer["share"] > 0
    assert f"| {infer['positions_per_s']:.1f} | {infer['gflops']:.1f} | {infer['share']:.0%} |" in table


@pytest.mark.slow  # builds tiny stand-ins, evaluates dev twice (about a minute)
def test_finetune_parts_times_both_evaluation_batchings_with_the_same_metrics(tmp_path):
    if not SHARED_PN.is_file():
        pytest.skip(f"the local corpus copy {SHARED_PN} is absent")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "data" / "raw").mkdir(parents=True)
    shutil.copy(SHARED_PN, tmp_path / "data" / "raw" / "pn.tsv")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "stages.preprocess"], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    proc = subprocess.run([sys.executable, "-m", "bench.finetune_parts", "--size", "tiny",
                           "--shared-pn", str(SHARED_PN), "--out", "parts.json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    parts = json.loads((tmp_path / "parts.json").read_text())
    trainer, tokens = parts["dev_eval_tokens_0"], parts["dev_eval_tokens_1024"]
    assert tokens["padded_positions"] < trainer["padded_positions"]  # what the token budget saves
    for key in ("ce", "row_loss", "accuracy", "macro_f1"):
        assert tokens[key] == pytest.approx(trainer[key], abs=1e-5), key
    assert parts["adamw_step_fused_s"] > 0 and parts["adamw_step_foreach_s"] > 0
    assert parts["checkpoint_write_s"] > 0 and parts["checkpoint_mb"] > 0


def test_the_step_profile_accounts_for_every_operator_and_names_its_parts():
    """bench.profile on a tiny BERT, in both precisions: the parts' shares of self CPU time sum to 1,
    and the matmuls and the optimizer are found under their names."""
    from bench.profile import part_of, profile_steps, table

    assert part_of("aten::addmm") == part_of("aten::mm") == "matmuls (linear layers, forward and backward)"
    assert part_of("aten::_fused_adamw_").startswith("optimizer") and part_of("aten::bernoulli_") == "dropout"
    assert part_of("aten::_to_copy").startswith("casts") and part_of("aten::weird").startswith("other")
    assert part_of("aten::_foreach_norm").startswith("gradient clipping")
    fp32, bf16, torch_clip = (profile_steps(p, layers=1, hidden=64, batch=4, tokens=(16, 8), steps=2, clip=c)
                              for p, c in (("fp32", "folded"), ("bf16", "folded"), ("fp32", "torch")))
    clipping = "gradient clipping (the total norm; clip_grad_norm_'s multiplying pass)"
    for result in (fp32, bf16, torch_clip):
        assert sum(result["parts"].values()) == pytest.approx(1.0) and result["wall_s_per_step"] > 0
        assert result["parts"]["matmuls (linear layers, forward and backward)"] > 0
        assert result["parts"]["optimizer (AdamW with its fp32 weights)"] > 0
        assert result["parts"][clipping] > 0  # the norm, in both ways of clipping
    assert "| wall time per step |" in table([fp32, bf16])


def test_the_sweep_fits_a_fixed_cost_per_step_and_a_cost_per_position():
    """fit_line recovers a known line; the phases of a step add up to it; a sweep on a tiny BERT times
    each length and its share."""
    from bench.profile import fit_line, sweep

    line = fit_line([256, 512, 1024], [0.3 + 2e-4 * p for p in (256, 512, 1024)])
    assert line == pytest.approx((0.3, 2e-4))
    from bench.profile import PHASES, phase_times

    phases = phase_times("bf16", layers=1, hidden=64, batch=4, tokens=(8, 16), steps=2, clip="torch")
    assert list(phases["phases"]) == list(PHASES) and all(v > 0 for v in phases["phases"].values())
    assert phases["wall_s_per_step"] == pytest.approx(sum(phases["phases"].values()))
    res = sweep("fp32", layers=1, hidden=64, batch=4, lengths=(8, 16), steps=2, probe_gflops=10.0)
    assert [r["positions"] for r in res["rows"]] == [32, 64] and all(r["s_per_step"] > 0 for r in res["rows"])
    flops = 3 * 2 * (4 * 64 * 64 + 2 * 64 * 256)  # one layer's matmuls per position, forward and backward
    assert res["rows"][0]["share"] == pytest.approx(flops * 32 / res["rows"][0]["s_per_step"] / 10e9)


def test_without_native_bf16_the_profile_says_so_and_measures_fp32_only(monkeypatch, capsys):
    from bench import profile
    from ja_sentiment import hardware

    monkeypatch.setattr(hardware, "native_bf16", lambda device: False)
    profile.main(["--phases", "--layers", "1", "--hidden", "64", "--batch", "2", "--tokens", "8",
                  "--steps", "1"])
    out, err = capsys.readouterr()
    assert "this CPU has no native bf16" in err and "the fp32 path only" in err
    assert "| fp32, clip folded |" in out and "| bf16, clip" not in out


def test_the_pair_ratio_is_the_geometric_mean_with_a_t_interval_on_the_logs():
    import math

    from scipy import stats

    from bench.pair import ratio_interval

    before, after = [10.0, 20.0, 10.0], [11.0, 24.0, 10.5]
    logs = [math.log(1.1), math.log(1.2), math.log(1.05)]
    low, high = stats.t.interval(0.95, 2, loc=sum(logs) / 3, scale=stats.sem(logs))
    got = ratio_interval(before, after)
    assert got["ratio"] == pytest.approx((1.1 * 1.2 * 1.05) ** (1 / 3))
    assert (got["low"], got["high"]) == pytest.approx((math.exp(low), math.exp(high)))
    assert got["ratios"] == [1.1, 1.2, 1.05] and got["pairs"] == 3
    assert ratio_interval([10.0], [11.0])["low"] is None  # no interval from one pair


@pytest.mark.slow  # four training runs of the 1-layer bench model
def test_the_pair_times_each_checkouts_own_code_in_turns(bench_run):
    """bench.pair with this checkout on both sides: two pairs in turns, each run the stage's training
    path on the same batches, and the summary is the ratio of the speeds it measured."""
    _, _, work = bench_run
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "bench.pair", "--before", str(ROOT), "--after", str(ROOT),
                           "--runs", "2", "--steps", "2", "--threads", "1",
                           "--model-dir", str(work / "build/bench_model"), "--data", str(work),
                           "--out", str(work / "pair.json")], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [line.split(":")[0] for line in proc.stderr.splitlines() if line.startswith("pair ")] == [
        "pair 1/2 before", "pair 1/2 after", "pair 2/2 before", "pair 2/2 after"]
    res = json.loads((work / "pair.json").read_text())
    before, after = ([r["samples_per_s"] for r in res["runs"][side]] for side in ("before", "after"))
    assert res["ratios"] == [round(a / b, 4) for b, a in zip(before, after, strict=True)]
    assert res["low"] <= res["ratio"] <= res["high"] and res["pairs"] == 2
    assert len({json.dumps(r["positions"]) for side in res["runs"].values() for r in side}) == 1
    assert f"after / before: {res['ratio']:.3f}x" in proc.stdout
