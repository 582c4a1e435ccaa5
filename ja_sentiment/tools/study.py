"""Not a pipeline stage: a Level 4 study — every configuration of a study file over the same seeds,
as DVC experiments, judged against the baseline with both kinds of noise counted.

    python -m ja_sentiment.tools.study studies/overfitting.yaml --seeds 1 2 3     (or: make study ...)
    python -m ja_sentiment.tools.study --set train.epochs=2 --seeds 1 2 3        (or: make seeds ...)

Each (configuration, seed) is one experiment, identified by its content: the code, params and data
of every stage up to `evaluate` (ja_sentiment/identity.py). It is named
`<study>-<config>-s<seed>-<identity[:8]>` and queued with `dvc exp run --queue evaluate
-S train.seed=<seed> -S <overrides>`: it runs only the stages the study reads, in a temporary copy
of the repository (the last commit plus the workspace's uncommitted changes to tracked files, which
its identity records); Level 3 and the reports are not run (after `dvc exp apply` of one of them,
`dvc repro` brings them up to date). The results land in `dvc exp show` and in `<out>/study.md`,
`study.json` and `plots/` (ja_sentiment/study.py, study_stats.py, reports/study.py).

An experiment with the same identity that already finished, under any name, in any study, on any
baseline commit, is reused; one still queued or running is waited for; a failed one is queued again
(its stale queue entry removed); everything else runs. A result counts only when its provenance
checks out (ja_sentiment/study_runs.py); the report lists every experiment left out and why.
`--dry-run` prints the plan, the time and the DVC cache it will take; `--collect` aggregates without
training; `--only a,b` runs a subset of the configurations (and the baseline); `--prune-models`
removes the finished experiments' models from the DVC cache after the report is written. One study
runs in a repository at a time.

Runners (`run(todo, waiting) -> failures`): the DVC queue on this machine (study_queue.py) or Ray
tasks on a cluster (study_ray.py).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ja_sentiment.data import read_json
from ja_sentiment.identity import IdentityError, digest, expected, load_yaml, lock_entry
from ja_sentiment.params import PARAMS_FILE, load_params
from ja_sentiment.reports.study import TABLES, interval_points, markdown, plots, words
from ja_sentiment.reports.text import Text
from ja_sentiment.study import (
    METRICS,
    TEST_ROWS,
    StudyError,
    StudyFile,
    adhoc,
    aggregate,
    load_study,
    plan,
    run_data,
    typed,
    with_overrides,
)
from ja_sentiment.study_runs import DATA_FILE, LIVE_METRICS, survey
from ja_sentiment.study_stats import detectable, power_of
from ja_sentiment.tools import study_cache
from ja_sentiment.tools.dvc_cli import exp_refs, git, queue_tasks, read_at, run_dvc

LOCK_FILE = Path(".dvc/tmp/study.lock")
TEST_SET_ROWS = 553  # pn.tsv's test split, where the workspace has no predictions yet
ACTIVE = ("Queued", "Running")


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise StudyError(f"study: {message} (--help lists the options)")


@contextmanager
def study_lock(name: str, path: Path = LOCK_FILE) -> Iterator[None]:
    """One study per repository at a time: an exclusive lock on a file under .dvc/tmp, released when
    the process ends however it ends; the file names the study that holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            raise StudyError(f"study: another study is running in this repository: {f.read().strip()}; "
                             "wait for it to finish or stop it") from None
        f.seek(0)
        f.truncate()
        f.write(f"{name} (pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')})\n")
        f.flush()
        try:
            yield
        finally:
            f.truncate(0)


def identify(planned: list[dict], workspace: dict, root: Path = Path()) -> list[dict]:
    """Each planned experiment with its inputs, identity and name (`<study>-<config>-s<seed>-<id>`)."""
    dvc_yaml = load_yaml(Path(root, "dvc.yaml").read_text(encoding="utf-8"))
    hashes: dict[str, str] = {}
    try:
        for exp in planned:
            exp["set"] = typed(workspace, exp["set"])  # as the schema reads them: one value, one identity
            exp["inputs"] = expected(dvc_yaml, with_overrides(workspace, exp["set"]), root, hashes=hashes)
            exp["identity"] = digest(exp["inputs"])
            exp["name"] = f"{exp['name']}-{exp['identity'][:8]}"
    except IdentityError as err:
        raise StudyError(f"study: {err}") from None
    return planned


