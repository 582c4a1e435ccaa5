"""Not a pipeline stage: a Level 4 study — every configuration of a study file over the same seeds,
as DVC experiments, judged against the baseline with both kinds of noise counted.

    python -m ja_sentiment.tools.study studies/overfitting.yaml --seeds 1 2 3     (or: make study ...)
    python -m ja_sentiment.tools.study --set train.epochs=2 --seeds 1 2 3        (or: make seeds ...)

Each (configuration, seed) becomes one experiment `<study>-<config>-s<seed>` queued with
`dvc exp run --queue evaluate -S train.seed=<seed> -S <overrides>`: it runs only the stages the study
reads (up to `evaluate`: curves, metrics and per-row test predictions), in a temporary copy of the
repository (the last commit plus the workspace's uncommitted changes); Level 3 and the reports are
not run (after `dvc exp apply` of one of them, `dvc repro` brings them up to date). The queue's
workers run JOBS experiments at once. The results land in `dvc exp show` and in `<out>/study.md`,
`study.json` and `plots/` (ja_sentiment/study.py, study_stats.py, reports/study.py).

Re-running a study on the same baseline commit skips the experiments that exist with the same params,
reuses those still queued or running, and runs only the missing ones; a crash or Ctrl-C loses at most
the experiments that were running. `--dry-run` prints the plan and an estimated time, `--collect`
aggregates without training, `--only a,b` runs a subset of the configurations (and the baseline).

The runner is replaceable: `LocalQueue` submits and waits through the DVC queue; another runner only
needs the same two methods.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from tqdm import tqdm

from ja_sentiment.data import read_json
from ja_sentiment.params import PARAMS_FILE, load_params
from ja_sentiment.reports.study import markdown, plots
from ja_sentiment.study import (
    METRICS,
    StudyError,
    StudyFile,
    adhoc,
    aggregate,
    expected_params,
    flat,
    load_study,
    plan,
    run_data,
)
from ja_sentiment.tools.dvc_cli import run_dvc

METRICS_FILE = "metrics/evaluate.json"
LIVE_METRICS = "dvclive/metrics.json"
TARGET = "evaluate"  # the last stage a study's experiment runs
FINISHED = ("Success", "Failed")


def dvc(*args: str) -> str:
    return run_dvc("study", *args)


def queue_status(attempts: int = 5, pause_s: float = 2.0) -> str:
    """`dvc queue status`, read again when it fails: while workers start and finish experiments, DVC
    can read one of its own state files half-written ("Expecting value: line 1 column 1") and fail
    once. Only a failure that persists over `attempts` reads stops the run."""
    for _ in range(attempts - 1):
        try:
            return dvc("queue", "status")
        except SystemExit:
            time.sleep(pause_s)
    return dvc("queue", "status")


def statuses(names: list[str]) -> dict[str, str]:
    """The queue's status word (Queued, Running, Success, Failed) of each of `names` it lists."""
    out = {}
    wanted = set(names)
    for line in queue_status().splitlines():
        words = line.split()
        for word in words:
            if word in wanted:
                out[word] = words[-1]
    return out


def worker_env(jobs: int, cpus: int | None = None) -> dict[str, str]:
    """The environment the queue's workers (and the stages they run) inherit: with several jobs at
    once, each gets its share of the CPU cores as torch/OpenMP threads (OMP_NUM_THREADS), instead of
    every job starting one thread per core and all of them fighting over the cores. A value the user
    set is kept."""
    env = dict(os.environ)
    if jobs > 1 and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (cpus or os.cpu_count() or 1) // jobs))
    return env


