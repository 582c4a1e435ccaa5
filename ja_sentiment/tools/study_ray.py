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
# (Ray sets OMP_NUM_THREADS from each task's CPUs; the same value everywhere gives the same numbers);
# STUDY_PID_DIR and STUDY_FAULT are the tests' hooks (where a task records its pid; a fault to inject).
PASSED_ENV = ("HF_HOME", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_TOKEN", "TOKENIZERS_PARALLELISM",
              "STUDY_PID_DIR", "STUDY_FAULT", "DVC_NO_ANALYTICS")
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
    # The chosen remote only: the same commit on another remote is of no use to the tasks' clones.
    if not git("branch", "-r", "--contains", commit, "--list", f"{git_remote}/*", check=False).strip():
        raise StudyError(f"study: the baseline commit {commit[:12]} is not on the Git remote {git_remote!r}: "
                         f"a fresh clone there would not have it. Push it first (git push {git_remote}).")
    name = dvc_remote or dvc("config", "core.remote").strip()
    if not name:
        raise StudyError("study: ENGINE=ray needs a DVC remote every node can reach: name one "
                         "(--dvc-remote / DVC_REMOTE=) or set a default (dvc remote add -d <name> <url>)")
    settings = remote_settings(name)
    if "url" not in settings:
        known = sorted({key.split(".")[1] for key in dvc_config() if key.startswith("remote.")})
        raise StudyError(f"study: no DVC remote named {name!r}; known: {known}")
    return {"git_url": url, "commit": commit, "dvc_remote": name, "dvc_settings": settings}


def dvc_config() -> dict[str, str]:
    """Every setting DVC reads here (`dvc config --list`: the repository's, the local and the global
    configuration merged), as KEY=VALUE lines."""
    out = {}
    for line in dvc("config", "--list").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def remote_settings(name: str) -> dict[str, str]:
    """A DVC remote's settings (url, endpointurl, region, ...), read with `dvc config`, to be set in
    each task's clone as they are here (several remotes and their options survive)."""
    prefix = f"remote.{name}."
    return {key[len(prefix):]: value for key, value in dvc_config().items() if key.startswith(prefix)}


def pushed(git_url: str) -> set[str]:
    """Names of the experiments on the Git remote (refs/exps/<baseline>/<name>)."""
    return {ref.name for ref in exp_refs(remote=git_url)}


WATCHDOG = """
import os, signal, sys, time
task, group = int(sys.argv[1]), int(sys.argv[2])
while True:
    try:
        os.kill(group, 0)  # the experiment's process group leader still there?
    except ProcessLookupError:
        sys.exit(0)
    try:
        os.kill(task, 0)
    except ProcessLookupError:  # the task died (killed, its node lost): its experiment goes too
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
        sys.exit(0)
    time.sleep(0.5)
"""