def data_md5(lock: Path = Path("dvc.lock")) -> str | None:
    """The md5 of the corpus file (fetch's output) that the workspace's dvc.lock records, if any."""
    if not lock.is_file():
        return None
    return lock_entry(load_yaml(lock.read_text(encoding="utf-8")), "fetch", DATA_FILE).get("md5")


def code_files(planned: list[dict]) -> list[str]:
    """The code files the planned experiments' stages depend on."""
    return sorted({p for e in planned for stage in e["inputs"].values() for p in stage["code"]})


def untracked_code(paths: list[str]) -> list[str]:
    """Those of `paths` that git does not track: a queued experiment's copy of the repository would
    not have them."""
    tracked = set(git("ls-files", "--", *paths).split())
    return [p for p in paths if p not in tracked]


def classify(planned: list[dict], found: dict[str, dict], tasks: list, refs: set[str]) -> dict[str, list]:
    """Each planned experiment: done (a finished experiment with its identity passed every check),
    waiting (queued or running under its name), blocked (its name is taken by an experiment left
    out), or to run (stale queue lines of its name go: `stale`). One identity runs once."""
    out: dict[str, list] = {"done": [], "waiting": [], "run": [], "blocked": [], "stale": []}
    first: dict[str, str] = {}  # identity -> the group of the first experiment planned with it
    for exp in planned:
        key, extra = exp["identity"], {}
        if key in found:
            group = "done"
        elif key in first:  # the same experiment as one planned before: its fate
            group, extra = ("blocked" if first[key] == "blocked" else "waiting"), {"task": None}
        else:
            mine = [t for t in tasks if t.name == exp["name"]]
            active = [t for t in mine if t.status in ACTIVE]
            if active:
                group, extra = "waiting", {"task": active[-1].id}
            elif exp["name"] in refs:
                group = "blocked"
            else:
                group = "run"
                out["stale"] += [t.id for t in mine]
        out[group].append({**exp, **extra})
        first.setdefault(key, group)
    return out


def per_epoch_seconds() -> tuple[float | None, str]:
    """Seconds per training epoch: the workspace's last finetune timing, or a short warm-up of a few
    training steps when the workspace has none; and where the figure comes from."""
    live = Path(LIVE_METRICS)
    if live.is_file():
        last = read_json(live)
        if last.get("train_runtime_s") and last.get("epochs_run"):
            per_epoch = last["train_runtime_s"] / last["epochs_run"]
            return per_epoch, f"the workspace's last finetune: {per_epoch:.0f} s per epoch"
    return warmup_per_epoch()


def train_cost(train: dict) -> float:
    """An experiment's training time in epochs of the workspace's run: its epochs, twice that with
    R-Drop (each step runs the batch twice, forward and backward)."""
    return train["epochs"] * (2.0 if train.get("r_drop") else 1.0)


def estimate(todo: list[dict], jobs: int, timing: tuple[float | None, str]) -> str:
    """Estimated time of `todo` from the seconds per epoch (per_epoch_seconds), scaled by each
    experiment's epochs."""
    per_epoch, source = timing
    if per_epoch is None:
        return f"time: no estimate ({source})"
    seconds = sum(per_epoch * train_cost(e["inputs"]["finetune"]["params"]["train"]) for e in todo)
    seconds /= max(1, jobs)
    return (f"time: about {seconds / 60:.0f} min of training for {len(todo)} experiments with JOBS={jobs} "
            f"({source}; evaluation adds to it, and parallel jobs share this machine's cores)")


