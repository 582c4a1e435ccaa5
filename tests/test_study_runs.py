"""Which experiments a study counts, without a DVC run: identity by content (the project's real
dvc.yaml and code files), the provenance checks on experiments made up from it, the plan a re-run
makes of the queue's old lines, the lock, and arguments refused before anything is queued. (The same
on real DVC runs, with a training killed mid-way: tests/test_e2e.py.)"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from ja_sentiment import identity
from ja_sentiment import study as st
from ja_sentiment.study_runs import survey
from ja_sentiment.tools import study as tool
from ja_sentiment.tools.dvc_cli import ExpRef, Task, parse_queue

ROOT = Path(__file__).resolve().parent.parent
WORKSPACE = identity.load_yaml((ROOT / "params.yaml").read_text(encoding="utf-8"))
DVC_YAML = identity.load_yaml((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
STUDY = st.StudyFile(name="s", configs={"baseline": st.Config(), "a": st.Config(set={"train.epochs": 2})})


def planned(seeds=(1, 2), study: st.StudyFile = STUDY) -> list[dict]:
    return tool.identify(st.plan(study, list(seeds)), WORKSPACE, ROOT)


def test_identity_is_the_code_params_and_data_not_the_name_nor_where_the_data_came_from(tmp_path):
    def ident(overrides: dict, root: Path = ROOT) -> str:
        params = st.with_overrides(WORKSPACE, overrides)
        return identity.digest(identity.expected(DVC_YAML, params, root))

    base = ident({"train.seed": 1})
    assert ident({"train.seed": 1}) == base != ident({"train.seed": 2})
    assert ident({"train.seed": 1, "train.epochs": 2}) != base
    # The same bytes from a mirror: fetch checks data.sha256, which stays part of the identity.
    assert ident({"train.seed": 1, "data.url": "/mirror/pn.tsv", "data.retries": 0}) == base
    assert ident({"train.seed": 1, "data.sha256": "0" * 64}) != base
    # Params no stage up to evaluate reads (error analysis's) do not change it.
    assert ident({"train.seed": 1, "error_analysis.neighbours": 9}) == base
    # A code file a stage depends on, edited by one byte, does; a file none depends on does not.
    copy = tmp_path / "copy"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", ".dvc", "build", "data",
                                                              "models"))
    assert ident({"train.seed": 1}, copy) == base
    (copy / "README.md").write_text("changed")
    assert ident({"train.seed": 1}, copy) == base
    with open(copy / "ja_sentiment/training.py", "a", encoding="utf-8") as f:
        f.write("\n")
    assert ident({"train.seed": 1}, copy) != base
    # The stages up to evaluate, nothing after it.
    assert sorted(identity.stages(DVC_YAML)) == ["baseline_pipeline", "baseline_tfidf", "evaluate", "fetch",
                                                 "finetune", "label_issues", "preprocess"]
    assert identity.load_yaml("lr: 1e-5\n") == {"lr": 1e-5}  # YAML 1.2, as DVC reads it (PyYAML: a string)


def lock_text(inputs: dict, model: str = "aaa.dir", used: str | None = None, data: str = "d1") -> str:
    """A dvc.lock as DVC writes it for these inputs (the model's hash as finetune's output, and as
    evaluate's dependency: `used`, the same unless given)."""
    stages = {name: {"cmd": s["cmd"],
                     "deps": [{"path": p, "hash": "md5", "md5": h} for p, h in s["code"].items()],
                     "params": {"params.yaml": s["params"]}} for name, s in inputs.items()}
    stages["finetune"]["outs"] = [{"path": "models/finetuned", "hash": "md5", "md5": model}]
    stages["evaluate"]["deps"].append({"path": "models/finetuned", "hash": "md5", "md5": used or model})
    stages["fetch"]["outs"] = [{"path": "data/raw/pn.tsv", "hash": "md5", "md5": data}]
    return yaml.safe_dump({"schema": "2.0", "stages": stages})


def experiment(files: dict, commit: str, name: str, inputs: dict, run_id: str = "r1",
               evaluated: str | None = None, when: int = 1, used: str | None = None, data: str = "d1"
               ) -> ExpRef:
    """Files of a made-up experiment commit: its dvc.yaml and dvc.lock, metrics, test rows."""
    files[commit] = {
        "dvc.yaml": (ROOT / "dvc.yaml").read_text(encoding="utf-8"),
        "dvc.lock": lock_text(inputs, used=used, data=data),
        "dvclive/metrics.json": json.dumps({"run_id": run_id, "best_epoch": 2}),
        "metrics/evaluate.json": json.dumps({"models": {"finetuned": {"run_id": evaluated or run_id}},
                                             "finetuned": {"test": {"macro_f1": 0.5, "accuracy": 0.6}},
                                             "standin": True}),
        st.TEST_ROWS: "id,gold,pred\n"}
    return ExpRef(name, commit, "b" * 40, when)


def test_a_result_counts_only_with_its_identity_and_its_provenance():
    plan = planned()
    files: dict[str, dict] = {}
    base1, base2, a1, a2 = plan  # plan order: by configuration, then seed
    # What DVC lists for a killed queued run: the stash commit's -S params, the baseline commit's lock.
    killed = identity.expected(DVC_YAML, WORKSPACE, ROOT)
    refs = [experiment(files, "c1", base1["name"], base1["inputs"], run_id="r1"),
            experiment(files, "c2", a1["name"], killed),
            experiment(files, "c3", base2["name"], base2["inputs"], run_id="r3", evaluated="r0"),
            experiment(files, "c4", a2["name"], a2["inputs"], used="other.dir"),
            experiment(files, "c5", "other-study-name", a2["inputs"], run_id="r5", when=2),
            experiment(files, "c6", "unrelated", killed),
            experiment(files, "c7", base2["name"] + "-other-data", base2["inputs"], data="d2")]
    found, left_out = survey(plan, refs, lambda commit, path: files[commit].get(path), data_md5="d1")
    assert {k: v["name"] for k, v in found.items()} == {base1["identity"]: base1["name"],
                                                        a2["identity"]: "other-study-name"}
    assert found[base1["identity"]]["run_id"] == "r1" and found[base1["identity"]]["rev"] == "c1"
    why = {e["name"]: e["why"] for e in left_out}
    # `unrelated` is no business of this study
    assert set(why) == {a1["name"], base2["name"], a2["name"], base2["name"] + "-other-data"}
    assert why[base2["name"] + "-other-data"] == ("its data/raw/pn.tsv (md5 d2) is not the workspace's "
                                                  "(md5 d1)")
    assert why[a1["name"]].startswith("its dvc.lock records other inputs than planned: finetune: params "
                                      "train.epochs recorded 5, planned 2; finetune: params train.seed "
                                      "recorded 42")
    assert why[base2["name"]] == ("its metrics/evaluate.json scores finetune run r0 but its "
                                  "dvclive/metrics.json is of run r3")
    assert why[a2["name"]].startswith("its dvc.lock: evaluate read another models/finetuned")
    # Made before runs were recorded: no run id.
    files["c1"]["dvclive/metrics.json"] = json.dumps({"best_epoch": 2})
    found, left_out = survey(plan[:1], refs[:1], lambda commit, path: files[commit].get(path))
    assert found == {} and "no run id" in left_out[0]["why"]


def test_a_rerun_reuses_by_identity_waits_for_the_queue_and_clears_stale_lines():
    plan = planned()
    base1, base2, a1, a2 = plan
    twin = planned(study=st.StudyFile(name="s", configs={"baseline": st.Config(),
                                                         "b": st.Config(set={"train.epochs": 2})}))[2]
    found = {base1["identity"]: {"name": "elsewhere"}}
    tasks, alive = parse_queue(f"""Task     Name    Created    Status
1111111  {base2['name']}  07:46 AM   Success
2222222  {a1['name']}  07:46 AM   Failed
3333333  {a1['name']}  Dec 01, 2026   Running
4444444  {a2['name']}  07:46 AM   Failed

Worker status: 1 active, 0 idle
""")
    assert tasks[2] == Task("3333333", a1["name"], "Running") and alive == 1
    groups = tool.classify([*plan, twin], found, tasks, refs={base2["name"]})
    assert [e["name"] for e in groups["done"]] == [base1["name"]]
    waiting = [(e["name"], e["task"]) for e in groups["waiting"]]
    assert waiting == [(a1["name"], "3333333"), (twin["name"], None)]
    assert [e["name"] for e in groups["blocked"]] == [base2["name"]]  # a ref left out holds its name
    assert [e["name"] for e in groups["run"]] == [a2["name"]]
    assert groups["stale"] == ["4444444"]  # the old Failed line goes before it is queued again
    groups = tool.classify(plan, {}, tasks, refs=set())  # a stale Success line of a removed experiment
    assert base2 in groups["run"] and groups["stale"] == ["1111111", "4444444"]
    # A twin of a blocked experiment is blocked too (it would otherwise wait for nothing).
    twin2 = {**twin, "identity": a2["identity"], "name": "s-b-s2-x"}
    groups = tool.classify([a2, twin2], {}, [], refs={a2["name"]})
    assert [e["name"] for e in groups["blocked"]] == [a2["name"], "s-b-s2-x"] and groups["waiting"] == []


def test_one_value_makes_one_experiment_however_the_study_file_spells_it():
    spelled = [st.StudyFile(name="s", configs={"baseline": st.Config(),
                                               "a": st.Config(set={"train.learning_rate": value,
                                                                   "train.weight_decay": decay})})
               for value, decay in (("1e-5", 0), (1e-05, 0.0), (0.00001, "0.0"))]
    ids = [planned(study=study)[2] for study in spelled]
    assert len({e["identity"] for e in ids}) == 1
    assert ids[0]["set"] == {"train.learning_rate": 1e-05, "train.weight_decay": 0.0, "train.seed": 1}


def test_one_study_per_repository_at_a_time(tmp_path):
    lock = tmp_path / "study.lock"
    with tool.study_lock("first", lock):
        with pytest.raises(SystemExit, match=r"^study: another study is running in this repository: first "
                           rf"\(pid {os.getpid()}, started [0-9: -]+\); wait for it to finish or stop it$"):
            with tool.study_lock("second", lock):
                pass
    with tool.study_lock("third", lock):  # released when the first ended
        assert lock.read_text().startswith("third")


@pytest.fixture
def no_dvc(tmp_path, monkeypatch) -> Path:
    """A `dvc` first on PATH that records every call: refused arguments must never reach DVC."""
    calls = tmp_path / "calls"
    script = tmp_path / "bin" / "dvc"
    script.parent.mkdir()
    script.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 1\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}:{os.environ['PATH']}")
    monkeypatch.chdir(ROOT)
    return calls


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "1", "1", "2"], r"--seeds 1 1 2: a seed is given twice"),
    (["--seeds", "1"], r"--seeds: give at least 2 distinct seeds"),
    (["--seeds", "-1", "2"], r"--seeds \[-1\]: seeds are integers from 0 to 2\*\*32 - 1"),
    (["--seeds", "one", "2"], r"argument --seeds: invalid int value: 'one' \(--help lists the options\)"),
    (["--jobs", "0"], r"--jobs 0: at least 1"),
    (["--jobs-per-gpu", "0"], r"--jobs-per-gpu 0: at least 1"),
    (["--cpus-per-task", "0"], r"--cpus-per-task 0.0: more than 0"),
    (["--dvc-remote", "store"], r"--dvc-remote: only with --engine ray"),
    (["--collect", "--dry-run"], r"--collect and --dry-run: give one"),
    (["--out", "params.yaml"], r"--out params.yaml: a file, not a folder"),
    (["--only", "nothing"], r"--only \['nothing'\]: not configurations of overfitting"),
    (["--engine", "slurm"], r"argument --engine: invalid choice: 'slurm'"),
])
def test_nonsense_stops_with_one_line_before_anything_is_queued(no_dvc, argv, message):
    with pytest.raises(SystemExit) as stop:
        tool.main(["studies/overfitting.yaml", *argv])
    text = str(stop.value)
    assert text.startswith("study: ") and "\n" not in text
    assert re.search(message, text), text
    assert not no_dvc.exists()  # DVC was never called


def test_a_missing_study_file_or_both_kinds_of_study_stop_with_one_line(no_dvc, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: s\nconfigs: {baseline: {}\n")
    with pytest.raises(SystemExit, match=rf"^study: cannot read {broken}: while parsing a flow mapping"):
        tool.main([str(broken)])
    with pytest.raises(SystemExit, match=r"^study: studies/none\.yaml: no such study file$"):
        tool.main(["studies/none.yaml"])
    with pytest.raises(SystemExit, match=r"^study: give a study file or --set KEY=VALUE"):
        tool.main(["studies/overfitting.yaml", "--set", "train.epochs=2"])
    with pytest.raises(SystemExit, match=r"^study: --set train\.epoch: no such key in params\.yaml$"):
        tool.main(["--set", "train.epoch=2"])
    assert not no_dvc.exists()