def experiments(all_commits: bool = False) -> dict[str, dict]:
    """Every named experiment of `dvc exp show --json` (based on HEAD, or on any commit) that has test
    metrics: its commit, flat params, the fine-tuned model's test scores, kept epoch and provenance."""
    found = {}
    for commit in json.loads(dvc("exp", "show", "--json", *(["--all-commits"] if all_commits else []))):
        for group in commit.get("experiments") or []:
            for rev in group.get("revs", []):
                data = rev.get("data") or {}
                metrics = data.get("metrics") or {}
                evaluate = (metrics.get(METRICS_FILE) or {}).get("data")
                if not rev.get("name") or not evaluate:
                    continue
                live = (metrics.get(LIVE_METRICS) or {}).get("data") or {}
                found[rev["name"]] = {
                    "name": rev["name"], "rev": rev.get("rev"), "baseline": commit.get("rev"),
                    "params": flat(data.get("params", {}).get("params.yaml", {}).get("data", {})),
                    "test": evaluate["finetuned"]["test"], "best_epoch": live.get("best_epoch"),
                    "standin": evaluate.get("standin"),
                    "cuda_visible_devices": live.get("cuda_visible_devices")}
    return found


def git_read(rev: str, path: str) -> str | None:
    proc = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else None


def gpu_count() -> int:
    """GPUs on this machine, as `nvidia-smi -L` lists them (0 without the tool or a GPU)."""
    try:
        proc = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in proc.stdout.splitlines()) if proc.returncode == 0 else 0


