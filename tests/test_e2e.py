"""End to end, offline: `dvc repro` of the whole pipeline in a temporary git copy of the project,
on the real pn.tsv (local copy) and tiny hub-shaped stand-ins built here into a Hugging Face cache of
their own, reached through the default params.yaml ids (HF_HOME there, HF_HUB_OFFLINE=1); then DVC
experiments on top of it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ja_sentiment.inference import inference_precision
from ja_sentiment.tools import standins
from ja_sentiment.training import train_precision
from tests.e2e_support import BIN, COMMITS, HF_ENV, git_commit, run

pytestmark = pytest.mark.slow  # DVC runs, training or the bench in temporary copies

MODELS = ("baseline_plain", "baseline_band", "tfidf", "finetuned")
NAMES = {"negative", "neutral", "positive"}


@pytest.fixture(scope="module")
def repo(e2e_repo: Path) -> Path:
    return e2e_repo


def metrics(repo: Path, rev: str = "") -> dict:
    shown = json.loads(run(repo, "dvc", "metrics", "show", "--json").stdout)
    return {path: entry["data"] for path, entry in shown[rev]["data"].items()}


def test_metrics_name_every_model_and_are_in_range(repo):
    evaluate = metrics(repo)["metrics/evaluate.json"]
    for model in MODELS:
        for key in ("accuracy", "macro_f1", "weighted_f1"):
            assert 0.0 <= evaluate[model]["test"][key] <= 1.0, (model, key)
        assert {evaluate[model]["test"][n]["support"] for n in NAMES} == {78, 139, 336}
        test = evaluate[model]["test"]  # `dvc metrics show` lists every interval beside its point value
        for key in ("accuracy", "macro_f1"):
            assert test[f"{key}_ci_low"] <= test[key] <= test[f"{key}_ci_high"], (model, key)
            assert test[f"{key}_ci_high"] - test[f"{key}_ci_low"] > 0.02  # 553 rows: never a point
        assert 0.0 <= test["ece"] <= 1.0
        assert (repo / f"plots/calibration/{model}_test.png").stat().st_size > 5000
    for other in ("baseline_plain", "baseline_band", "tfidf"):
        versus = evaluate["comparisons"][f"finetuned_vs_{other}"]
        assert versus["n"] == 553 and 0.0 <= versus["mcnemar_p"] <= 1.0
        assert versus["accuracy_diff_ci_low"] <= versus["accuracy_diff"] <= versus["accuracy_diff_ci_high"]
    # Each metrics file names the models behind it: the default hub ids, the commits their revision
    # resolved to (the stand-ins' snapshots), and that they are stand-ins.
    assert evaluate["standin"] is True
    for model in ("baseline_plain", "baseline_band"):
        assert evaluate["models"][model] == {"model": standins.SENTIMENT_ID, "revision": "main",
                                             "commit": COMMITS["sentiment"], "standin": True}
    finetuned = evaluate["models"]["finetuned"]
    assert {k: finetuned[k] for k in ("base_model", "revision", "commit", "standin")} == {
        "base_model": standins.BERT_ID, "revision": "main", "commit": COMMITS["bert"], "standin": True}
    # auto on both sides: bf16 where this machine computes it natively, else fp32 (fp16 on an older GPU).
    assert (finetuned["train_precision"], finetuned["precision"]) == (train_precision("auto"),
                                                                      inference_precision("auto", "cpu"))
    provenance = json.loads((repo / "models/finetuned/provenance.json").read_text())
    assert (provenance["commit"], provenance["standin"], provenance["precision"]) == (
        COMMITS["bert"], True, finetuned["train_precision"])
    errors = metrics(repo)["metrics/error_analysis.json"]
    assert errors["model"]["commit"] == COMMITS["bert"] and errors["model"]["standin"] is True
    # TF-IDF is a real classifier even offline: well above the majority-class rate (336/553).
    assert evaluate["tfidf"]["test"]["accuracy"] > 0.75
    live = metrics(repo)["dvclive/metrics.json"]
    assert live["epochs_run"] == 2 and 1 <= live["best_epoch"] <= 2
    # One finetune run's id in its three records: what a study checks to count the scores as its own.
    assert re.fullmatch(r"[0-9a-f]{32}", live["run_id"])
    assert live["run_id"] == provenance["run_id"] == finetuned["run_id"]
    assert (live["base_model"], live["commit"], live["standin"], live["precision"]) == (
        standins.BERT_ID, COMMITS["bert"], True, train_precision("auto"))
    # The saved model is a classifier now, whatever the checkpoint's architecture was.
    saved = json.loads((repo / "models/finetuned/config.json").read_text())
    assert saved["architectures"] == ["BertForSequenceClassification"]


def test_confusion_data_cover_the_test_split(repo):
    for model in MODELS:
        confusion = pd.read_csv(repo / f"plots/confusion/{model}_test.csv")
        assert list(confusion.columns) == ["actual", "predicted"]
        assert len(confusion) == 553
        assert set(confusion["actual"]) == NAMES and set(confusion["predicted"]) <= NAMES
        assert (repo / f"plots/confusion/{model}_test.png").stat().st_size > 5000


def test_saved_model_labels_a_sentence(repo):
    from transformers import pipeline

    classifier = pipeline("text-classification", model=str(repo / "models/finetuned"))
    [result] = classifier("駅から近くて便利でした。")
    assert result["label"] in NAMES and 0.0 < result["score"] <= 1.0


def test_error_report_lists_exactly_the_mispredicted_rows(repo):
    errors = pd.read_csv(repo / "reports/errors.csv", dtype={"id": str})
    report = (repo / "reports/error_analysis.md").read_text()
    for split in ("train", "test"):
        pred = pd.read_csv(repo / f"predictions/finetuned/{split}.csv", dtype={"id": str})
        wrong = set(pred.loc[pred["gold"] != pred["pred"], "id"])
        assert set(errors.loc[errors["split"] == split, "id"]) == wrong
        assert all(i in report for i in wrong)
    assert f"revision `main`, commit `{COMMITS['bert'][:12]}` (stand-in)" in report
    assert "Made with offline stand-ins" in report


def test_error_analysis_explains_the_fine_tuned_models_errors(repo):
    """Level 3 on the real corpus: findings before possible causes, every test error with its
    neighbours, every training row ranked, attributions of the 10 most confident test errors."""
    report = (repo / "reports/error_analysis.md").read_text()
    sections = [line for line in report.splitlines() if line.startswith("## ")]
    assert sections[:2] == ["## Findings", "## Possible causes"]
    first = r"^- \*\*F1\*\* \(train\)\. Sentences without unanimous annotator agreement"
    assert re.search(first, report, re.M)
    errors = pd.read_csv(repo / "reports/errors.csv", dtype={"id": str})
    test_errors = errors[errors["split"] == "test"]
    near = pd.read_csv(repo / "reports/error_neighbours.csv", dtype={"id": str})
    assert set(near["id"]) == set(test_errors["id"]) and len(near) == 5 * len(test_errors)
    ranking = pd.read_csv(repo / "reports/label_issues.csv")
    assert len(ranking) == 3888 and ranking["self_confidence"].is_monotonic_increasing
    scores = pd.read_csv(repo / "reports/error_attributions.csv", dtype={"id": str})
    top = test_errors.sort_values("confidence", ascending=False, kind="stable").head(10)
    assert list(dict.fromkeys(scores["id"])) == top["id"].tolist()
    for _, one in scores.groupby("id"):  # integrated gradients: the scores share out the change
        assert abs(one["score"].sum() - one["change"].iloc[0]) <= abs(one["delta"].iloc[0]) + 1e-4
    assert (repo / "plots/errors/words.png").stat().st_size > 5000
    # Every possible cause rests on findings that compare the errors with a control, with a test.
    findings = dict(re.findall(r"^- \*\*(F\d+)\*\* \(\w+\)\. (.*)$", report, flags=re.M))
    # Rates against a control: the other rows, the unanimous rows, the other length buckets, the
    # sentences without the word.
    controlled = ("against", "with unanimous agreement at", "test of independence",
                  "Benjamini-Hochberg over all")
    for refs in re.findall(r"^- \*\*P\d+\*\* possibility: .* \(rests on ([F\d, ]+)\)$", report, flags=re.M):
        for ref in refs.split(", "):
            assert any(c in findings[ref] for c in controlled), findings[ref]
            assert re.search(r" p = | q < ", findings[ref]), findings[ref]  # and the test's result
    neighbours = next(text for text in findings.values() if "nearest training sentences" in text)
    assert "correctly classified rows; Cochran-Mantel-Haenszel test stratified by gold class" in neighbours
    labels = next(text for text in findings.values() if text.startswith("Label-issue candidates"))
    assert "of the candidates wrong against" in labels and "Holm" in labels


def test_neighbours_by_the_fine_tuned_models_sentence_vectors(repo, tmp_path):
    """`error_analysis.similarity: model`, run on this run's outputs in a scratch directory."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["error_analysis"].update(similarity="model", attributions=0)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True))
    for path in ("data", "predictions", "models"):
        (tmp_path / path).symlink_to(repo / path)
    proc = subprocess.run([sys.executable, "-m", "stages.error_analysis"], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(repo)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    near = pd.read_csv(tmp_path / "reports/error_neighbours.csv")
    tfidf = pd.read_csv(repo / "reports/error_neighbours.csv")
    assert len(near) == len(tfidf) and near["similarity"].between(-1.0001, 1.0001).all()
    assert (near.groupby("id")["similarity"].diff().dropna() <= 1e-6).all()  # nearest first
    assert not near["neighbour_id"].equals(tfidf["neighbour_id"])  # another similarity, other neighbours
    assert "mean-pooled sentence vectors" in (tmp_path / "reports/error_analysis.md").read_text()


def test_summary_answers_the_report_items(repo):
    summary = (repo / "reports/summary.md").read_text()
    assert summary.index("Made with offline stand-ins") < summary.index("## Models")
    for needle in (f"| baseline_plain | `{standins.SENTIMENT_ID}` | `main` | "
                   f"`{COMMITS['sentiment'][:12]}` (stand-in) |",
                   f"(base `{standins.BERT_ID}`) | `main` | `{COMMITS['bert'][:12]}` (stand-in) |",
                   "| finetuned | test |", "Test classification report",
                   "## Is the fine-tuned model better? Paired comparison on the test rows",
                   "| tfidf | macro-F1 |",
                   "../plots/calibration/finetuned_test.png",
                   "../plots/confusion/finetuned_test.png", "../plots/learning_curve.png", "| test | 553 |"):
        assert needle in summary, needle
    assert (repo / "plots/learning_curve.png").stat().st_size > 5000


def test_noop_repro_runs_nothing(repo):
    started = time.perf_counter()
    out = run(repo, "dvc", "repro").stdout
    elapsed = time.perf_counter() - started
    assert "Running stage" not in out, out
    print(f"no-op dvc repro: {elapsed:.1f} s")
    assert elapsed < 15


def test_editing_inference_code_leaves_finetune_up_to_date(repo):
    """The batched-inference module is used by the stages that classify (baseline_pipeline, evaluate),
    not by finetune: editing it must not mark the trained model as stale."""
    path = repo / "ja_sentiment/inference.py"
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(original + "\n# an edit\n", encoding="utf-8")
        status = json.loads(run(repo, "dvc", "status", "--json").stdout)
        # What a re-run would execute: the changed stages and everything downstream of them.
        dry = run(repo, "dvc", "repro", "--dry", "--force-downstream").stdout
    finally:
        path.write_text(original, encoding="utf-8")
    assert sorted(status) == ["baseline_pipeline", "evaluate"], status
    for stage in status.values():
        assert {"changed deps": {"ja_sentiment/inference.py": "modified"}} in stage, status
    would_run = {line.split("'")[1] for line in dry.splitlines() if line.startswith("Running stage")}
    assert would_run == {"baseline_pipeline", "evaluate", "error_analysis", "summary"}, dry
    assert "Running stage" not in run(repo, "dvc", "repro").stdout  # restored: nothing to do


def test_experiment_reruns_only_finetune_and_after(repo, tmp_path):
    git_commit(repo, "baseline run")
    venv = Path(sys.executable).parent.parent
    # The documented way to go on after `make smoke`: `make exp ... SMOKE=1` brings the stand-ins' cache
    # (TINY/hf) itself; the shell's own HF_HOME here is an empty cache.
    tiny = Path(HF_ENV["HF_HOME"]).parent
    out = run(repo, "make", "exp", "SET=train.epochs=3", "SMOKE=1", f"TINY={tiny}", f"VENV={venv}",
              env={"HF_HOME": str(tmp_path / "empty_hf")}).stdout
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    assert ran == {"finetune", "evaluate", "error_analysis", "summary"}, out
    diff = json.loads(run(repo, "dvc", "metrics", "diff", "HEAD", "--json").stdout)
    assert diff["dvclive/metrics.json"]["epochs_run"] == {"old": 2, "new": 3, "diff": 1}
    params = json.loads(run(repo, "dvc", "params", "diff", "HEAD", "--json").stdout)
    epochs = params["params.yaml"]["train.epochs"]
    assert (epochs["old"], epochs["new"]) == (2, 3)
    shown = json.loads(run(repo, "dvc", "exp", "show", "--json").stdout)
    epochs = {exp["rev"]: [e["data"]["params"]["params.yaml"]["data"]["train"]["epochs"]
                           for e in (exp.get("experiments") or []) for e in e["revs"]]
              for exp in shown}
    assert 3 in sum(epochs.values(), []), epochs
    table = run(repo, "make", "exps", f"VENV={venv}").stdout
    for column in ("train.epochs", "train.learning_rate", "finetuned.test.macro_f1", "tfidf.test.accuracy"):
        assert column in table, table
    assert "eval_batch_size" not in table and "negative.precision" not in table
    # The PR report pairs the two runs row by row: one headline row per model and metric.
    run(repo, "make", "report", "BASE=HEAD", f"VENV={venv}")
    report = (repo / "build/report/report.md").read_text()
    score, diff = r"[01]\.\d{4}", r"[+-]\d\.\d{4}"
    for model in ("finetuned", "tfidf", "baseline_plain", "baseline_band"):
        row = (rf"\| `{model}` \| accuracy \| {score} \| {score} \| {diff} \[{diff}, {diff}\] \| [\d.e-]+ \| "
               r"(better|worse|not distinguishable: the data do not show a difference; they are compatible "
               r"with differences from [+-]\d+\.\d to [+-]\d+\.\d points) \|")
        assert re.search(row, report), report
    # TF-IDF did not change between the runs: difference exactly 0.
    zero = r"\+0\.0000 \[\+0\.0000, \+0\.0000\]"
    assert re.search(rf"\| `tfidf` \| accuracy \| .* \| {zero} \| 1\.000 \|", report), report
    assert report.index("## Test scores") < report.index("## Plots") < report.index("<details>")
    run(repo, "git", "checkout", "--", ".")  # back to the committed baseline for the next test
    run(repo, "dvc", "checkout", "--force")


STUDY = {"name": "t", "configs": {
    "baseline": {},
    "short": {"countermeasure": "fewer_epochs", "set": {"train.epochs": 1}},
    "dropped": {"countermeasure": "drop_label_issues", "set": {"train.drop_label_issues": 50}}}}


def study_run(repo: Path, *args: str, check: bool = True, study: str = "build/t.yaml",
              out: str = "build/study") -> subprocess.CompletedProcess:
    # --gpus 2 within CUDA_VISIBLE_DEVICES=3,5: the two queue workers are pinned as on a machine where
    # the user gave the study GPUs 3 and 5, which each experiment records; on this CPU machine the
    # pinning changes nothing else.
    return run(repo, sys.executable, "-m", "ja_sentiment.tools.study", study, "--seeds", "1", "2",
               "--jobs", "2", "--gpus", "2", "--out", out, *args, check=check,
               env={"CUDA_VISIBLE_DEVICES": "3,5"})


def named(repo: Path) -> dict[str, dict]:
    """Every finished experiment (DVC's refs, any baseline commit) by name: commit, dvc.lock's train
    params, dvclive/metrics.json and the fine-tuned model's test scores."""
    out = {}
    refs = run(repo, "git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps/").stdout
    for line in refs.splitlines():
        ref, commit = line.split()
        if ref.count("/") != 4:  # refs/exps/<2>/<38>/<name>, not the queue's own refs
            continue
        def show(path: str, commit: str = commit) -> str:
            return run(repo, "git", "show", f"{commit}:{path}").stdout

        lock = yaml.safe_load(show("dvc.lock"))
        out[ref.rsplit("/", 1)[1]] = {
            "ref": ref, "commit": commit,
            "train": lock["stages"]["finetune"]["params"]["params.yaml"]["train"],
            "live": json.loads(show("dvclive/metrics.json")),
            "test": json.loads(show("metrics/evaluate.json"))["finetuned"]["test"]}
    return out


def model_out(lock: str) -> dict:
    """finetune's models/finetuned entry in a dvc.lock (md5 of its manifest, size, files)."""
    outs = yaml.safe_load(lock)["stages"]["finetune"]["outs"]
    return next(o for o in outs if o["path"] == "models/finetuned")


def by_config(experiments: dict[str, dict], study: str = "t") -> dict[tuple[str, int], str]:
    """(configuration, seed) -> experiment name, for names `<study>-<config>-s<seed>-<identity[:8]>`."""
    out = {}
    for name in experiments:
        match = re.fullmatch(rf"{study}-([a-z_]+)-s(\d+)-[0-9a-f]{{8}}", name)
        if match:
            out[match[1], int(match[2])] = name
    return out


def test_a_study_runs_every_configuration_over_the_same_seeds_and_resumes(repo):
    """`make study`'s tool: 3 configurations x 2 seeds through the DVC queue in temporary copies; its
    aggregate equals what the experiments' own metrics give; a second run skips what exists; another
    study asking for the same configurations reuses them; a removed experiment's old Success line in
    the queue does not count."""
    before = (repo / "dvclive/metrics.json").read_text()
    (repo / "build").mkdir(exist_ok=True)
    (repo / "build/t.yaml").write_text(yaml.safe_dump(STUDY), encoding="utf-8")
    dry = study_run(repo, "--dry-run").stdout
    size = model_out((repo / "dvc.lock").read_text())["size"]
    assert "to run: 6, queued or running: 0, done: 0" in dry
    assert f"cache: about {6 * size / 1e6:,.0f} MB added to the DVC cache for 6 models" in dry
    # What 2 seeds can detect, from a stated prior (no report of this study yet).
    assert re.search(r"power \(macro-F1, detected 80% of the time, Holm over 2 at alpha 0\.05, 553 test "
                     r"rows\): with 2 seeds, differences of about \d+\.\d points and more; the test set's "
                     r"own floor is \d\.\d points\n(  \(more than 100 points: with these seeds no difference "
                     r"of macro-F1 would be detected\)\n)?  2 seeds [\d.]+, 3 seeds", dry), dry
    assert "variance components: a prior: the simulator's world \"seed sd moderate\"" in dry
    # An uncommitted change to code the stages import: the dry run says so, and the experiments'
    # identity records it (new names: they would run as other experiments).
    training = repo / "ja_sentiment/training.py"
    original = training.read_text()
    training.write_text(original + "\n# an uncommitted change\n")
    try:
        changed = study_run(repo, "--dry-run").stdout
    finally:
        training.write_text(original)
    assert "uncommitted changes to files the experiments depend on" in changed, changed
    assert "ja_sentiment/training.py" in changed and "to run: 6, queued or running: 0, done: 0" in changed
    names_of = lambda text: set(re.findall(r"(t-\w+-s\d-[0-9a-f]{8}): to run", text))  # noqa: E731
    assert len(names_of(dry)) == 6 and names_of(changed).isdisjoint(names_of(dry))
    study_run(repo)
    result = json.loads((repo / "build/study/study.json").read_text())
    experiments = named(repo)
    names = by_config(experiments)
    configs = ("baseline", "short", "dropped")
    assert sorted(names) == sorted((c, s) for c in configs for s in (1, 2))
    per_seed: dict[str, list[float]] = {}
    for config, (epochs, dropped) in zip(configs, ((2, 0), (1, 0), (2, 50)), strict=True):
        scores = {key: [] for key in ("accuracy", "macro_f1")}
        for seed in (1, 2):
            exp = experiments[names[config, seed]]
            assert (exp["train"]["seed"], exp["train"]["epochs"], exp["train"]["drop_label_issues"]) == (
                seed, epochs, dropped)
            assert (exp["live"]["train_rows"], exp["live"]["epochs_run"]) == (3888 - dropped, epochs)
            prov = result["provenance"][names[config, seed]]
            assert (prov["rev"], prov["run_id"]) == (exp["commit"], exp["live"]["run_id"])
            for key in scores:
                scores[key].append(exp["test"][key])
        for key, values in scores.items():
            got = result["configs"][config][key]
            assert got["values"] == values and got["mean"] == pytest.approx(np.mean(values))
            assert got["std"] == pytest.approx(np.std(values, ddof=1))
        per_seed[config] = scores["macro_f1"]
        curves = result["configs"][config]["curves"]
        assert all(sorted(map(int, c["dev_ce"])) == list(range(1, epochs + 1)) for c in curves.values())
        assert all(v is not None for v in result["configs"][config]["overfitting"]["gap_at_kept"])
    for config in ("short", "dropped"):
        c = result["comparisons"][config]["macro_f1"]
        assert c["diff"] == pytest.approx(np.mean(per_seed[config]) - np.mean(per_seed["baseline"]))
        assert c["ci_low"] <= c["diff"] <= c["ci_high"] and c["seeds"] == 2
        assert c["verdict"] == ("identical" if c["identical"] else ("better" if c["diff"] > 0 else "worse")
                                if c["p_holm"] < 0.05 else "not distinguishable")
        assert c["identical"] or c["power"]["detectable"] > c["power"]["floor"] > 0
    # What each run's knobs did, as finetune recorded it: 50 rows dropped (by class), no early stop.
    for seed in ("1", "2"):
        engaged = result["configs"]["dropped"]["engaged"][seed]
        assert engaged["dropped_rows"] == 50 and sum(engaged["dropped_by_class"].values()) == 50
        assert result["configs"]["baseline"]["engaged"][seed]["dropped_rows"] == 0
        assert engaged["stopped_at_epoch"] is None and engaged["lr_groups"] == 1
    by_class = result["configs"]["dropped"]["engaged"]["1"]["dropped_by_class"]
    # Each experiment ran on one of the two pinned workers, within the caller's CUDA_VISIBLE_DEVICES,
    # and both workers ran some.
    devices = [d for c in result["configs"].values() for d in c["cuda_visible_devices"].values()]
    assert set(devices) == {"3", "5"}, devices
    report = (repo / "build/study/study.md").read_text()
    assert "### Dropping suspected label errors (`drop_label_issues`)" in report
    assert "Made with offline stand-ins" in report
    dropped_cell = f"50 ({', '.join(f'{k} {v}' for k, v in by_class.items())})"
    assert f"| `dropped` | off | {dropped_cell} | 0 (" in report
    assert "## Per-class F1 (mean over seeds)" in report
    # The seed x row intervals, with their simultaneous (Bonferroni-level) companions.
    assert "[simultaneous interval]" in report and "seed level's degrees of freedom" in report
    assert all(c["macro_f1"]["df"] == 1 for c in result["comparisons"].values())  # 2 seeds
    assert "Experiments left out" not in report and result["left_out"] == []
    assert (repo / "build/study/plots/forest.png").stat().st_size > 5000
    assert (repo / "dvclive/metrics.json").read_text() == before  # the workspace is untouched

    again = study_run(repo)  # everything exists with the same content: nothing runs
    assert "study t: 6 experiments done, 0 to run, 0 queued or running to wait for" in again.stderr
    # Another study asking for the same configuration (under other names) reuses every experiment.
    other = {"name": "u", "configs": {"baseline": {}, "one_epoch": {"set": {"train.epochs": 1}}}}
    (repo / "build/u.yaml").write_text(yaml.safe_dump(other), encoding="utf-8")
    reused = study_run(repo, study="build/u.yaml", out="build/u")
    assert "study u: 4 experiments done, 0 to run" in reused.stderr
    u = json.loads((repo / "build/u/study.json").read_text())
    assert u["configs"]["one_epoch"]["experiments"] == {str(s): names["short", s] for s in (1, 2)}
    assert u["configs"]["one_epoch"]["macro_f1"]["values"] == result["configs"]["short"]["macro_f1"]["values"]

    # An experiment lost (its ref deleted behind DVC's back; `dvc exp remove` would also clear its queue
    # line): its Success line stays in `dvc queue status`, and counts for nothing.
    lost = names["short", 2]
    run(repo, "git", "update-ref", "-d", experiments[lost]["ref"])
    status = run(repo, "dvc", "queue", "status").stdout
    assert re.search(rf"{lost}\s.*Success", status), status
    dry = study_run(repo, "--dry-run").stdout
    assert f"{lost}: to run" in dry and "to run: 1, queued or running: 0, done: 5" in dry
    study_run(repo, "--collect", "--language", "ja", "--out", "build/study_ja")
    collected = json.loads((repo / "build/study_ja/study.json").read_text())
    assert collected["left_out"] == [{"name": lost, "why": "not run yet"}]
    assert collected["configs"]["short"]["seeds"] == [1]
    ja = (repo / "build/study_ja/study.md").read_text()  # the report in Japanese
    assert ja.startswith("# Level 4 の実験 `t`") and "**除外した実験**" in ja and f"`{lost}`" in ja
    # One seed of `short` missing: no verdict for it, its unpaired baseline seed listed.
    short = collected["comparisons"]["short"]["macro_f1"]
    assert short["verdict"] == "no verdict" and short["unpaired"] == {"config": [], "baseline": [2]}
    assert "| 判定なし: 対応するシードが 1 個(2 個以上必要) |" in ja and "基準設定の 2。" in ja


def finetune_of(repo: Path, seed: int, dropped: int) -> int | None:
    """The pid of a running `stages.finetune` of a queued experiment of this repository with these
    params (its working directory: the experiment's temporary copy under .dvc/tmp/exps)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
            if b"stages.finetune" not in cmdline or repo / ".dvc/tmp/exps" not in cwd.parents:
                continue
            train = yaml.safe_load((cwd / "params.yaml").read_text())["train"]
        except (OSError, ValueError, KeyError):
            continue
        if (train["seed"], train["drop_label_issues"]) == (seed, dropped):
            return int(pid)
    return None


def test_a_killed_training_is_run_again_and_never_replaced_by_another_runs_numbers(repo):
    """The fault: one configuration's value changed (only it runs again), then the training of one of
    its experiments killed with SIGKILL mid-way. DVC lists the failed run with the baseline commit's
    metrics; the study leaves it out, says so, and running the study again finishes it with its own
    numbers. A second study started meanwhile is refused in one line. Then --prune-models empties the
    cache of the study's models and nothing the report reads changes. (It goes on from the state the
    previous test left.)"""
    study = {**STUDY, "configs": {**STUDY["configs"], "dropped": {"countermeasure": "drop_label_issues",
                                                                   "set": {"train.drop_label_issues": 60}}}}
    (repo / "build/t.yaml").write_text(yaml.safe_dump(study), encoding="utf-8")
    dry = study_run(repo, "--dry-run").stdout
    # Only the changed configuration runs again (and the one lost above).
    assert "to run: 3, queued or running: 0, done: 3" in dry
    # From the last report's comparisons, or (the stand-ins here may predict one class) a prior, said so.
    assert re.search(r"variance components: (fitted in build/study/study.json \(median over its [12] "
                     r"comparisons\)|a prior: .*; build/study/study.json has no comparison with a spread)",
                     dry), dry
    to_run = re.findall(r"(t-\w+-s\d)-[0-9a-f]{8}: to run", dry)
    assert sorted(to_run) == ["t-dropped-s1", "t-dropped-s2", "t-short-s2"]

    env = {**os.environ, **HF_ENV, "PATH": BIN + os.pathsep + os.environ["PATH"]}
    cmd = [sys.executable, "-m", "ja_sentiment.tools.study", "build/t.yaml", "--seeds", "1", "2",
           "--jobs", "2", "--out", "build/killed"]
    proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while (pid := finetune_of(repo, seed=1, dropped=60)) is None:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    busy = run(repo, *cmd[:-2], "--out", "build/second", check=False)
    assert busy.returncode == 1 and re.fullmatch(
        rf"study: another study is running in this repository: t \(pid {proc.pid}, started [0-9: -]+\); "
        r"wait for it to finish or stop it\n", busy.stderr), busy.stderr
    time.sleep(2)  # into its training
    os.kill(pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 1, err[-3000:]
    killed = re.search(r"t-dropped-s1-[0-9a-f]{8}", err)[0]
    # DVC runs a stage through $SHELL, else /bin/sh: bash execs the command (the stage exits with -9),
    # dash waits for it and reports the signal as status 137 (CI has no SHELL set).
    assert re.search(rf"study: left out {killed}: failed: .*exited with (-9|137)", err), err[-3000:]
    assert f"study: 1 experiment(s) failed or did not run: ['{killed}']; running the study again" in err
    # The trap: DVC lists the failed run, with the -S params of its stash commit and the metrics of the
    # baseline commit.
    shown = json.loads(run(repo, "dvc", "exp", "show", "--json").stdout)
    failed = [r for c in shown for g in c.get("experiments") or [] for r in g["revs"]
              if r.get("name") == killed]
    assert failed and failed[0]["error"]["msg"] == "Experiment run failed"
    first = json.loads((repo / "build/killed/study.json").read_text())
    assert first["configs"]["dropped"]["seeds"] == [2] and killed not in first["provenance"]
    assert [e["name"] for e in first["left_out"]] == [killed]

    again = study_run(repo)  # the failed one is queued again (its stale queue line removed) and finishes
    assert "study t: 5 experiments done, 1 to run, 0 queued or running to wait for" in again.stderr
    assert not re.search(rf"{killed}\s.*Failed", run(repo, "dvc", "queue", "status").stdout)
    result = json.loads((repo / "build/study/study.json").read_text())
    experiments = named(repo)
    assert result["left_out"] == [] and result["configs"]["dropped"]["seeds"] == [1, 2]
    counted = result["configs"]["dropped"]["experiments"]
    assert counted["1"] == killed  # the experiment that was killed, run again under its own name
    for seed in (1, 2):
        exp = experiments[counted[str(seed)]]
        assert (exp["train"]["seed"], exp["train"]["drop_label_issues"], exp["live"]["train_rows"]) == (
            seed, 60, 3888 - 60)
        assert result["provenance"][counted[str(seed)]]["run_id"] == exp["live"]["run_id"]
        assert result["configs"]["dropped"]["macro_f1"]["values"][seed - 1] == exp["test"]["macro_f1"]
    assert result["configs"]["short"]["seeds"] == [1, 2]  # the lost one ran again

    # Disk: the study's models leave the DVC cache; the workspace's model and the report stay whole.
    cache = repo / ".dvc/cache/files/md5"
    manifest = lambda md5: cache / md5[:2] / md5[2:]  # noqa: E731
    models = [model_out(run(repo, "git", "show", f"{p['rev']}:dvc.lock").stdout)["md5"]
              for p in result["provenance"].values()]
    workspace = model_out((repo / "dvc.lock").read_text())["md5"]
    assert all(manifest(m).is_file() for m in models)
    pruned = study_run(repo, "--collect", "--prune-models")
    assert re.search(r"study: removed \d+ files \([\d,]+ MB\) of 6 experiments' models", pruned.stderr)
    assert not any(manifest(m).is_file() for m in models)
    entries = json.loads(manifest(workspace).read_text())
    assert entries and all(manifest(e["md5"]).is_file() for e in entries)
    assert json.loads((repo / "build/study/study.json").read_text())["configs"] == result["configs"]
