"""Which finished experiments are a study's results: found by identity, counted only when provably
their own.

A planned experiment (a configuration's params with one seed) has an identity: the digest of its
inputs (ja_sentiment/identity.py: the code, params and data of every stage up to `evaluate`). Every
finished experiment in the repository (DVC's refs/exps, whatever its name, study or baseline commit)
whose dvc.lock records the same inputs is that experiment, and is reused; nothing else ever counts
for it. Before its numbers count, its provenance is checked:

- its dvc.lock records exactly the planned inputs (a failed run that DVC lists with the baseline
  commit's metrics, or a run of other params or code under the planned name, records others);
- `finetune` wrote a run id into dvclive/metrics.json and the model's provenance.json, `evaluate`
  copied it from there into metrics/evaluate.json: the two must agree (the scores are of that model);
- in its dvc.lock, `evaluate` read the very model `finetune` wrote (same hash), and the corpus file
  `fetch` wrote is the workspace's (same md5; its identity already pins data.sha256);
- the per-row test predictions the study pairs are there.

An experiment that fails a check is left out, and the report says which and why.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from ja_sentiment.data import FINETUNED_DIR, RAW_FILE
from ja_sentiment.identity import IdentityError, differences, digest, load_yaml, lock_entry, recorded
from ja_sentiment.study import TEST_ROWS
from ja_sentiment.tools.dvc_cli import ExpRef

DATA_FILE = RAW_FILE.as_posix()  # the corpus as fetched
LIVE_METRICS = "dvclive/metrics.json"
METRICS_FILE = "metrics/evaluate.json"
MODEL_OUT = FINETUNED_DIR.as_posix()

# Reading an experiment's files: `read(rev, path) -> text or None` (git show of the experiment's commit).
Reader = Callable[[str, str], str | None]


def lock_at(commit: str, read: Reader) -> tuple[dict, dict]:
    """A commit's dvc.lock and the inputs DVC recorded in it (with the commit's dvc.yaml)."""
    dvc_yaml, lock = read(commit, "dvc.yaml"), read(commit, "dvc.lock")
    if dvc_yaml is None or lock is None:
        raise IdentityError("no dvc.yaml or dvc.lock in its commit")
    lock = load_yaml(lock)
    return lock, recorded(load_yaml(dvc_yaml), lock)


def _json(read: Reader, commit: str, path: str) -> dict | None:
    text = read(commit, path)
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return None


def provenance(ref: ExpRef, read: Reader, lock: dict, data_md5: str | None = None) -> tuple[dict | None, str]:
    """The experiment's record for the study (scores, kept epoch, run id, ...), or None and why not.
    `lock`: its dvc.lock; `data_md5`: the corpus file's md5 it must have recorded (the workspace's;
    None: not checked)."""
    live, scores = _json(read, ref.commit, LIVE_METRICS), _json(read, ref.commit, METRICS_FILE)
    if live is None or scores is None:
        return None, f"no {LIVE_METRICS if live is None else METRICS_FILE}"
    run_id = live.get("run_id")
    if not run_id:
        return None, "no run id in its dvclive/metrics.json (made before runs were recorded)"
    evaluated = ((scores.get("models") or {}).get("finetuned") or {}).get("run_id")
    if evaluated != run_id:
        return None, (f"its {METRICS_FILE} scores finetune run {evaluated} but its {LIVE_METRICS} "
                      f"is of run {run_id}")
    made = lock_entry(lock, "finetune", MODEL_OUT).get("md5")
    used = lock_entry(lock, "evaluate", MODEL_OUT, "deps").get("md5")
    if not made or made != used:
        return None, f"its dvc.lock: evaluate read another {MODEL_OUT} ({used}) than finetune wrote ({made})"
    data = lock_entry(lock, "fetch", DATA_FILE).get("md5")
    if data_md5 and data != data_md5:
        return None, f"its {DATA_FILE} (md5 {data}) is not the workspace's (md5 {data_md5})"
    if read(ref.commit, TEST_ROWS) is None:
        return None, f"no {TEST_ROWS}"
    test = (scores.get("finetuned") or {}).get("test")
    if not test:
        return None, f"no finetuned test scores in {METRICS_FILE}"
    return {"name": ref.name, "rev": ref.commit, "baseline": ref.baseline, "run_id": run_id, "test": test,
            "data_md5": data, "best_epoch": live.get("best_epoch"), "standin": scores.get("standin"),
            "cuda_visible_devices": live.get("cuda_visible_devices"), "engaged": live.get("engaged")}, ""


def survey(planned: Sequence[dict], refs: Sequence[ExpRef], read: Reader, data_md5: str | None = None
           ) -> tuple[dict[str, dict], list[dict]]:
    """For each planned identity, the experiment that is its result (the newest of those that pass
    every check); and the experiments left out: those recording the planned inputs but failing a check,
    and those under a planned name whose inputs are not the planned ones."""
    wanted = {e["identity"]: e for e in planned}
    names = {e["name"]: e for e in planned}
    found: dict[str, dict] = {}
    left_out = []
    for ref in sorted(refs, key=lambda r: (r.time, r.name)):
        try:
            lock, inputs = lock_at(ref.commit, read)
        except IdentityError as err:
            if ref.name in names:
                left_out.append({"name": ref.name, "why": f"its inputs cannot be read: {err}"})
            continue
        key = digest(inputs)
        if key not in wanted:
            if ref.name in names:
                why = differences(names[ref.name]["inputs"], inputs)
                left_out.append({"name": ref.name,
                                 "why": f"its dvc.lock records other inputs than planned: {why}"})
            continue
        record, why = provenance(ref, read, lock, data_md5)
        if record is None:
            left_out.append({"name": ref.name, "why": why})
        else:
            found[key] = record  # sorted by time: the newest wins
    return found, left_out
