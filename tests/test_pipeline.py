"""`dvc repro` in a temporary git copy of the project, offline (data.url -> the local corpus copy)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import copy_project

pytestmark = pytest.mark.slow  # DVC runs, training or the bench in temporary copies

BIN = str(Path(sys.executable).parent)


def dvc(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"]}
    proc = subprocess.run(["dvc", *args], cwd=repo, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def set_params(repo: Path, **sections: dict) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for section, values in sections.items():
        params[section].update(values)
    path.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False))


@pytest.fixture
def repo(tmp_path, shared_pn) -> Path:
    repo = copy_project(tmp_path / "project")
    set_params(repo, data={"url": str(shared_pn)})
    return repo


def test_fetch_and_preprocess(repo):
    dvc(repo, "repro", "fetch", "preprocess")
    sizes = {s: len(pd.read_csv(repo / f"data/processed/{s}.tsv", sep="\t"))
             for s in ("train", "dev", "test")}
    assert sizes == {"train": 3888, "dev": 1112, "test": 553}
    summary = json.loads((repo / "metrics/data.json").read_text())
    expected = {"train": (2379, 929, 580), "dev": (691, 261, 160), "test": (336, 139, 78)}
    for split, (pos, neu, neg) in expected.items():
        counts = summary[split]
        assert (counts["positive"], counts["neutral"], counts["negative"]) == (pos, neu, neg)
    assert sum(summary[s]["unanimous"] for s in expected) == 4186
    for png in ("class_balance.png", "text_length.png"):
        assert (repo / "plots/data" / png).stat().st_size > 1000
    shown = json.loads(dvc(repo, "metrics", "show", "--json").stdout)
    assert shown[""]["data"]["metrics/data.json"]["data"]["train"]["rows"] == 3888
    # Nothing changed: a second run executes no stage.
    again = dvc(repo, "repro", "fetch", "preprocess").stdout
    assert "Running stage" not in again, again


def test_make_report_against_base(repo):
    dvc(repo, "repro", "fetch", "preprocess")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "base run"], cwd=repo, check=True)
    set_params(repo, preprocess={"split": "stratified"})
    dvc(repo, "repro", "preprocess")
    venv = Path(sys.executable).parent.parent
    proc = subprocess.run(["make", "report", "BASE=HEAD", f"VENV={venv}"], cwd=repo, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = (repo / "build/report/report.md").read_text()
    assert "| params.yaml | preprocess.split | corpus | stratified" in report
    assert "| metrics/data.json | train.rows        | 3888   | 3886" in report
    images = sorted(p.name for p in (repo / "build/report/images").iterdir())
    assert "HEAD_plots_data_class_balance.png" in images
    assert "workspace_plots_data_class_balance.png" in images
    assert "](images/workspace_plots_data_class_balance.png)" in report
    assert (repo / "build/report/plots/index.html").is_file()


def test_make_smoke_env_writes_the_smoke_runs_environment_to_source(tmp_path):
    """`make smoke` leaves build/smoke.env; sourcing it gives a new shell the stand-ins' cache, offline."""
    repo = copy_project(tmp_path / "project")
    proc = subprocess.run(["make", "smoke-env", "TINY=build/tiny"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shell = subprocess.run(["bash", "-c", ". build/smoke.env && echo \"$HF_HOME|$HF_HUB_OFFLINE\""], cwd=repo,
                           capture_output=True, text=True, env={"PATH": os.environ["PATH"]}, check=True)
    assert shell.stdout.strip() == f"{(repo / 'build/tiny/hf').resolve()}|1"
    # `make smoke` writes it first, and says how to go on.
    dry = subprocess.run(["make", "-n", "smoke", "VENV=/nonexistent"], cwd=repo, capture_output=True,
                         text=True)
    assert "build/smoke.env" in dry.stdout and "make exp SET=" in dry.stdout


def test_make_setup_never_reinstalls_a_venv_outside_the_checkout(tmp_path):
    """A second clone run with another checkout's VENV uses it as it is: re-installing it from here would
    re-point its editable install at this clone. Inside the checkout, setup installs as before."""
    repo = copy_project(tmp_path / "project")
    other = tmp_path / "other-venv"
    (other / "bin").mkdir(parents=True)
    installed = other / "bin/.installed"
    installed.touch()
    os.utime(installed, (1_000_000, 1_000_000))  # older than this clone's requirements files
    dry = subprocess.run(["make", "-n", "setup", f"VENV={other}"], cwd=repo, capture_output=True, text=True)
    assert dry.returncode == 0 and "pip install" not in dry.stdout, dry.stdout + dry.stderr
    inside = subprocess.run(["make", "-n", "setup"], cwd=repo, capture_output=True, text=True)
    assert "pip install -q --no-deps -e ." in inside.stdout  # the checkout's own .venv: installed here
    installed.unlink()
    missing = subprocess.run(["make", "setup", f"VENV={other}"], cwd=repo, capture_output=True, text=True)
    assert missing.returncode != 0
    assert "outside this checkout and not set up" in missing.stdout
    refused = subprocess.run(["make", "clean-venv", f"VENV={other}"], cwd=repo, capture_output=True,
                             text=True)
    assert refused.returncode != 0 and "not deleted" in refused.stdout
    assert other.is_dir()
