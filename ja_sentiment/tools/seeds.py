"""Not a pipeline stage: a configuration over several seeds, and two configurations compared.

    python -m ja_sentiment.tools.seeds --seeds 1 2 3 --set train.epochs=2     (or: make seeds ...)

Queues one DVC experiment per seed (`dvc exp run --queue -S train.seed=N`) for the params in
params.yaml and, with `--set`, for the same params with those overrides; runs the queue
(`dvc queue start`), waits for it, reads every experiment's test metrics back with `dvc exp show`,
and writes `<out>/seeds.md` and `<out>/seeds.json`: per configuration the mean, standard deviation,
min and max of test accuracy and macro-F1 over seeds; with `--set`, the difference of the means
(overrides minus params.yaml) with Welch's t 95% interval and a verdict. `--collect NAME` aggregates
the experiments of an earlier run again without training anything.

Queued experiments run in temporary copies of the repository (the workspace is left as it is), from
the last commit plus the workspace's uncommitted changes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from ja_sentiment.markdown import p_value
from ja_sentiment.stats import compare_seeds, seed_summary
from ja_sentiment.tools.dvc_cli import run_dvc

METRICS_FILE = "metrics/evaluate.json"
SCORES = (("accuracy", "test accuracy"), ("macro_f1", "test macro-F1"))
CONFIGS = ("params", "set")  # params.yaml as it is; params.yaml with the --set overrides
NAME = re.compile(r"^(?P<run>.+)-(?P<config>params|set)-s(?P<seed>-?\d+)$")


def dvc(*args: str) -> str:
    return run_dvc("seeds", *args)


class SeedsError(SystemExit):
    """A run or a collection that cannot give the aggregate; the message says why."""


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


def queue(run: str, seeds: list[int], overrides: list[str]) -> list[str]:
    """Queue every (configuration, seed) experiment; their names encode both."""
    configs = CONFIGS if overrides else CONFIGS[:1]
    names = [f"{run}-{config}-s{seed}" for config in configs for seed in seeds]
    taken = set(dvc("exp", "list", "--all-commits", "--name-only").split())
    taken |= set(queue_status().split())
    if taken & set(names):
        raise SeedsError(f"seeds: experiment name(s) {sorted(taken & set(names))} exist already; choose "
                         "another --name (or aggregate them with --collect)")
    for name in names:
        config, seed = NAME.match(name)["config"], NAME.match(name)["seed"]
        sets = [x for o in (overrides if config == "set" else []) for x in ("-S", o)]
        dvc("exp", "run", "--queue", "--name", name, "-S", f"train.seed={seed}", *sets)
    return names


def worker_env(jobs: int, cpus: int | None = None) -> dict[str, str]:
    """The environment the queue's workers (and the stages they run) inherit: with several jobs at
    once, each gets its share of the CPU cores as torch/OpenMP threads (OMP_NUM_THREADS), instead of
    every job starting one thread per core and all of them fighting over the cores. A value the user
    set is kept."""
    env = dict(os.environ)
    if jobs > 1 and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (cpus or os.cpu_count() or 1) // jobs))
    return env


def wait(names: list[str], jobs: int, poll_s: float = 5.0, timeout_s: float = 24 * 3600) -> None:
    """Start the queue and wait until none of `names` is queued or running; fail on any failure."""
    # The workers `queue start` spawns inherit its stdout/stderr: captured through pipes, those would
    # stay open as long as an idle worker lives. A file does not.
    with tempfile.TemporaryFile() as log:
        if subprocess.run(["dvc", "queue", "start", "--jobs", str(jobs)], stdin=subprocess.DEVNULL,
                          stdout=log, stderr=log, env=worker_env(jobs)).returncode:
            log.seek(0)
            raise SeedsError(f"seeds: `dvc queue start` failed:\n{log.read().decode(errors='replace')}")
    try:
        poll(names, poll_s, timeout_s)
    finally:
        dvc("queue", "stop")  # the workers, once idle (a failure leaves the others' results intact)


def poll(names: list[str], poll_s: float, timeout_s: float, lost_after: int = 12) -> None:
    deadline = time.monotonic() + timeout_s
    unseen = 0  # consecutive polls in which some experiment was not in the queue's list at all
    while True:
        status = {}  # experiment name -> its status word (Queued, Running, Success, Failed)
        for line in queue_status().splitlines():
            words = line.split()
            status.update({n: words[-1] for n in names if n in words})
        done = [n for n in names if status.get(n) in ("Success", "Failed")]
        failed = [n for n in done if status[n] == "Failed"]
        if failed:
            raise SeedsError(f"seeds: experiment(s) {failed} failed; see `dvc queue logs <name>`")
        known = ("Queued", "Running", "Success", "Failed")
        unseen = unseen + 1 if any(status.get(n) not in known for n in names) else 0
        if unseen >= lost_after:
            lost = {n: status.get(n, "missing") for n in names if status.get(n) not in known}
            raise SeedsError(f"seeds: the queue lost track of {lost}; see `dvc queue status`")
        if len(done) >= len(names):
            return
        if time.monotonic() > deadline:
            raise SeedsError(f"seeds: the queue did not finish within {timeout_s:.0f} s")
        print(f"seeds: {len(done)}/{len(names)} experiments done", file=sys.stderr)
        time.sleep(poll_s)


def experiments(all_commits: bool = False) -> dict[str, dict]:
    """Every experiment of `dvc exp show --json` (based on HEAD, or on any commit), by name: its params
    and test metrics."""
    found = {}
    for commit in json.loads(dvc("exp", "show", "--json", *(["--all-commits"] if all_commits else []))):
        for group in commit.get("experiments") or []:
            for rev in group.get("revs", []):
                data = rev.get("data") or {}
                metrics = (data.get("metrics") or {}).get(METRICS_FILE, {}).get("data")
                if rev.get("name") and metrics:
                    params = flat(data.get("params", {}).get("params.yaml", {}).get("data", {}))
                    found[rev["name"]] = {"rev": rev.get("rev"), "params": params,
                                          "finetuned_test": metrics["finetuned"]["test"]}
    return found


def flat(tree: dict, prefix: str = "") -> dict[str, object]:
    """{"train": {"epochs": 2}} -> {"train.epochs": 2}"""
    out: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def differences(params: dict, other: dict) -> list[str]:
    """The params (train.seed aside) whose values in `params` differ from `other`'s, as KEY=VALUE."""
    return [f"{k}={json.dumps(params.get(k))}" for k in sorted(set(params) | set(other))
            if k != "train.seed" and params.get(k) != other.get(k)]


