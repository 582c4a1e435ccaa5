"""The study on several machines: each experiment a Ray task, shared back through Git and DVC.

    make study STUDY=studies/overfitting.yaml SEEDS="1 2 3" ENGINE=ray   (RAY_ADDRESS=... for a cluster)

Ray places the tasks (one GPU each where the cluster has GPUs, `cpus_per_task` CPUs otherwise) and
retries a task whose process dies (`max_retries`). DVC does the rest with its own experiment
sharing: each task clones the study's baseline commit from the Git remote into a temporary folder
on its node, pulls the data the experiment needs from the DVC remote (what is not there, the stage
runs again: the cheap data stages), runs `dvc exp run -n <name> -S ... evaluate`, and pushes the
experiment with `dvc exp push` (its Git ref to the Git remote, its outputs to the DVC remote). The
driver pulls them back with `dvc exp pull` into `dvc exp show`, and the study is aggregated exactly
as a local one. An experiment already on the Git remote is never run again.

What must be shared: the baseline commit on the Git remote (the driver checks it, and that the
workspace has no uncommitted changes a fresh clone would not see), a DVC remote every node can reach
(the driver pushes its outputs there first), and the models: hub access on every node, or a filled
Hugging Face cache (HF_HOME, HF_HUB_OFFLINE are passed on to the tasks).

Ray is an optional extra: `pip install '.[ray]'`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

from ja_sentiment.identity import TARGET
from ja_sentiment.study import StudyError
from ja_sentiment.tools.dvc_cli import exp_refs, git, run_dvc, set_args

# Passed on from the driver to every task: where the models come from, and a fixed thread count
# (Ray sets OMP_NUM_THREADS from each task's CPUs; the same value everywhere gives the same numbers).
PASSED_ENV = ("HF_HOME", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_TOKEN", "TOKENIZERS_PARALLELISM",
              "STUDY_PID_DIR", "DVC_NO_ANALYTICS")
MAX_RETRIES = 3


def import_ray():
    try:
        import ray
    except ImportError:
        raise StudyError("study: ENGINE=ray needs Ray, an optional extra: pip install '.[ray]' "
                         "(or: pip install 'ray>=2.40,<3')") from None
    return ray


def dvc(*args: str) -> str:
    return run_dvc("study", *args)


def shareable(git_remote: str, dvc_remote: str | None) -> dict:
    """What the tasks need to find the study's baseline: the Git remote's URL, the commit, the DVC
    remote's name and URL. Stops when a fresh clone would not see the workspace as it is."""
    changed = git("status", "--porcelain", "--untracked-files=no").strip()
    if changed:
        raise StudyError("study: ENGINE=ray runs the experiments in fresh clones of the last commit, and "
                         f"the workspace has uncommitted changes they would not see:\n{changed}\n"
                         "Commit (and push) them, or stash them.")
    commit = git("rev-parse", "HEAD").strip()
    url = git("remote", "get-url", git_remote, check=False).strip()
    if not url:
        raise StudyError(f"study: no Git remote named {git_remote!r} (git remote add {git_remote} <url>)")
    git("fetch", "-q", git_remote)
    if not git("branch", "-r", "--contains", commit, check=False).strip():
        raise StudyError(f"study: the baseline commit {commit[:12]} is not on the Git remote {git_remote!r}: "
                         f"a fresh clone there would not have it. Push it first (git push {git_remote}).")
    name = dvc_remote or dvc("config", "core.remote").strip()
    if not name:
        raise StudyError("study: ENGINE=ray needs a DVC remote every node can reach: name one "
                         "(--dvc-remote / DVC_REMOTE=) or set a default (dvc remote add -d <name> <url>)")
    remote_url = dvc("remote", "list").split()
    urls = dict(zip(remote_url[::2], remote_url[1::2], strict=False))
    if name not in urls:
        raise StudyError(f"study: no DVC remote named {name!r}; known: {sorted(urls)}")
    return {"git_url": url, "commit": commit, "dvc_remote": name, "dvc_url": urls[name]}


def pushed(git_url: str) -> set[str]:
    """Names of the experiments on the Git remote (refs/exps/<baseline>/<name>)."""
    return {ref.name for ref in exp_refs(remote=git_url)}