def worker_devices(jobs: int, gpus: int, jobs_per_gpu: int = 1) -> list[str | None]:
    """The CUDA_VISIBLE_DEVICES of each queue worker: with GPUs, worker i on GPU i // jobs_per_gpu;
    without, None (the workers share the CPU cores). More jobs than the GPUs can take is an error."""
    if gpus == 0:
        return [None] * jobs
    if jobs > gpus * jobs_per_gpu:
        raise StudyError(f"study: JOBS={jobs} is more than this machine's {gpus} GPU(s) x JOBS_PER_GPU="
                         f"{jobs_per_gpu}; lower JOBS, or raise JOBS_PER_GPU if each GPU has memory for more")
    return [str(i // jobs_per_gpu) for i in range(jobs)]


class LocalQueue:
    """Runs experiments through the DVC queue on this machine: `jobs` workers at once, each pinned to
    its own GPU where there are GPUs (`gpus`: how many; `jobs_per_gpu` workers may share one).

    DVC's queue has no per-worker GPU setting (iterative/dvc#4586), but its workers inherit the
    environment of the `dvc queue start` that started them, and `dvc queue start -j N` starts only the
    worker numbers missing below N: so worker i is started alone, by `dvc queue start -j i`, with its
    own CUDA_VISIBLE_DEVICES. Each experiment records the value it ran with (dvclive/metrics.json)."""

    def __init__(self, jobs: int = 1, gpus: int | None = None, jobs_per_gpu: int = 1) -> None:
        self.jobs = jobs
        self.devices = worker_devices(jobs, gpu_count() if gpus is None else gpus, jobs_per_gpu)

    def submit(self, todo: list[dict]) -> None:
        for exp in todo:
            sets = [x for key, value in exp["set"].items() for x in ("-S", f"{key}={json.dumps(value)}")]
            dvc("exp", "run", "--queue", "--name", exp["name"], *sets, TARGET)

    def start(self) -> None:
        """Start the workers: all at once on a CPU, one by one (each with its GPU) otherwise."""
        plans = ([(self.jobs, None)] if all(d is None for d in self.devices)
                 else [(i + 1, d) for i, d in enumerate(self.devices)])
        for number, device in plans:
            env = worker_env(self.jobs)
            if device is not None:
                env["CUDA_VISIBLE_DEVICES"] = device
            # The workers inherit stdout/stderr: captured through pipes, those would stay open as long
            # as an idle worker lives. A file does not.
            with tempfile.TemporaryFile() as log:
                start = ["dvc", "queue", "start", "--jobs", str(number)]
                done = subprocess.run(start, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
                if done.returncode:
                    log.seek(0)
                    raise StudyError(f"study: `{' '.join(start)}` failed:\n"
                                     f"{log.read().decode(errors='replace')}")

    def wait(self, names: list[str], poll_s: float = 5.0, timeout_s: float = 7 * 24 * 3600) -> None:
        """Start the workers and wait until none of `names` is queued or running; a failed one stops
        the study (the others' results stay). The workers stop once idle, even on Ctrl-C."""
        self.start()
        try:
            poll(names, poll_s, timeout_s)
        finally:
            dvc("queue", "stop")  # after the running experiments finish; queued ones stay queued


def poll(names: list[str], poll_s: float, timeout_s: float, lost_after: int = 12) -> None:
    """Wait for `names` in the queue, with a progress bar over experiments."""
    deadline = time.monotonic() + timeout_s
    unseen = 0  # consecutive polls in which some experiment was not in the queue's list at all
    with tqdm(total=len(names), desc="study", unit="exp", file=sys.stderr) as bar:
        while True:
            status = statuses(names)
            done = [n for n in names if status.get(n) in FINISHED]
            failed = [n for n in done if status[n] == "Failed"]
            if failed:
                raise StudyError(f"study: experiment(s) {failed} failed; see `dvc queue logs <name>`. "
                                 "Running the study again re-queues them and keeps the finished ones.")
            bar.update(len(done) - bar.n)
            unseen = unseen + 1 if any(status.get(n) not in (*FINISHED, "Queued", "Running")
                                       for n in names) else 0
            if unseen >= lost_after:
                lost = {n: status.get(n, "missing") for n in names if status.get(n) not in
                        (*FINISHED, "Queued", "Running")}
                raise StudyError(f"study: the queue lost track of {lost}; see `dvc queue status`")
            if len(done) >= len(names):
                return
            if time.monotonic() > deadline:
                raise StudyError(f"study: the queue did not finish within {timeout_s:.0f} s")
            time.sleep(poll_s)


def classify(planned: list[dict], shown: dict[str, dict], queued: dict[str, str], workspace: dict
             ) -> dict[str, list[dict]]:
    """Each planned experiment: done (it exists with the same params), waiting (queued or running),
    or to run. One that exists with other params stops the study: the study file or params.yaml
    changed since, and its name now means two things."""
    out: dict[str, list[dict]] = {"done": [], "waiting": [], "run": []}
    for exp in planned:
        name = exp["name"]
        if name in shown:
            want = expected_params(workspace, exp["set"])
            have = shown[name]["params"]
            diff = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
            if diff:
                raise StudyError(
                    f"study: experiment {name} exists with other params ({', '.join(diff[:5])}: "
                    f"{[(have.get(k), want.get(k)) for k in diff[:5]]} as run, as planned now). Remove it "
                    f"(`dvc exp remove {name}`) or give the study another name.")
            out["done"].append(exp)
        elif queued.get(name) in ("Queued", "Running"):
            out["waiting"].append(exp)
        else:
            out["run"].append(exp)
    return out


def estimate(todo: list[dict], workspace: dict, jobs: int) -> str:
    """Estimated time of `todo`, from the workspace's last finetune timing scaled by each experiment's
    epochs; or from a short warm-up of a few training steps when the workspace has none."""
    live = Path(LIVE_METRICS)
    per_epoch = None
    source = ""
    if live.is_file():
        last = read_json(live)
        if last.get("train_runtime_s") and last.get("epochs_run"):
            per_epoch = last["train_runtime_s"] / last["epochs_run"]
            source = f"the workspace's last finetune: {per_epoch:.0f} s per epoch"
    if per_epoch is None:
        per_epoch, source = warmup_per_epoch()
        if per_epoch is None:
            return f"no estimate ({source})"
    seconds = sum(per_epoch * expected_params(workspace, e["set"])["train.epochs"] for e in todo)
    seconds /= max(1, jobs)
    return (f"about {seconds / 60:.0f} min of training for {len(todo)} experiments with JOBS={jobs} "
            f"({source}; evaluation adds to it, and parallel jobs share this machine's cores)")


def warmup_per_epoch(steps: int = 3) -> tuple[float | None, str]:
    """Seconds per training epoch, from the median of a few measured optimisation steps of the
    configured model on one batch of training rows (needs the model reachable and data/processed)."""
    try:
        import numpy as np
        import torch
        from transformers import AutoTokenizer

        from ja_sentiment.data import read_split
        from ja_sentiment.hub import hub_model
        from ja_sentiment.training import load_model

        params = load_params()
        train = read_split("train")
        with hub_model(params.train.checkpoint, params.train.revision):
            tokenizer = AutoTokenizer.from_pretrained(params.train.checkpoint, revision=params.train.revision)
        model = load_model(params.train, params.preprocess.label_names)
        batch = tokenizer(train["text"].head(params.train.batch_size).tolist(), truncation=True,
                          max_length=params.train.max_length, padding=True, return_tensors="pt")
        labels = torch.as_tensor(train["label"].head(params.train.batch_size).to_numpy())
        optimizer = torch.optim.AdamW(model.parameters(), lr=params.train.learning_rate)
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            loss = model(**batch, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            times.append(time.perf_counter() - start)
    except Exception as err:  # an estimate is a courtesy: say why there is none
        return None, f"warm-up failed: {type(err).__name__}: {str(err).splitlines()[0][:200]}"
    per_step = float(np.median(times))
    steps_per_epoch = math.ceil(len(train) / params.train.batch_size)
    return per_step * steps_per_epoch, f"a {steps}-step warm-up: {per_step:.2f} s per step"


def print_plan(study: StudyFile, planned: list[dict], groups: dict[str, list[dict]], eta: str) -> None:
    state = {e["name"]: k for k, exps in groups.items() for e in exps}
    words = {"done": "done (skipped)", "waiting": "queued (reused)", "run": "to run"}
    configs = list(dict.fromkeys(e["config"] for e in planned))
    seeds = sorted({e["seed"] for e in planned})
    print(f"study {study.name}: {len(configs)} configurations x {len(seeds)} seeds = {len(planned)} "
          "experiments")
    for config in configs:
        overrides = " ".join(f"{k}={v}" for k, v in study.configs[config].set.items()) or "(params.yaml)"
        print(f"  {config:<20} {overrides}")
        for e in (e for e in planned if e["config"] == config):
            print(f"      {e['name']}: {words[state[e['name']]]}")
    print(f"to run: {len(groups['run'])}, reused from the queue: {len(groups['waiting'])}, "
          f"done: {len(groups['done'])}; {eta}")


def collect(study: StudyFile, planned: list[dict], all_commits: bool, names: list[str]) -> dict:
    shown = experiments(all_commits)
    runs: dict[str, dict[int, dict]] = {}
    missing = []
    for exp in planned:
        if exp["name"] in shown:
            runs.setdefault(exp["config"], {})[exp["seed"]] = run_data(shown[exp["name"]], git_read, names)
        else:
            missing.append(exp["name"])
    result = aggregate(study, runs, names)
    result["missing"] = missing
    return result


def write(result: dict, out: Path, language: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "study.json").write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    plots(result, out, language)
    report = out / "study.md"
    report.write_text(markdown(result, language), encoding="utf-8")
    return report


def run_on_ray(args: argparse.Namespace, planned: list[dict], workspace: dict) -> None:
    """The experiments not yet in `dvc exp show` nor on the Git remote, as Ray tasks; then every one
    on the remote pulled back (ja_sentiment/tools/study_ray.py)."""
    from ja_sentiment.tools.study_ray import RayRunner

    groups = classify(planned, experiments(), {}, workspace)
    runner = RayRunner(args.git_remote, args.dvc_remote, args.ray_address, args.cpus_per_task,
                       args.omp_threads)
    remote = runner.done()
    todo = [e for e in groups["run"] if e["name"] not in remote]
    pull = [e for e in groups["run"] if e["name"] in remote]
    print(f"study: {len(groups['done'])} experiments done, {len(pull)} on the Git remote to pull, "
          f"{len(todo)} to run on Ray", file=sys.stderr)
    if args.dry_run:
        print("\n".join(f"  {e['name']}: {'to pull' if e in pull else 'to run on Ray'}" for e in pull + todo))
        return
    runner.submit(todo)
    runner.wait([e["name"] for e in todo + pull])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", nargs="?", type=Path,
                        help="study file (YAML), e.g. studies/overfitting.yaml")
    parser.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                        help="without a study file: compare params.yaml with these overrides (repeatable)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="values of train.seed")
    parser.add_argument("--only", default="", help="comma-separated configurations to run (and the "
                        "baseline)")
    parser.add_argument("--jobs", type=int, default=1, help="experiments run at once by the queue")
    parser.add_argument("--jobs-per-gpu", type=int, default=1,
                        help="queue workers that may share one GPU (JOBS above the GPUs x this: an error)")
    parser.add_argument("--gpus", type=int, help="GPUs to pin workers to (default: as nvidia-smi lists "
                        "them; 0 on a CPU machine). Set on a CPU machine, it checks the pinning")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and an estimated time only")
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: the DVC queue on this machine; ray: Ray tasks on a cluster "
                        "(RAY_ADDRESS)")
    parser.add_argument("--git-remote", default="origin", help="ray: the Git remote the tasks clone from")
    parser.add_argument("--dvc-remote", help="ray: the DVC remote the tasks pull from (default: core.remote)")
    parser.add_argument("--ray-address", help="ray: the cluster (default: RAY_ADDRESS, else a local one)")
    parser.add_argument("--cpus-per-task", type=float, default=1, help="ray: CPUs per experiment")
    parser.add_argument("--omp-threads", type=int, default=1,
                        help="ray: OMP_NUM_THREADS of every task (the same everywhere: the same numbers)")
    parser.add_argument("--collect", action="store_true", help="aggregate the finished experiments only")
    parser.add_argument("--out", type=Path, help="output folder (default: reports/study/<study name>)")
    parser.add_argument("--language", choices=("en", "ja"), help="report language (default: report.language)")
    args = parser.parse_args(argv)
    if (args.study is None) == (args.overrides is None):
        parser.error("give a study file or --set KEY=VALUE (a two-configuration study), not both")
    study = load_study(args.study) if args.study else adhoc(args.overrides)
    seeds = sorted(set(args.seeds))
    if len(seeds) < 2:
        parser.error("--seeds: give at least 2 distinct seeds (a spread over seeds needs two)")
    params = load_params()
    names = list(params.preprocess.label_names)
    language = args.language or params.report.language
    workspace = yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8"))
    planned = plan(study, seeds, [c for c in args.only.split(",") if c])
    if not args.collect and args.engine == "ray":
        run_on_ray(args, planned, workspace)
    elif not args.collect:
        shown = experiments()
        groups = classify(planned, shown, statuses([e["name"] for e in planned]), workspace)
        if args.dry_run:
            print_plan(study, planned, groups, estimate(groups["run"], workspace, args.jobs))
            return
        runner = LocalQueue(args.jobs, args.gpus, args.jobs_per_gpu)
        runner.submit(groups["run"])
        waiting = [e["name"] for e in groups["run"] + groups["waiting"]]
        print(f"study {study.name}: {len(groups['done'])} experiments done, {len(waiting)} to wait for",
              file=sys.stderr)
        if waiting:
            runner.wait(waiting)
    result = collect(study, planned, all_commits=args.collect, names=names)
    report = write(result, args.out or Path("reports/study") / study.name, language)
    for config, comp in result["comparisons"].items():
        c = comp[METRICS[0]]
        print(f"{config:<20} macro-F1 {100 * c['diff']:+.1f} [{100 * c['ci_low']:+.1f}, "
              f"{100 * c['ci_high']:+.1f}] points, Holm p {c['p_holm']:.3g}: {c['verdict']}")
    if result["missing"]:
        print(f"study: missing experiments (not finished): {result['missing']}", file=sys.stderr)
    print(f"study: wrote {report}", file=sys.stderr)


if __name__ == "__main__":
    main()
