"""The study's local runner: its experiments through the DVC queue on this machine.

A runner has one method, `run(todo, waiting) -> failures`: queue the experiments in `todo` (each a
planned experiment: name, `-S` overrides), wait for them and for the tasks already in the queue in
`waiting` ({name: task id}), and return the ones that failed with why ({name: reason}). The Ray runner
(study_ray.py) has the same.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from tqdm import tqdm

from ja_sentiment.identity import TARGET
from ja_sentiment.study import StudyError
from ja_sentiment.tools.dvc_cli import queue_state, queue_tasks, run_dvc, set_args

FINISHED = ("Success", "Failed")


def worker_env(jobs: int, cpus: int | None = None) -> dict[str, str]:
    """The environment the queue's workers (and the stages they run) inherit: with several jobs at
    once, each gets its share of the CPU cores as torch/OpenMP threads (OMP_NUM_THREADS), instead of
    every job starting one thread per core and all of them fighting over the cores. A value the user
    set is kept."""
    env = dict(os.environ)
    if jobs > 1 and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (cpus or os.cpu_count() or 1) // jobs))
    return env


def gpu_count() -> int:
    """GPUs on this machine, as `nvidia-smi -L` lists them (0 without the tool or a GPU)."""
    try:
        proc = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in proc.stdout.splitlines()) if proc.returncode == 0 else 0


def visible_gpus(gpus: int | None, environ: dict[str, str] | None = None) -> list[str]:
    """The GPUs the study may use: the caller's CUDA_VISIBLE_DEVICES where set (the first `gpus` of
    them when --gpus is given), else GPUs 0 to `gpus` - 1 (default: as nvidia-smi lists them)."""
    environ = os.environ if environ is None else environ
    given = environ.get("CUDA_VISIBLE_DEVICES")
    if given is None:
        return [str(i) for i in range(gpu_count() if gpus is None else gpus)]
    listed = [d.strip() for d in given.split(",") if d.strip() and d.strip() != "-1"]
    if gpus is not None and gpus > len(listed):
        raise StudyError(f"study: --gpus {gpus}, but CUDA_VISIBLE_DEVICES={given!r} lists {len(listed)}")
    return listed if gpus is None else listed[:gpus]


def worker_devices(jobs: int, gpus: int | list[str], jobs_per_gpu: int = 1) -> list[str | None]:
    """The CUDA_VISIBLE_DEVICES of each queue worker: with GPUs (a count, or the ids to use), worker i
    on the (i // jobs_per_gpu)-th; without, None (the workers share the CPU cores). More jobs than the
    GPUs can take is an error."""
    ids = [str(i) for i in range(gpus)] if isinstance(gpus, int) else list(gpus)
    if not ids:
        return [None] * jobs
    if jobs > len(ids) * jobs_per_gpu:
        raise StudyError(f"study: JOBS={jobs} is more than the {len(ids)} GPU(s) this study may use "
                         f"({', '.join(ids)}) x JOBS_PER_GPU={jobs_per_gpu}; lower JOBS, or raise "
                         "JOBS_PER_GPU if each GPU has memory for more")
    return [ids[i // jobs_per_gpu] for i in range(jobs)]


def last_lines(task: str, n: int = 3) -> str:
    """The last lines of a task's log (`dvc queue logs`), for a failure's message."""
    proc = subprocess.run(["dvc", "queue", "logs", task], capture_output=True, text=True)
    lines = list(dict.fromkeys(line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()))
    return " | ".join(lines[-n:])[-600:]


class LocalQueue:
    """Runs experiments through the DVC queue on this machine: `jobs` workers at once, each pinned to
    its own GPU where there are GPUs (`gpus`: how many; `jobs_per_gpu` workers may share one).

    DVC's queue has no per-worker GPU setting (iterative/dvc#4586), but its workers inherit the
    environment of the `dvc queue start` that started them, and `dvc queue start -j N` starts only the
    worker numbers missing below N: so worker i is started alone, by `dvc queue start -j i`, with its
    own CUDA_VISIBLE_DEVICES. Each experiment records the value it ran with (dvclive/metrics.json)."""

    def __init__(self, jobs: int = 1, gpus: int | None = None, jobs_per_gpu: int = 1) -> None:
        self.jobs = jobs
        # Within the caller's CUDA_VISIBLE_DEVICES: asked for GPUs 2 and 3, the workers get 2 and 3.
        self.devices = worker_devices(jobs, visible_gpus(gpus), jobs_per_gpu)

    def submit(self, todo: list[dict]) -> dict[str, str]:
        """Queue each experiment; {name: task id} of the new tasks (told apart from old lines of the
        same name by their id)."""
        before = {t.id for t in queue_tasks()}
        for exp in todo:
            run_dvc("study", "exp", "run", "--queue", "--name", exp["name"], *set_args(exp["set"]), TARGET)
        names = {e["name"] for e in todo}
        tasks = {t.name: t.id for t in queue_tasks() if t.id not in before and t.name in names}
        lost = sorted(names - set(tasks))
        if lost:
            raise StudyError(f"study: queued {lost}, but `dvc queue status` does not list them")
        return tasks

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

    def run(self, todo: list[dict], waiting: dict[str, str], poll_s: float = 5.0,
            timeout_s: float = 7 * 24 * 3600) -> dict[str, str]:
        """Queue `todo`, start the workers and wait for every task; the failures, with their logs' last
        lines. The workers stop by themselves once the queue is empty (DVC's temporary workers); on
        Ctrl-C or an error they are told to stop after their running experiments (queued ones stay
        queued), unless the queue holds other experiments than this study's (stop_unless_shared). Not
        told otherwise: a stop sent when they have already gone stays in the queue's broker and stops
        the next workers after their first experiment."""
        tasks = {**waiting, **self.submit(todo)}
        self.start()
        try:
            return poll(tasks, poll_s, timeout_s, restart=self.start)
        except BaseException:
            stop_unless_shared(set(tasks.values()))
            raise


def stop_unless_shared(mine: set[str]) -> bool:
    """On Ctrl-C or an error: `dvc queue stop` (every worker of the repository, after its running
    experiment) only when the queue holds no active task but this study's; otherwise the workers are
    left running for the others, and the user is told. Whether it stopped them."""
    try:
        others = [t for t in queue_tasks() if t.status in ("Queued", "Running") and t.id not in mine]
    except SystemExit:  # the queue's status cannot be read: stopping is the safe side
        others = []
    if others:
        print(f"study: {len(others)} other experiment(s) are queued or running in this repository "
              f"({', '.join(t.name for t in others[:3])}{', ...' if len(others) > 3 else ''}); the queue's "
              "workers were left running for them (`dvc queue stop` stops them all)", file=sys.stderr)
        return False
    run_dvc("study", "queue", "stop")
    return True


def poll(tasks: dict[str, str], poll_s: float, timeout_s: float, lost_after: int = 12,
         restart: Callable[[], None] | None = None, idle_after: int = 2, orphan_after: int = 6
         ) -> dict[str, str]:
    """Wait until every task ({name: task id}) has finished, with a progress bar over experiments;
    {name: why} of those that failed. A failure does not stop the others. Where tasks wait in the queue
    with no worker alive (`idle_after` polls running), the workers are started again (`restart`);
    tasks listed as running with no worker alive for `orphan_after` polls are failures (their worker
    died), not waited for."""
    deadline = time.monotonic() + timeout_s
    unseen = idle = orphaned = 0  # consecutive polls: a task not listed; queued / running with no worker
    gone: dict[str, str] = {}  # tasks listed as running whose worker is dead: failed, not waited for
    with tqdm(total=len(tasks), desc="study", unit="exp", file=sys.stderr) as bar:
        while True:
            listed, alive = queue_state()
            status = {t.id: t.status for t in listed}
            done = [n for n, task in tasks.items() if status.get(task) in FINISHED or n in gone]
            bar.update(len(done) - bar.n)
            absent = {n: task for n, task in tasks.items() if task not in status}
            unseen = unseen + 1 if absent else 0
            if unseen >= lost_after:
                raise StudyError(f"study: the queue lost track of {absent}; see `dvc queue status`")
            if len(done) >= len(tasks):
                failed = {n: f"failed: {last_lines(task)} (`dvc queue logs {task}`)"
                          for n, task in tasks.items() if n not in gone and status[task] == "Failed"}
                return {**failed, **gone}
            running = [n for n, task in tasks.items() if status.get(task) == "Running" and n not in gone]
            orphaned = orphaned + 1 if running and alive == 0 else 0
            if orphaned >= orphan_after:  # their worker died (killed, out of memory): no endless wait
                gone |= {n: f"its queue worker died while it ran (`dvc queue logs {tasks[n]}`)"
                         for n in running}
                orphaned = 0
            queued = [n for n, task in tasks.items() if status.get(task) == "Queued"]
            idle = idle + 1 if queued and alive == 0 else 0
            if restart is not None and idle >= idle_after:
                print(f"study: {len(queued)} experiment(s) queued and no queue worker alive; starting the "
                      "workers again", file=sys.stderr)
                restart()
                idle = 0
            if time.monotonic() > deadline:
                raise StudyError(f"study: the queue did not finish within {timeout_s:.0f} s")
            time.sleep(poll_s)
