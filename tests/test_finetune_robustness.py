"""Stage `finetune` beyond one clean run: torchrun (2 CPU processes), runs killed by SIGTERM/SIGKILL under
`dvc repro` and resumed, and bit-for-bit determinism of the stage's outputs across processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import yaml
from transformers import pipeline

from ja_sentiment import checkpoints
from ja_sentiment.corpus import read_rows
from ja_sentiment.params import TrainParams
from ja_sentiment.tools.standins import build
from tests.conftest import SHARED_PN, copy_project
from tests.test_finetune import NAMES, TEXTS, split_frame, tsv, workdir

pytestmark = pytest.mark.slow  # DVC runs, training or the bench in temporary copies

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LIVE_TSVS = ("train/loss", "dev/loss", "dev/accuracy", "dev/macro_f1")
TIMING_KEYS = ("train_runtime_s", "train_samples_per_second")  # wall-clock: differ between any two runs
# The smoke run's train settings (Makefile SMOKE_SET): the tiny BERT on the real corpus, ~3 s an epoch.
SMOKE_TRAIN = {"epochs": 3, "learning_rate": 5e-4, "batch_size": 32, "max_length": 64}
STEPS_PER_EPOCH = 122  # ceil(3888 corpus train rows / 32)
EPOCHS_DDP = 20  # on the 42 hand-written train texts: 3 steps an epoch for each of 2 processes of 8


def env(**extra: str) -> dict[str, str]:
    """Subprocess environment: this venv first, offline. One intra-op thread: on a shared 2-core machine
    two torch threads per process can be ten times slower than one (the results are the same here)."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "HF_HUB_OFFLINE": "1",
            "DVC_NO_ANALYTICS": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", **extra}


def files(path: Path) -> dict[str, bytes]:
    """Every file of the stage's outputs (models/finetuned, dvclive), by relative path."""
    return {str(f.relative_to(path)): f.read_bytes() for top in ("models/finetuned", "dvclive")
            for f in sorted((path / top).rglob("*")) if f.is_file()}


def steps(path: Path) -> dict[str, list[int]]:
    return {name: tsv(path, name)["step"].tolist() for name in LIVE_TSVS}


def dev_probs(model_dir: Path) -> np.ndarray:
    classify = pipeline("text-classification", model=str(model_dir), device=-1)
    out = classify(split_frame("dev")["text"].tolist(), top_k=None)
    return np.array([[s["score"] for s in sorted(scores, key=lambda s: s["label"])] for scores in out])


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    texts = [t for ts in TEXTS.values() for t in ts]
    return build(texts, tmp_path_factory.mktemp("tiny"), vocab_size=300)["bert"]