def last_report(out: Path) -> dict:
    """The study.json of the last report in `out`; empty when there is none (or it cannot be read)."""
    try:
        return json.loads((out / "study.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def components_for(out: Path) -> tuple[dict, str]:
    """Variance components (seed, row, residual) of a macro-F1 difference: the median over the
    comparisons of this study's last report in `out`, else a prior: the simulator's world "seed sd
    moderate" (simulate_study.prior_components), said as such."""
    previous = out / "study.json"
    why = "no report of this study yet"
    if previous.is_file():
        before = last_report(out)
        try:
            fitted = [c["macro_f1"]["components"] for c in before["comparisons"].values()
                      if c["macro_f1"].get("components")]
        except (KeyError, TypeError):
            fitted = []
        if fitted:
            median = {k: float(np.median([c[k] for c in fitted])) for k in fitted[0]}
            return median, f"fitted in {previous} (median over its {len(fitted)} comparisons)"
        why = f"{previous} has no comparison with a spread to fit (e.g. models identical to the baseline's)"
    from ja_sentiment.tools.simulate_study import prior_components

    return prior_components(), ("a prior: the simulator's world \"seed sd moderate\" (sd of accuracy over "
                                f"seeds about 1.6 points); {why}")


def power_note(study: StudyFile, planned: list[dict], out: Path, jobs: int,
               timing: tuple[float | None, str]) -> str:
    """What the seeds asked for can detect (study_stats.power_of: 80% of the time, macro-F1, at the
    study's alpha over its family), how many seeds would halve it and what they would cost, the test
    set's floor, and where the variance components come from."""
    seeds = sorted({e["seed"] for e in planned})
    epochs = {e["config"]: train_cost(e["inputs"]["finetune"]["params"]["train"]) for e in planned}
    components, source = components_for(out)
    rows_file = Path(TEST_ROWS)
    rows = sum(1 for _ in rows_file.open(encoding="utf-8")) - 1 if rows_file.is_file() else TEST_SET_ROWS
    family = max(1, len(study.configs) - 1)
    power = power_of(components, len(seeds), rows, family, study.alpha)
    ladder = ", ".join(f"{s} seeds {100 * detectable(components, s, rows, family, study.alpha):.1f}"
                       for s in (2, 3, 5, 10, 20))
    lines = [f"power (macro-F1, detected 80% of the time, Holm over {family} at alpha {study.alpha}, {rows} "
             f"test rows): with {len(seeds)} seeds, differences of about {100 * power['detectable']:.1f} "
             f"points and more; the test set's own floor is {100 * power['floor']:.1f} points"
             + ("\n  (more than 100 points: with these seeds no difference of macro-F1 would be detected)"
                if power["detectable"] > 1 else ""), f"  {ladder}"]
    halve = power["seeds_to_halve"]
    if halve is None and power["floor"] >= power["detectable"] / 2:
        lines.append("  no number of seeds halves it: the test set's floor is above half of it")
    elif halve is None:
        lines.append(f"  more than {power['max_seeds']} seeds would be needed to halve it")
    else:
        more = (halve - len(seeds)) * len(epochs)
        per_epoch = timing[0]
        hours = (None if per_epoch is None
                 else (halve - len(seeds)) * sum(epochs.values()) * per_epoch / jobs / 3600)
        cost = "" if hours is None else f", about {hours:.1f} h more of training"
        lines.append(f"  about {halve} seeds would halve it ({more} more experiments{cost})")
    lines.append(f"  variance components: {source}")
    return "\n".join(lines)


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


def print_plan(study: StudyFile, planned: list[dict], groups: dict[str, list], found: dict[str, dict],
               notes: list[str]) -> None:
    words = {"run": "to run", "blocked": "not run: its name is taken by an experiment left out "
                                          "(`dvc exp remove` it to run it again)"}
    state = {e["name"]: words.get(k, k) for k, exps in groups.items() if k != "stale" for e in exps}
    for e in groups["done"]:
        reused = found[e["identity"]]["name"]
        state[e["name"]] = "done" + (f" (reused: {reused})" if reused != e["name"] else "")
    for e in groups["waiting"]:
        state[e["name"]] = (f"queued or running (task {e['task']})" if e["task"]
                            else "the same experiment as above")
    configs = list(dict.fromkeys(e["config"] for e in planned))
    seeds = sorted({e["seed"] for e in planned})
    print(f"study {study.name}: {len(configs)} configurations x {len(seeds)} seeds = {len(planned)} "
          "experiments")
    if study.set:
        print("  every configuration: " + " ".join(f"{k}={v}" for k, v in study.set.items()))
    for config in configs:
        overrides = " ".join(f"{k}={v}" for k, v in study.configs[config].set.items()) or "(params.yaml)"
        print(f"  {config:<20} {overrides}")
        for e in (e for e in planned if e["config"] == config):
            print(f"      {e['name']}: {state[e['name']]}")
    print(f"to run: {len(groups['run'])}, queued or running: {len(groups['waiting'])}, "
          f"done: {len(groups['done'])}")
    for note in notes:
        print(note)


def validate(args: argparse.Namespace) -> list[int]:
    """Every argument checked before anything is queued; the seeds, sorted."""
    if (args.study is None) == (args.overrides is None):
        raise StudyError("study: give a study file or --set KEY=VALUE (a two-configuration study), not both")
    seeds = args.seeds
    if len(set(seeds)) != len(seeds):
        raise StudyError(f"study: --seeds {' '.join(map(str, seeds))}: a seed is given twice")
    if len(seeds) < 2:
        raise StudyError("study: --seeds: give at least 2 distinct seeds (a spread over seeds needs two)")
    bad = [s for s in seeds if not 0 <= s < 2**32]
    if bad:
        raise StudyError(f"study: --seeds {bad}: seeds are integers from 0 to 2**32 - 1")
    for flag, value, low in (("--jobs", args.jobs, 1), ("--jobs-per-gpu", args.jobs_per_gpu, 1),
                             ("--gpus", args.gpus, 0), ("--omp-threads", args.omp_threads, 1)):
        if value is not None and value < low:
            raise StudyError(f"study: {flag} {value}: at least {low}")
    if not args.cpus_per_task > 0:
        raise StudyError(f"study: --cpus-per-task {args.cpus_per_task}: more than 0")
    if args.gpus_per_task < 0:
        raise StudyError(f"study: --gpus-per-task {args.gpus_per_task}: at least 0")
    if args.engine != "ray":
        ray_only = (("--git-remote", args.git_remote), ("--omp-threads", args.omp_threads),
                    ("--dvc-remote", args.dvc_remote), ("--ray-address", args.ray_address),
                    ("--gpus-per-task", args.gpus_per_task), ("--accelerator-type", args.accelerator_type),
                    ("--fetch-models", args.fetch_models))
        given = [f for f, v in ray_only if v]
        if given:
            raise StudyError(f"study: {', '.join(given)}: only with --engine ray")
        # The queue's GPU pinning, checked here: before the lock, the queue's cleaning, or a dry run.
        from ja_sentiment.tools.study_queue import visible_gpus, worker_devices

        worker_devices(args.jobs, visible_gpus(args.gpus), args.jobs_per_gpu)
    if args.collect and args.dry_run:
        raise StudyError("study: --collect and --dry-run: give one (--collect aggregates, --dry-run plans)")
    if args.prune_models and args.dry_run:
        raise StudyError("study: --prune-models and --dry-run: a dry run removes nothing (its plan shows the "
                         "cache the study will add)")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise StudyError(f"study: --out {args.out}: a file, not a folder")
    if args.study is not None and not args.study.is_file():
        raise StudyError(f"study: {args.study}: no such study file")
    return sorted(seeds)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser(description=__doc__.split("\n\n")[0])
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
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan, the time and the DVC cache it will take; run nothing")
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: the DVC queue on this machine; ray: Ray tasks on a cluster "
                        "(RAY_ADDRESS)")
    parser.add_argument("--git-remote", help="ray: the Git remote the tasks clone from (default: origin)")
    parser.add_argument("--dvc-remote", help="ray: the DVC remote the tasks pull from (default: core.remote)")
    parser.add_argument("--ray-address", help="ray: the cluster (default: RAY_ADDRESS, else one running on "
                        "this machine, else a private local one)")
    parser.add_argument("--cpus-per-task", type=float, default=1, help="ray: CPUs per experiment")
    parser.add_argument("--gpus-per-task", type=float, default=0,
                        help="ray: GPUs per experiment (asked of Ray per task, whatever the cluster has now)")
    parser.add_argument("--accelerator-type",
                        help="ray: the GPU type each task needs (Ray's accelerator_type)")
    parser.add_argument("--fetch-models", action="store_true",
                        help="ray: also pull the experiments' outputs (models) to this machine; the report "
                        "needs only their Git refs")
    parser.add_argument("--omp-threads", type=int,
                        help="ray: OMP_NUM_THREADS of every task (the same everywhere: the same numbers; "
                        "default 1)")
    parser.add_argument("--collect", action="store_true", help="aggregate the finished experiments only")
    parser.add_argument("--prune-models", action="store_true",
                        help="after the report, remove the study's finished experiments' models from the "
                        "DVC cache (the report never reads them)")
    parser.add_argument("--out", type=Path, help="output folder (default: reports/study/<study name>)")
    parser.add_argument("--language", choices=("en", "ja"), help="report language (default: report.language)")
    return parser.parse_args(argv)


def out_dir(args: argparse.Namespace, study: StudyFile) -> Path:
    return args.out or Path("reports/study") / study.name


def runner(args: argparse.Namespace):
    if args.engine == "ray":
        from ja_sentiment.tools.study_ray import RayRunner

        return RayRunner(args.git_remote or "origin", args.dvc_remote, args.ray_address, args.cpus_per_task,
                         args.omp_threads or 1, args.gpus_per_task, args.accelerator_type, args.fetch_models)
    from ja_sentiment.tools.study_queue import LocalQueue

    return LocalQueue(args.jobs, args.gpus, args.jobs_per_gpu)


def collect(study: StudyFile, planned: list[dict], names: list[str], failures: dict[str, str]) -> dict:
    """The study's result from the experiments that pass every check; every planned experiment
    without one, and every experiment left out, listed with why."""
    found, left_out = survey(planned, exp_refs(), read_at, data_md5())
    tasks = {t.name: t.status for t in queue_tasks()}
    runs: dict[str, dict[int, dict]] = {}
    for exp in planned:
        if exp["identity"] in found:
            record = found[exp["identity"]]
            runs.setdefault(exp["config"], {})[exp["seed"]] = run_data(record, read_at, names)
        elif not any(x["name"] == exp["name"] for x in left_out):
            why = failures.get(exp["name"]) or {"Queued": "still queued", "Running": "still running",
                                                "Failed": "failed (`dvc queue logs` it)"}.get(
                tasks.get(exp["name"], ""), "not run yet")
            left_out.append({"name": exp["name"], "why": why})
    if study.baseline not in runs:
        for entry in left_out:
            print(f"study: left out {entry['name']}: {entry['why']}", file=sys.stderr)
        raise StudyError(f"study: no finished experiment of the baseline {study.baseline!r} passes the "
                         "checks (left out above): nothing to compare with")
    result = aggregate(study, runs, names)
    result["left_out"] = left_out
    # Where each counted number comes from: the experiment (perhaps another study's, with the same
    # identity), its commit and baseline commit, its finetune run.
    result["provenance"] = {e["name"]: {"identity": e["identity"], **{k: found[e["identity"]][k] for k in
                                        ("name", "rev", "baseline", "run_id", "data_md5")}}
                            for e in planned if e["identity"] in found}
    return result


def first_look(result: dict, out: Path) -> dict:
    """The seeds of the study's first report in `out` (carried from report to report) and the seeds
    added since: adding seeds after looking is allowed, and the report says so."""
    seeds = result["configs"][result["baseline"]]["seeds"]
    first = {"seeds": seeds, "at": time.strftime("%Y-%m-%d %H:%M:%S")}
    before = last_report(out)
    if before.get("study") == result["study"]:
        earlier = before.get("first_look") or {"seeds": before["configs"][before["baseline"]]["seeds"],
                                               "at": "before first looks were recorded"}
        first = {"seeds": earlier["seeds"], "at": earlier["at"]}
    return {**first, "added": sorted(set(seeds) - set(first["seeds"]))}


def write(result: dict, out: Path, language: str) -> Path:
    result["first_look"] = first_look(result, out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "study.json").write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    plots(result, out, language)
    report = out / "study.md"
    report.write_text(markdown(result, language), encoding="utf-8")
    return report


def execute(args: argparse.Namespace, study: StudyFile, planned: list[dict]) -> dict[str, str]:
    """Plan against what exists, then run what is missing; the failures ({name: why})."""
    refs = exp_refs()
    found, _ = survey(planned, refs, read_at, data_md5())
    groups = classify(planned, found, queue_tasks() if args.engine == "local" else [],
                      {r.name for r in refs})
    code = code_files(planned)
    untracked = untracked_code(code)
    if untracked:
        raise StudyError(f"study: the stages depend on {', '.join(untracked)}, which git does not track: "
                         "a queued experiment's copy of the repository would not have them; `git add` them")
    if args.dry_run:
        changed = git("status", "--porcelain", "--", *code, "dvc.yaml", "params.yaml")
        timing = per_epoch_seconds()
        notes = [estimate(groups["run"], args.jobs, timing), study_cache.estimate(len(groups["run"])),
                 power_note(study, planned, out_dir(args, study), args.jobs, timing)]
        if changed.strip():
            notes.append("uncommitted changes to files the experiments depend on; they run with them as they "
                         "are now, and their identity records them:\n" + changed.rstrip())
        print_plan(study, planned, groups, found, notes)
        return {}
    if groups["stale"]:
        run_dvc("study", "queue", "remove", *groups["stale"])  # old Success/Failed lines of these names
    waiting = {e["name"]: e["task"] for e in groups["waiting"] if e["task"]}
    print(f"study {study.name}: {len(groups['done'])} experiments done, {len(groups['run'])} to run, "
          f"{len(waiting)} queued or running to wait for", file=sys.stderr)
    failures = {e["name"]: "not run: its name is taken by an experiment left out; `dvc exp remove` it"
                for e in groups["blocked"]}
    if groups["run"] or waiting:
        failures |= runner(args).run(groups["run"], waiting)
    return failures


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    seeds = validate(args)
    study = load_study(args.study) if args.study else adhoc(args.overrides)
    params = load_params()
    names = list(params.preprocess.label_names)
    language = args.language or params.report.language
    workspace = load_yaml(PARAMS_FILE.read_text(encoding="utf-8"))
    planned = identify(plan(study, seeds, [c for c in args.only.split(",") if c]), workspace)
    if args.dry_run:
        execute(args, study, planned)
        return
    with study_lock(study.name):
        failures = {} if args.collect else execute(args, study, planned)
        result = collect(study, planned, names, failures)
        report = write(result, out_dir(args, study), language)
        if args.prune_models:
            # Only the experiments this study made: one reused from another study keeps its model.
            commits = sorted({p["rev"] for name, p in result["provenance"].items() if p["name"] == name})
            files, size = study_cache.prune(commits)
            print(f"study: removed {files} files ({size / 1e6:,.0f} MB) of {len(commits)} experiments' "
                  "models "
                  "from the DVC cache", file=sys.stderr)
    t = Text("en", TABLES)
    for config, comp in result["comparisons"].items():
        c = comp[METRICS[0]]
        print(f"{config:<20} macro-F1 {interval_points(c)} points: {words(t, c, result['family'])}")
    for entry in result["left_out"]:
        print(f"study: left out {entry['name']}: {entry['why']}", file=sys.stderr)
    print(f"study: wrote {report}", file=sys.stderr)
    if failures:
        raise StudyError(f"study: {len(failures)} experiment(s) failed or did not run: {sorted(failures)}; "
                         "running the study again queues them again and keeps the finished ones")


if __name__ == "__main__":
    main()