def _die_with_parent() -> None:
    """In a task's child process: be killed when the task's process dies, so that a killed task
    leaves no experiment running on as an orphan (Linux: PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


def run_on_node(share: dict, exp: dict, env_vars: dict[str, str]) -> dict:
    """One experiment in a fresh clone on this node: pull, run, push. Runs as a Ray task."""
    name = exp["name"]
    if name in pushed(share["git_url"]):  # a retry after the push, or another driver's run
        return {"name": name, "ran": False}
    pid_dir = env_vars.get("STUDY_PID_DIR")
    if pid_dir:  # lets a test (or a user) find and kill the process running this experiment
        Path(pid_dir).mkdir(parents=True, exist_ok=True)
        Path(pid_dir, f"{name}.{os.getpid()}.pid").write_text(str(os.getpid()))
    env = {**os.environ, **env_vars, "DVC_NO_ANALYTICS": "1"}

    def sh(*cmd: str, cwd: str, check: bool = True) -> None:
        proc = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True,
                              preexec_fn=_die_with_parent)
        if check and proc.returncode:
            raise RuntimeError(f"{name}: `{' '.join(cmd)}` failed:\n{proc.stdout[-2000:]}\n"
                               f"{proc.stderr[-2000:]}")

    with tempfile.TemporaryDirectory(prefix=f"study-{name}-") as work:
        sh("git", "clone", "-q", share["git_url"], work, cwd=tempfile.gettempdir())
        sh("git", "checkout", "-q", share["commit"], cwd=work)
        sh("dvc", "remote", "add", "--local", "-f", share["dvc_remote"], share["dvc_url"], cwd=work)
        sh("dvc", "pull", "-q", "-r", share["dvc_remote"], "--allow-missing", cwd=work, check=False)
        sh("dvc", "exp", "run", "-n", name, *set_args(exp["set"]), TARGET, cwd=work)
        sh("dvc", "exp", "push", "-r", share["dvc_remote"], "origin", name, cwd=work)
    return {"name": name, "ran": True, "pid": os.getpid()}


class RayRunner:
    """Runs a study's experiments as Ray tasks and brings them back with `dvc exp pull`: an experiment
    already on the Git remote is pulled, not run again. The same `run(todo, waiting) -> failures` as
    the local queue's runner (study_queue.py); `waiting` is the local queue's and stays empty here."""

    def __init__(self, git_remote: str = "origin", dvc_remote: str | None = None, address: str | None = None,
                 cpus_per_task: float = 1, omp_threads: int = 1) -> None:
        self.ray = import_ray()
        self.git_remote = git_remote
        self.share = shareable(git_remote, dvc_remote)
        self.address = address or os.environ.get("RAY_ADDRESS")
        self.cpus_per_task = cpus_per_task
        self.env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        self.env["OMP_NUM_THREADS"] = str(omp_threads)
        self.futures: dict = {}

    def done(self) -> set[str]:
        """Experiments already on the Git remote: pulled, never run again."""
        return pushed(self.share["git_url"])

    def submit(self, todo: list[dict]) -> None:
        ray = self.ray
        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=False,
                     **({} if self.address else {"num_cpus": os.cpu_count()}))
        dvc("push", "-q", "-r", self.share["dvc_remote"])  # what the tasks will pull (only what is missing)
        gpus = ray.cluster_resources().get("GPU", 0)
        task = ray.remote(run_on_node).options(num_gpus=1 if gpus else 0, num_cpus=self.cpus_per_task,
                                               max_retries=MAX_RETRIES, retry_exceptions=False)
        self.futures = {task.remote(self.share, exp, self.env): exp["name"] for exp in todo}

    def run(self, todo: list[dict], waiting: dict[str, str]) -> dict[str, str]:
        remote = self.done()
        pull = [e["name"] for e in todo if e["name"] in remote]
        to_run = [e for e in todo if e["name"] not in remote]
        print(f"study: {len(pull)} experiments on the Git remote to pull, {len(to_run)} to run on Ray",
              file=sys.stderr)
        if to_run:
            self.submit(to_run)
        return self.wait([e["name"] for e in todo])

    def wait(self, names: list[str]) -> dict[str, str]:
        ray = self.ray
        pending = list(self.futures)
        failed = {}
        with tqdm(total=len(pending), desc="study (ray)", unit="exp", file=sys.stderr) as bar:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    try:
                        ray.get(ref)
                    except Exception as err:  # the task failed for good (retries spent, or an error)
                        last = str(err).strip().splitlines()[-1][:300]
                        failed[self.futures[ref]] = f"failed on Ray: {last}"
                    bar.update(1)
        on_remote = self.done() & set(names)
        if on_remote:
            dvc("exp", "pull", "-f", "-r", self.share["dvc_remote"], self.git_remote, *sorted(on_remote))
        return failed