@pytest.fixture(scope="module")
def single_runs(tmp_path_factory, tiny_bert) -> list[Path]:
    """Two single-process runs of the stage, each in a fresh interpreter (with its own hash seed)."""
    runs = []
    for hash_seed in ("1", "2"):
        path = workdir(tmp_path_factory.mktemp(f"single{hash_seed}"), tiny_bert)
        proc = subprocess.run([sys.executable, "-m", "stages.finetune"], cwd=path, capture_output=True,
                              text=True, env=env(PYTHONPATH=str(ROOT), PYTHONHASHSEED=hash_seed), timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        runs.append(path)
    return runs


# --- determinism ------------------------------------------------------------------------------


def test_same_params_and_seed_give_identical_outputs(single_runs):
    first, second = (files(p) for p in single_runs)
    assert first.keys() == second.keys()
    assert {"models/finetuned/model.safetensors", "models/finetuned/provenance.json",
            "dvclive/metrics.json", "dvclive/plots/metrics/dev/macro_f1.tsv"} <= first.keys()
    metrics = [json.loads(f["dvclive/metrics.json"]) for f in (first, second)]
    provenance = [json.loads(f["models/finetuned/provenance.json"]) for f in (first, second)]
    for m, prov in zip(metrics, provenance, strict=True):
        assert all(m.pop(k) > 0 for k in TIMING_KEYS)
        assert m.pop("run_id") == prov.pop("run_id")  # each run its own id, in both of its records
    assert metrics[0] == metrics[1]  # equal, not close: losses, accuracy, macro-F1, best epoch
    assert provenance[0] == provenance[1]
    # Everything else byte for byte: weights, config, tokenizer, every dvclive TSV.
    own = {"dvclive/metrics.json", "models/finetuned/provenance.json"}
    assert [name for name in first if name not in own and first[name] != second[name]] == []
    # ... and so the predictions that `pipeline()` makes with the saved model.
    assert np.array_equal(*(dev_probs(p / "models/finetuned") for p in single_runs))


# --- distributed ------------------------------------------------------------------------------


def test_torchrun_two_cpu_processes_write_each_output_once(tiny_bert, single_runs, tmp_path):
    path = workdir(tmp_path, tiny_bert)
    torchrun = [str(BIN / "torchrun"), "--standalone", "--nproc_per_node=2", "-m", "stages.finetune"]
    proc = subprocess.run(torchrun, cwd=path, capture_output=True, text=True, env=env(PYTHONPATH=str(ROOT)),
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("best epoch") == 1, proc.stdout  # printed by the main process only
    # The same files as a single-process run, none half-deleted by a second writer.
    assert files(path).keys() == files(single_runs[0]).keys()
    assert steps(path) == {name: [1, 2] for name in LIVE_TSVS}  # no row twice (one per process)
    metrics = json.loads((path / "dvclive/metrics.json").read_text())
    provenance = json.loads((path / "models/finetuned/provenance.json").read_text())
    assert metrics["epochs_run"] == 2 and metrics["dev"]["macro_f1"] == provenance["dev_macro_f1"]
    classify = pipeline("text-classification", model=str(path / "models/finetuned"), device=-1)
    assert classify("部屋が綺麗でした。")[0]["label"] in NAMES
    assert not (path / checkpoints.CHECKPOINTS).exists() and not (path / checkpoints.trash_dir()).exists()


def running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE  # an orphan's zombie may never be reaped here
    except psutil.NoSuchProcess:
        return False


def test_torchrun_killed_stops_its_workers_and_resumes(tiny_bert, tmp_path):
    path = workdir(tmp_path, tiny_bert, epochs=EPOCHS_DDP)
    torchrun = [str(BIN / "torchrun"), "--standalone", "--nproc_per_node=2", "-m", "stages.finetune"]
    log = tmp_path / "killed.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(torchrun, cwd=path, stdout=out, stderr=subprocess.STDOUT,
                                env=env(PYTHONPATH=str(ROOT)), start_new_session=True)
        deadline = time.monotonic() + 240
        while checkpoints.last_checkpoint(path / checkpoints.CHECKPOINTS) is None:
            assert proc.poll() is None, f"finished before it could be killed:\n{log.read_text()}"
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True)
                   if "stages.finetune" in " ".join(p.cmdline())]
        assert len(workers) == 2
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun's group: its workers run in sessions of their own
        proc.wait(timeout=60)
    deadline = time.monotonic() + 15
    while any(running(w) for w in workers):  # stopped by their watchdog, not left training and writing
        assert time.monotonic() < deadline, "torchrun's workers outlived it"
        time.sleep(0.1)
    last = checkpoints.last_checkpoint(path / checkpoints.CHECKPOINTS)
    done = len(tsv(path, "dev/macro_f1"))
    assert 1 <= done < EPOCHS_DDP and not (path / "models/finetuned").exists()

    workdir(path, tiny_bert, epochs=EPOCHS_DDP, resume=True)
    proc = subprocess.run(torchrun, cwd=path, capture_output=True, text=True, env=env(PYTHONPATH=str(ROOT)),
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(f"resuming from {checkpoints.CHECKPOINTS / last.name}") == 1, proc.stdout
    evaluated = (proc.stdout + proc.stderr).count("'eval_dev_loss'")
    assert evaluated == EPOCHS_DDP - int(last.name.split("-")[1]) // 3
    assert steps(path) == {name: list(range(1, EPOCHS_DDP + 1)) for name in LIVE_TSVS}
    assert (path / "models/finetuned/model.safetensors").is_file()
    assert not (path / checkpoints.CHECKPOINTS).exists()


# --- checkpoints left by killed runs ----------------------------------------------------------


class OneProcess:
    """Stands for accelerate's PartialState outside torchrun."""

    is_main_process = True

    def wait_for_everyone(self) -> None:
        pass


def fake_checkpoint(folder: Path, step: int, state: str | bool = True, skip: str = "") -> Path:
    """checkpoint-`step` with stand-in files; `state`: trainer_state.json's text, True: valid, False: none."""
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "optimizer.pt", "scheduler.pt"):
        if name != skip:
            (path / name).write_bytes(b"x")
    if state is not False:
        text = json.dumps({"global_step": step}) if state is True else state
        (path / "trainer_state.json").write_text(text)
    return path


