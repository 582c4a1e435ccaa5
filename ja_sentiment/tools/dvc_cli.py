"""The `dvc` and `git` command lines as the tools call them, in one place: output back, or one message
naming the failed command; the `-S` overrides of an experiment; the experiment refs DVC keeps in Git
and the tasks of its queue."""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


def run_dvc(tool: str, *args: str) -> str:
    """stdout of `dvc *args`; on failure exit with `<tool>: `dvc ...` failed:` and DVC's own message."""
    proc = subprocess.run(["dvc", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{tool}: `dvc {' '.join(args)}` failed:\n{(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def git(*args: str, cwd: str | Path | None = None, check: bool = True) -> str:
    """stdout of `git *args`; on failure (with `check`) exit with the command and git's message."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode:
        raise SystemExit(f"study: `git {' '.join(args)}` failed: {proc.stderr.strip()[-1000:]}")
    return proc.stdout


def read_at(rev: str, path: str) -> str | None:
    """A file's text at a commit (None where the commit has no such file)."""
    proc = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else None


def set_args(overrides: dict[str, object]) -> list[str]:
    """`-S key=value` for each override, values as JSON (which YAML reads back as the same value)."""
    return [x for key, value in overrides.items()
            for x in ("-S", f"{key}={json.dumps(value, ensure_ascii=False)}")]


# DVC keeps a finished experiment as refs/exps/<baseline[:2]>/<baseline[2:]>/<name>; its queue's own
# refs (refs/exps/celery/stash, .../failed, refs/exps/exec/...) are not experiments.
EXP_REF = re.compile(r"^refs/exps/([0-9a-f]{2})/([0-9a-f]{38})/(.+)$")


@dataclass(frozen=True)
class ExpRef:
    name: str
    commit: str  # the experiment's commit
    baseline: str  # the commit it was run on
    time: int  # commit time (unix seconds)


def exp_refs(remote: str | None = None) -> list[ExpRef]:
    """Every finished experiment in this repository (or, with `remote`, on that Git remote: commit
    and time then unknown locally, time 0). Failed and queued runs have no such ref."""
    if remote:
        lines = [line.split("\t")[::-1] for line in git("ls-remote", remote, "refs/exps/*", check=False)
                 .splitlines() if "\t" in line]
        found = [(ref, sha, "0") for ref, sha in lines]
    else:
        found = [tuple(line.split(" ")) for line in git(
            "for-each-ref", "--format=%(refname) %(objectname) %(committerdate:unix)", "refs/exps/")
            .splitlines()]
    out = []
    for ref, sha, when in found:
        match = EXP_REF.match(ref)
        if match:
            out.append(ExpRef(match[3], sha, match[1] + match[2], int(when)))
    return out


@dataclass(frozen=True)
class Task:
    id: str  # the queue's task id: the first 7 hex digits of the experiment's stash commit
    name: str
    status: str  # Queued, Running, Success, Failed


def queue_state(tool: str = "study", attempts: int = 5, pause_s: float = 2.0
                ) -> tuple[list[Task], int | None]:
    """The tasks `dvc queue status` lists (old Success and Failed lines included: DVC keeps them until
    `dvc queue remove`), and how many queue workers are alive (None if it does not say). Read again
    when it fails: while workers start and finish experiments, DVC can read one of its own state files
    half-written ("Expecting value: line 1 column 1") and fail once. Only a failure that persists over
    `attempts` reads stops the run."""
    for _ in range(attempts - 1):
        try:
            return parse_queue(run_dvc(tool, "queue", "status"))
        except SystemExit:
            time.sleep(pause_s)
    return parse_queue(run_dvc(tool, "queue", "status"))


def queue_tasks(tool: str = "study", attempts: int = 5, pause_s: float = 2.0) -> list[Task]:
    """The tasks of `queue_state`."""
    return queue_state(tool, attempts, pause_s)[0]


def parse_queue(text: str) -> tuple[list[Task], int | None]:
    """Task lines of `dvc queue status` (`<id>  <name>  <created: one or more words>  <status>`) and its
    `Worker status: <n> active, <m> idle` line (n + m workers alive)."""
    tasks = []
    alive = None
    for line in text.splitlines():
        words = line.split()
        workers = re.match(r"Worker status: (\d+) active, (\d+) idle", line.strip())
        if workers:
            alive = int(workers[1]) + int(workers[2])
        elif len(words) >= 4 and re.fullmatch(r"[0-9a-f]{7,40}", words[0]):
            tasks.append(Task(words[0], words[1], words[-1]))
    return tasks, alive