def run_in_group(cmd: list[str], cwd: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`cmd` in a process group of its own, with a watchdog (a process outside the group and outside
    the task) that kills the whole group, the stages DVC starts included, once the task's process is
    gone: a killed task leaves nothing training on."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    watchdog = subprocess.Popen([sys.executable, "-c", WATCHDOG, str(os.getpid()), str(proc.pid)],
                                start_new_session=True, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        out, err = proc.communicate()
    finally:
        watchdog.kill()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def run_on_node(share: dict, exp: dict, env_vars: dict[str, str]) -> dict:
    """One experiment in a fresh clone on this node: pull, run, push its outputs and check that the DVC
    remote has them all, and only then push its Git ref (`dvc exp push --no-cache`): a ref on the Git
    remote means the experiment is complete, and a task killed before that is run again by its
    retry. Runs as a Ray task; a failure raises with the whole log of the commands run."""
    name = exp["name"]
    if name in pushed(share["git_url"]):  # a retry after the push, or another driver's run
        return {"name": name, "ran": False}
    pid_dir = env_vars.get("STUDY_PID_DIR")
    if pid_dir:  # lets a test (or a user) find and kill the process running this experiment
        Path(pid_dir).mkdir(parents=True, exist_ok=True)
        Path(pid_dir, f"{name}.{os.getpid()}.pid").write_text(str(os.getpid()))
    env = {**os.environ, **env_vars, "DVC_NO_ANALYTICS": "1"}
    log: list[str] = []

    def sh(*cmd: str, cwd: str, check: bool = True) -> subprocess.CompletedProcess:
        # dvc as this Python's module: the worker runs the project's environment, whatever the PATH of
        # the process that started the node.
        argv = [sys.executable, "-m", "dvc", *cmd[1:]] if cmd[0] == "dvc" else list(cmd)
        proc = run_in_group(argv, cwd, env)
        log.append(f"$ {' '.join(cmd)}  (exit {proc.returncode})\n{proc.stdout}{proc.stderr}")
        if check and proc.returncode:
            raise RuntimeError(f"{name}: `{' '.join(cmd)}` failed (exit {proc.returncode})\n"
                               + "\n".join(log))
        return proc

    remote = share["dvc_remote"]
    with tempfile.TemporaryDirectory(prefix=f"study-{name}-") as work:
        sh("git", "clone", "-q", share["git_url"], work, cwd=tempfile.gettempdir())
        sh("git", "checkout", "-q", share["commit"], cwd=work)
        sh("dvc", "remote", "add", "--local", "-f", remote, share["dvc_settings"]["url"], cwd=work)
        for key, value in share["dvc_settings"].items():
            if key != "url":
                sh("dvc", "remote", "modify", "--local", remote, key, value, cwd=work)
        sh("dvc", "pull", "-q", "-r", remote, "--allow-missing", cwd=work, check=False)
        sh("dvc", "exp", "run", "-n", name, *set_args(exp["set"]), TARGET, cwd=work)
        sh("dvc", "push", "-q", "-r", remote, cwd=work)  # the experiment's outputs, in its workspace
        missing = sh("dvc", "status", "--cloud", "-r", remote, "--json", cwd=work).stdout.strip()
        if missing not in ("", "{}"):
            raise RuntimeError(f"{name}: the DVC remote {remote!r} lacks outputs after the push: {missing}")
        marker = Path(pid_dir or work, f"{name}.faulted")
        if env_vars.get("STUDY_FAULT") == "after_outputs" and not marker.exists():
            marker.touch()  # a test's fault: the task dies between the outputs' push and the ref's, once
            os.kill(os.getpid(), signal.SIGKILL)
        sh("dvc", "exp", "push", "--no-cache", "origin", name, cwd=work)
    return {"name": name, "ran": True, "pid": os.getpid()}


class RayRunner:
    """Runs a study's experiments as Ray tasks and brings them back with `dvc exp pull`: an experiment
    already on the Git remote is pulled, not run again. The same `run(todo, waiting) -> failures` as
    the local queue's runner (study_queue.py); `waiting` is the local queue's and stays empty here.

    Each task asks for `cpus_per_task` CPUs and `gpus_per_task` GPUs (of `accelerator_type` if given):
    what a task needs, whatever the cluster has when the study starts (an autoscaling cluster adds the
    nodes). The driver pulls the experiments' Git refs only (what the report reads: metrics, per-row
    predictions, curves); `fetch_models` also pulls their outputs (about 440 MB of model each). A failed
    task's whole log is written to `logs` (.dvc/tmp/study-logs/<name>.log)."""

    def __init__(self, git_remote: str = "origin", dvc_remote: str | None = None, address: str | None = None,
                 cpus_per_task: float = 1, omp_threads: int = 1, gpus_per_task: float = 0,
                 accelerator_type: str | None = None, fetch_models: bool = False,
                 logs: Path = Path(".dvc/tmp/study-logs")) -> None:
        self.ray = import_ray()
        self.git_remote = git_remote
        self.share = shareable(git_remote, dvc_remote)
        self.address = address or os.environ.get("RAY_ADDRESS")
        self.cpus_per_task = cpus_per_task
        self.gpus_per_task = gpus_per_task
        self.accelerator_type = accelerator_type
        self.fetch_models = fetch_models
        self.logs = logs
        self.env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        self.env["OMP_NUM_THREADS"] = str(omp_threads)
        self.futures: dict = {}

    def done(self) -> set[str]:
        """Experiments already on the Git remote: complete (their ref is pushed last), pulled, never run
        again. Their names carry their identity: the same name is the same code, params and data."""
        return pushed(self.share["git_url"])

    def connect(self) -> None:
        """Join the cluster: RAY_ADDRESS / --ray-address, else one running on this machine (`ray start
        --head`), else a private local one. Nothing is asked of the cluster's size (Ray refuses
        num_cpus when joining a running cluster). Ray binds to the machine's routable address; with
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 in the environment of `ray start` and of the study, every
        Ray process binds to 127.0.0.1 instead (how the tests run it)."""
        ray = self.ray
        if ray.is_initialized():
            return
        if self.address:
            ray.init(address=self.address, log_to_driver=False)
            return
        try:
            ray.init(address="auto", log_to_driver=False)
        except ConnectionError:  # no cluster running here: a private one for this study
            ray.init(log_to_driver=False, include_dashboard=False)

    def submit(self, todo: list[dict]) -> None:
        ray = self.ray
        self.connect()
        dvc("push", "-q", "-r", self.share["dvc_remote"])  # what the tasks will pull (only what is missing)
        cluster_gpus = ray.cluster_resources().get("GPU", 0)
        if cluster_gpus and not self.gpus_per_task:
            print(f"study: the cluster has {cluster_gpus:g} GPU(s), and the tasks ask for none; "
                  "--gpus-per-task 1 (GPUS_PER_TASK=1) puts each experiment on a GPU", file=sys.stderr)
        options = {"num_gpus": self.gpus_per_task, "num_cpus": self.cpus_per_task,
                   "max_retries": MAX_RETRIES, "retry_exceptions": False}
        if self.accelerator_type:
            options["accelerator_type"] = self.accelerator_type
        task = ray.remote(run_on_node).options(**options)
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
                    name = self.futures[ref]
                    try:
                        ray.get(ref)
                    except Exception as err:  # the task failed for good (retries spent, or an error)
                        self.logs.mkdir(parents=True, exist_ok=True)
                        path = self.logs / f"{name}.log"
                        path.write_text(str(err), encoding="utf-8")
                        lines = [line for line in str(err).splitlines() if line.strip()]
                        last = lines[-1] if lines else type(err).__name__
                        failed[name] = f"failed on Ray: {last[:300]} (whole log: {path})"
                    bar.update(1)
        on_remote = self.done() & set(names)
        if on_remote:
            cache = [] if self.fetch_models else ["--no-cache"]  # the report reads Git-tracked files only
            dvc("exp", "pull", "-f", *cache, "-r", self.share["dvc_remote"], self.git_remote,
                *sorted(on_remote))
        return failed