def aggregate(run: str, all_commits: bool = False) -> dict:
    """The run's experiments, grouped by configuration, summarised over seeds, and compared."""
    by_config: dict[str, dict[int, dict]] = {}
    for name, exp in experiments(all_commits).items():
        match = NAME.match(name)
        if match and match["run"] == run:
            by_config.setdefault(match["config"], {})[int(match["seed"])] = {"experiment": name, **exp}
    if "params" not in by_config:
        raise SeedsError(f"seeds: no finished experiment named {run}-params-s<seed> in `dvc exp show`")
    # What the second configuration changed, read from the experiments' own params.
    first = {config: runs[min(runs)]["params"] for config, runs in by_config.items()}
    overrides = differences(first["set"], first["params"]) if "set" in first else []
    out: dict = {"run": run, "overrides": overrides, "configs": {}}
    for config, runs in sorted(by_config.items()):
        seeds = sorted(runs)
        entry = {"label": "params.yaml" if config == "params" else "params.yaml + " + " ".join(overrides),
                 "experiments": {str(s): runs[s]["experiment"] for s in seeds}}
        for key, _ in SCORES:
            values = [runs[s]["finetuned_test"][key] for s in seeds]
            entry[key] = {**seed_summary(values), "values": values}
        out["configs"][config] = entry
    if "set" in out["configs"]:
        a, b = out["configs"]["set"], out["configs"]["params"]
        out["comparison"] = {key: compare_seeds(a[key]["values"], b[key]["values"]) for key, _ in SCORES}
    return out


def markdown(result: dict) -> str:
    header = " | ".join(f"{label}: mean ± sd [min, max]" for _, label in SCORES)
    lines = [f"# Seeds: `{result['run']}`", "", f"| configuration | seeds | {header} |",
             "|---|---|" + "---|" * len(SCORES)]
    for entry in result["configs"].values():
        cells = []
        for key, _ in SCORES:
            s = entry[key]
            sd = "–" if s["std"] is None else f"{s['std']:.4f}"
            cells.append(f"{s['mean']:.4f} ± {sd} [{s['min']:.4f}, {s['max']:.4f}]")
        seeds = ", ".join(entry["experiments"])
        lines.append(f"| {entry['label']} | {seeds} | " + " | ".join(cells) + " |")
    if "comparison" in result:
        lines += ["", "| metric | overrides − params.yaml (means) | 95% interval (Welch's t) | p | verdict |",
                  "|---|---|---|---|---|"]
        for key, label in SCORES:
            c = result["comparison"][key]
            ci = "–" if c["ci_low"] is None else f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]"
            p = p_value(c["p"])
            lines.append(f"| {label} | {c['diff']:+.4f} | {ci} | {p} | {c['verdict']} |")
        lines += ["", "Each seed is one full run (fine-tuning and evaluation) with `train.seed` set; the "
                  "interval is for the difference of the two configurations' mean scores over their seeds."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="values of train.seed")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="params override of the second configuration (repeatable), e.g. train.epochs=2")
    parser.add_argument("--jobs", type=int, default=1, help="experiments run at once by the queue")
    parser.add_argument("--name", help="name of this run (default: seeds-<UTC time>)")
    parser.add_argument("--collect", metavar="NAME", help="aggregate the experiments of an earlier run only")
    parser.add_argument("--out", type=Path, default=Path("build/seeds"))
    args = parser.parse_args(argv)
    if args.collect:
        run = args.collect
    else:
        if len(set(args.seeds)) < 2:
            parser.error("--seeds: give at least 2 distinct seeds (a spread needs two)")
        run = args.name or "seeds-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        names = queue(run, sorted(set(args.seeds)), args.overrides)
        print(f"seeds: queued {len(names)} experiments ({run}); running the queue", file=sys.stderr)
        wait(names, args.jobs)
    result = aggregate(run, all_commits=bool(args.collect))  # an earlier run may sit on an older commit
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "seeds.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    table = markdown(result)
    (args.out / "seeds.md").write_text(table, encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