def test_resume_skips_and_removes_checkpoints_a_kill_left_incomplete(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    train = TrainParams(checkpoint="unused", revision="main", resume=True)
    folder = checkpoints.CHECKPOINTS
    fake_checkpoint(folder, 6, skip="config.json")  # rotation killed mid-delete
    good = fake_checkpoint(folder, 12)
    fake_checkpoint(folder, 18, state='{"global_step": 1')  # killed while writing trainer_state.json
    fake_checkpoint(folder, 24, state=False)  # killed before trainer_state.json
    fake_checkpoint(folder, 30, skip="optimizer.pt")  # the end-of-run clean-up killed mid-delete
    fake_checkpoint(folder, 36, state=json.dumps({"global_step": 35}))
    run = {**train.model_dump(exclude={"resume", "report_to"}), "label_names": list(NAMES)}
    (folder / checkpoints.RUN_PARAMS).write_text(json.dumps(run))
    assert checkpoints.last_checkpoint(folder) == good
    assert checkpoints.prepare_checkpoints(train, NAMES, OneProcess()) == str(good)
    assert [p.name for p in checkpoints.checkpoint_dirs(folder)] == ["checkpoint-12"]
    out = capsys.readouterr().out
    assert f"resuming from {good}" in out and out.count("removing incomplete checkpoint") == 5
    # Nothing complete: a fresh start, the dir emptied (an interrupted clean-up's leftovers too).
    shutil.rmtree(good)
    fake_checkpoint(folder, 18, state="")
    checkpoints.trash_dir().mkdir()
    assert checkpoints.prepare_checkpoints(train, NAMES, OneProcess()) is None
    assert sorted(p.name for p in folder.iterdir()) == [checkpoints.RUN_PARAMS]
    assert not checkpoints.trash_dir().exists()


# --- `dvc repro` killed mid-run, then resumed ---------------------------------------------------


def set_params(repo: Path, **sections: dict) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    for section, values in sections.items():
        params[section].update(values)
    path.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")


def dvc(repo: Path, *args: str) -> str:
    proc = subprocess.run(["dvc", *args], cwd=repo, capture_output=True, text=True, env=env(), timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def prepared_repo(tmp_path_factory) -> Path:
    """A git copy of the project, offline (local corpus, tiny BERT), with fetch and preprocess done."""
    if not SHARED_PN.is_file():
        print(f"skipped: the local corpus copy {SHARED_PN} is absent")
        pytest.skip(f"the local corpus copy {SHARED_PN} is absent")
    tmp = tmp_path_factory.mktemp("killed")
    rows = read_rows(SHARED_PN)
    bert = build(rows.loc[rows["usage"] == "train", "text"].tolist(), tmp / "tiny")["bert"]  # `make smoke`'s
    repo = copy_project(tmp / "project")
    set_params(repo, data={"url": str(SHARED_PN)}, train={"checkpoint": str(bert), **SMOKE_TRAIN})
    dvc(repo, "repro", "fetch", "preprocess")
    return repo


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_dvc_repro_killed_after_an_epoch_resumes_from_its_checkpoint(prepared_repo, tmp_path, sig):
    repo = tmp_path / "project"
    shutil.copytree(prepared_repo, repo, symlinks=True)
    folder = repo / checkpoints.CHECKPOINTS
    log = tmp_path / "killed.log"
    with open(log, "w") as out:  # its own session: the kill reaches dvc and the stage it runs
        proc = subprocess.Popen(["dvc", "repro", "finetune"], cwd=repo, stdout=out, stderr=subprocess.STDOUT,
                                env=env(), start_new_session=True)
        deadline = time.monotonic() + 240
        while checkpoints.last_checkpoint(folder) is None:
            assert proc.poll() is None, f"finished before it could be killed:\n{log.read_text()}"
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        os.killpg(proc.pid, sig)
        proc.wait(timeout=60)  # reaped: DVC treats a lock entry of a zombie pid as alive
    last = checkpoints.last_checkpoint(folder)
    done = int(last.name.split("-")[1]) // STEPS_PER_EPOCH
    assert 1 <= done < SMOKE_TRAIN["epochs"], f"killed too late: {last}"
    killed_rows = {name: tsv(repo, name) for name in LIVE_TSVS}  # one more if killed between eval and save
    assert all(frame["step"].tolist() in (list(range(1, done + 1)), list(range(1, done + 2)))
               for frame in killed_rows.values())
    # Neither signal lets DVC release its rwlock: the entries of the dead dvc process stay behind. The
    # next DVC command finds that pid gone, warns, and drops them (dvc/rwlock.py, _check_blockers).
    stale = json.loads((repo / ".dvc/tmp/rwlock").read_text())
    assert {info["pid"] for info in stale["write"].values()} == {proc.pid}
    if sig == signal.SIGKILL:  # as a kill in the middle of the next epoch's save would leave it
        debris = folder / f"checkpoint-{int(last.name.split('-')[1]) + 1}"
        shutil.copytree(last, debris)
        (debris / "trainer_state.json").unlink()

    set_params(repo, train={"resume": True})
    output = dvc(repo, "repro", "finetune")
    assert f"resuming from {checkpoints.CHECKPOINTS / last.name}" in output, output
    print(f"{sig.name}, DVC on the stale lock: {[s for s in output.splitlines() if 'RWLock' in s]}")
    if sig == signal.SIGKILL:
        assert f"removing incomplete checkpoint {checkpoints.CHECKPOINTS / debris.name}" in output, output
    # Continued, not started over: only the remaining epochs were trained and evaluated.
    assert output.count("'eval_dev_loss'") == SMOKE_TRAIN["epochs"] - done, output
    epochs = list(range(1, SMOKE_TRAIN["epochs"] + 1))
    assert steps(repo) == {name: epochs for name in LIVE_TSVS}  # one row per epoch, none twice
    for name, frame in killed_rows.items():  # the epochs before the kill, replayed from the checkpoint
        assert tsv(repo, name).iloc[:done].equals(frame.iloc[:done]), name
    metrics = json.loads((repo / "dvclive/metrics.json").read_text())
    assert metrics["epochs_run"] == SMOKE_TRAIN["epochs"]
    classify = pipeline("text-classification", model=str(repo / "models/finetuned"), device=-1)
    assert classify("部屋が綺麗でした。")[0]["label"] in NAMES
    assert not folder.exists()
    assert "Data and pipelines are up to date" in dvc(repo, "status", "finetune")
