"""The DVC cache a study fills, and how to empty it of what the report does not read.

Every experiment keeps its fine-tuned model (`models/finetuned`, a DVC output) in the DVC cache:
about 440 MB for the real base model, so a 12 x 5 study adds about 26 GB. The study's report reads
only git-tracked files of each experiment's commit (metrics, curves, per-row test predictions), never
the model. `estimate` says what a study will add (from the size DVC recorded for the workspace's
model); `prune` removes the models of the experiments a study made from the cache (not those it
reused from another study), keeping every object that the workspace, a branch, a tag or any other
experiment still uses (a model's tokenizer
files are the same in every run, for one). Afterwards the experiments stay in `dvc exp show` with
all their numbers; `dvc exp apply` of one gives its files without the model (`dvc repro` trains it
again). It refuses while experiments are queued or running (their outputs may share objects), and
when the cache lies outside this repository's .dvc (a cache shared with others).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from ja_sentiment.identity import load_yaml, lock_entry
from ja_sentiment.study import StudyError
from ja_sentiment.study_runs import MODEL_OUT
from ja_sentiment.tools.dvc_cli import exp_refs, git, queue_tasks, read_at, run_dvc

LOCK = "dvc.lock"


def model_bytes(lock: dict) -> int | None:
    """The size DVC recorded for the fine-tuned model's directory in a dvc.lock (None without one)."""
    size = lock_entry(lock, "finetune", MODEL_OUT).get("size")
    return int(size) if size else None


def estimate(n_experiments: int, lock_file: Path = Path(LOCK)) -> str:
    """What running `n_experiments` adds to the DVC cache, in words."""
    size = model_bytes(load_yaml(lock_file.read_text(encoding="utf-8"))) if lock_file.is_file() else None
    if size is None:
        return "cache: no estimate (the workspace's dvc.lock records no fine-tuned model to size it by)"
    return (f"cache: about {size * n_experiments / 1e6:,.0f} MB added to the DVC cache for {n_experiments} "
            f"models ({size / 1e6:,.0f} MB each, the size of the workspace's {MODEL_OUT}); "
            "--prune-models removes them once the report is written")


def cache_dir() -> Path:
    return Path(run_dvc("study", "cache", "dir").strip())


def object_path(cache: Path, md5: str) -> Path:
    return cache / "files" / "md5" / md5[:2] / md5[2:]


def objects(cache: Path, lock: dict, only: str | None = None) -> set[str]:
    """The cache objects a dvc.lock's outputs use (every output, or only the one at `only`): each
    file's md5, and for a directory its manifest (`<md5>.dir`) and the files it lists."""
    found = set()
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            md5 = out.get("md5")
            if not md5 or (only and out.get("path") != only):
                continue
            found.add(md5)
            manifest = object_path(cache, md5)
            if md5.endswith(".dir") and manifest.is_file():
                found.update(entry["md5"] for entry in json.loads(manifest.read_text()))
    return found


def _locks(revs: Iterable[str]) -> list[dict]:
    texts = [read_at(rev, LOCK) for rev in revs]
    return [load_yaml(t) for t in texts if t]


def prune(commits: Iterable[str]) -> tuple[int, int]:
    """Remove the fine-tuned models of the experiments at `commits` from the DVC cache, except objects
    still used by the workspace, HEAD, any branch or tag, or any other experiment. (files, bytes) removed."""
    commits = set(commits)
    cache = cache_dir()
    if not cache.resolve().is_relative_to(Path(".dvc").resolve()):
        raise StudyError(f"study: --prune-models: the DVC cache is at {cache}, outside this repository's "
                         ".dvc (perhaps shared with others, whose objects this repository cannot see); "
                         "prune it with `dvc gc` there")
    busy = [t.name for t in queue_tasks() if t.status in ("Queued", "Running")]
    if busy:
        raise StudyError(f"study: --prune-models: {len(busy)} experiment(s) still queued or running "
                         f"({', '.join(busy[:3])}...); prune once they have finished")
    drop = set().union(*[objects(cache, lock, MODEL_OUT) for lock in _locks(commits)])
    keepers = [ref.commit for ref in exp_refs() if ref.commit not in commits]
    keepers += git("for-each-ref", "--format=%(objectname)", "refs/heads", "refs/tags").split()
    keepers += [git("rev-parse", "HEAD").strip()]
    locks = _locks(keepers)
    if Path(LOCK).is_file():
        locks.append(load_yaml(Path(LOCK).read_text(encoding="utf-8")))
    keep = set().union(*[objects(cache, lock) for lock in locks])
    files = size = 0
    # The files first, the manifests last: an interrupted prune never leaves a manifest pointing nowhere
    # that it would not also remove on the next try.
    for md5 in sorted(drop - keep, key=lambda m: m.endswith(".dir")):
        path = object_path(cache, md5)
        if path.is_file():
            size += path.stat().st_size
            path.unlink()
            files += 1
    return files, size
