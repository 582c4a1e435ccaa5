"""A study on Ray, offline: a local Ray cluster, a bare Git remote and a DVC remote in a temporary
directory, the tiny stand-ins of the end-to-end repository. Its experiments come back into
`dvc exp show` through DVC's experiment sharing with the same numbers as the local run's, and a task
whose process is killed is retried. (`.ci/run` installs the Ray extra: these run in CI.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from tests.e2e_support import BIN, HF_ENV, git_commit, run

pytestmark = pytest.mark.slow
pytest.importorskip("ray", reason="the Ray extra is not installed: pip install '.[ray]'")

SCORES = ("accuracy", "macro_f1")
# Every Ray process bound to 127.0.0.1: Ray turns a loopback --node-ip-address into the machine's
# routable address unless it runs in its single-machine mode (this variable, for `ray start` and for
# the study's driver alike).
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def shown(repo: Path) -> dict[str, dict]:
    """Every named experiment's test scores and plain cross-entropies (any baseline commit), by its name
    without the identity (`t-baseline-s1-<identity[:8]>`: `t-baseline-s1`)."""
    out = {}
    for commit in json.loads(run(repo, "dvc", "exp", "show", "--json", "--all-commits").stdout):
        for group in commit.get("experiments") or []:
            for rev in group["revs"]:
                metrics = (rev.get("data") or {}).get("metrics") or {}
                if rev.get("name") and "metrics/evaluate.json" in metrics:
                    test = metrics["metrics/evaluate.json"]["data"]["finetuned"]["test"]
                    live = metrics["dvclive/metrics.json"]["data"]
                    out[re.sub(r"-[0-9a-f]{8}$", "", rev["name"])] = {
                        **{k: test[k] for k in SCORES}, "dev_ce": live["dev"]["ce"],
                        "train_ce": live["train"]["ce"], "name": rev["name"]}
    return out


def study(repo: Path, name: str, *args: str, **popen) -> subprocess.CompletedProcess | subprocess.Popen:
    (repo / "build").mkdir(exist_ok=True)
    (repo / f"build/{name}.yaml").write_text(yaml.safe_dump({"name": name, "configs": {"baseline": {}}}))
    cmd = [sys.executable, "-m", "ja_sentiment.tools.study", f"build/{name}.yaml", "--seeds", "1", "2",
           "--out", f"build/{name}", *args]
    if popen:
        env = {**os.environ, **HF_ENV, "PATH": BIN + os.pathsep + os.environ["PATH"], **LOOPBACK,
               **popen.pop("env")}
        env.pop("RAY_ADDRESS", None)  # a local Ray cluster, started by the tool
        return subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    return run(repo, *cmd, check=False, env=LOOPBACK)


def test_a_study_on_ray_comes_back_through_dvc_with_the_local_numbers(e2e_repo, tmp_path):
    repo = e2e_repo
    if run(repo, "git", "status", "--porcelain", "--untracked-files=no").stdout.strip():
        git_commit(repo, "baseline run")  # run alone, not after tests/test_e2e.py
    local = shown(repo)
    if not {"t-baseline-s1", "t-baseline-s2"} <= set(local):  # the local run (test_e2e's study)
        assert study(repo, "t", "--jobs", "2").returncode == 0
        local = shown(repo)
    # Ray runs an experiment only where none with the same identity exists here: the local ones go.
    run(repo, "dvc", "exp", "remove", *(local[f"t-baseline-s{s}"]["name"] for s in (1, 2)))
    # The shared places: a bare Git remote holding the baseline commit, a DVC remote.
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    run(repo, "git", "remote", "add", "origin", str(remote))
    run(repo, "dvc", "remote", "add", "--local", "-f", "store", str(tmp_path / "dvc-store"))

    not_pushed = study(repo, "rt", "--engine", "ray", "--dvc-remote", "store")
    assert not_pushed.returncode != 0 and "is not on the Git remote 'origin'" in not_pushed.stderr
    run(repo, "git", "push", "-q", "origin", "HEAD:refs/heads/main")
    params = repo / "params.yaml"
    original = params.read_text()
    params.write_text(original + "\n# an uncommitted change\n")
    try:
        dirty = study(repo, "rt", "--engine", "ray", "--dvc-remote", "store")
    finally:
        params.write_text(original)
    assert dirty.returncode != 0 and "uncommitted changes" in dirty.stderr and "params.yaml" in dirty.stderr

    # The documented recipe: a cluster started with `ray start --head` on this machine (every process
    # bound to 127.0.0.1), then the study with no RAY_ADDRESS: it joins that cluster (before: Ray
    # refused the num_cpus the tool passed). Two DVC remotes, the default not the one used, the one used
    # with a setting of its own that must reach the tasks' clones.
    run(repo, "dvc", "remote", "add", "--local", "-f", "-d", "other", str(tmp_path / "other-store"))
    run(repo, "dvc", "remote", "modify", "--local", "store", "jobs", "3")
    # Ray's sockets live under its temp dir, and a Unix socket's path has at most 107 bytes: a short one.
    ray_dir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    ray_env = {**os.environ, **LOOPBACK}
    ray_env.pop("RAY_ADDRESS", None)
    head = subprocess.run([str(Path(BIN) / "ray"), "start", "--head", "--node-ip-address=127.0.0.1",
                           f"--port={free_port()}", "--num-cpus=2", "--include-dashboard=false",
                           f"--temp-dir={ray_dir}", "--disable-usage-stats"], capture_output=True, text=True,
                          env=ray_env)
    assert head.returncode == 0, head.stdout + head.stderr
    assert "Local node IP: 127.0.0.1" in head.stdout + head.stderr, head.stdout + head.stderr
    try:
        ran_on_cluster(repo, tmp_path, local)
    finally:
        subprocess.run([str(Path(BIN) / "ray"), "stop", "--force"], capture_output=True, env=ray_env)
        shutil.rmtree(ray_dir, ignore_errors=True)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def experiment_processes(name: str) -> list[int]:
    """Processes still working in a task's clone of this experiment (its temporary `study-<name>-*`)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if f"/study-{name}-" in cwd:
            found.append(int(pid))
    return found


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def ran_on_cluster(repo: Path, tmp_path: Path, local: dict) -> None:
    pids = tmp_path / "pids"
    # The first task to push its outputs dies before pushing its Git ref (a fault injected once):
    # its retry runs the experiment again, and only a complete experiment is counted.
    proc = study(repo, "rt", "--engine", "ray", "--dvc-remote", "store", "--omp-threads", "1",
                 env={"STUDY_PID_DIR": str(pids), "STUDY_FAULT": "after_outputs"})
    deadline = time.monotonic() + 600
    victim = None  # a task whose experiment is running a stage (the tiny ones are quick: look often)
    while victim is None:
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline
        for record in sorted(pids.glob("*.pid")) if pids.is_dir() else []:
            name, pid = record.name.split(".")[0], int(record.read_text())
            running = any(b"stages." in cmdline(p) for p in experiment_processes(name))
            if Path(f"/proc/{pid}").exists() and running:
                victim = name, pid
                break
        time.sleep(0.1)
    killed, pid = victim
    os.kill(pid, signal.SIGKILL)  # the task's process dies mid-experiment
    deadline = time.monotonic() + 30  # and everything it started goes with it (the stages included)
    while experiment_processes(killed) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert experiment_processes(killed) == []
    out, _ = proc.communicate(timeout=1500)
    assert proc.returncode == 0, out[-4000:]
    attempts = [p for p in pids.iterdir() if p.name.startswith(killed + ".") and p.suffix == ".pid"]
    assert len(attempts) >= 2, (killed, sorted(p.name for p in pids.iterdir()))  # retried by Ray
    assert list(pids.glob("*.faulted")), sorted(p.name for p in pids.iterdir())  # the fault happened

    after = shown(repo)  # pulled back by `dvc exp pull` into the driver's `dvc exp show`
    for seed in (1, 2):
        numbers = {k: v for k, v in after[f"rt-baseline-s{seed}"].items() if k != "name"}
        assert numbers == {k: v for k, v in local[f"t-baseline-s{seed}"].items() if k != "name"}, seed
        # The same identity: the same name but for the study's.
        assert after[f"rt-baseline-s{seed}"]["name"][3:] == local[f"t-baseline-s{seed}"]["name"][2:]
    result = json.loads((repo / "build/rt/study.json").read_text())
    for key in SCORES:
        expected = [local[f"t-baseline-s{s}"][key] for s in (1, 2)]
        assert result["configs"]["baseline"][key]["values"] == expected
    assert result["left_out"] == []
    # The driver pulled the experiments' refs only: their models are not in its DVC cache.
    rev = result["provenance"][after["rt-baseline-s1"]["name"]]["rev"]
    outs = yaml.safe_load(run(repo, "git", "show", f"{rev}:dvc.lock").stdout)["stages"]["finetune"]["outs"]
    model = next(o for o in outs if o["path"] == "models/finetuned")
    digest = model["md5"].removesuffix(".dir")
    assert not (repo / ".dvc/cache/files/md5" / digest[:2] / f"{digest[2:]}.dir").exists()
    # A new baseline commit that changes a stage's params: its experiments get new names (their identity)
    # and are to run; the ones on the Git remote do not count for it.
    params_file = repo / "params.yaml"
    before = params_file.read_text()
    params_file.write_text(before.replace("warmup: 0.1", "warmup: 0.2", 1))
    git_commit(repo, "another warm-up")
    try:
        dry = study(repo, "rt", "--engine", "ray", "--dvc-remote", "store", "--dry-run")
        assert dry.returncode == 0 and "to run: 2, queued or running: 0, done: 0" in dry.stdout, dry.stdout
        planned = re.findall(r"(rt-baseline-s\d-[0-9a-f]{8}): to run", dry.stdout)
        assert len(planned) == 2 and not set(planned) & {after[f"rt-baseline-s{s}"]["name"] for s in (1, 2)}
    finally:
        run(repo, "git", "reset", "-q", "--hard", "HEAD~1")
    # Run again: everything is there, nothing runs.
    again = study(repo, "rt", "--engine", "ray", "--dvc-remote", "store")
    assert again.returncode == 0
    assert "study rt: 2 experiments done, 0 to run, 0 queued or running to wait for" in again.stderr
