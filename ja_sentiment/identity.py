"""What makes two experiments the same experiment: their inputs, as DVC itself records them.

An experiment that runs the pipeline up to a target stage (`evaluate` for a study) is fixed by, for
the target and every stage upstream of it in dvc.yaml: the command, the content of each code file the
stage depends on (md5, as DVC hashes it), and the values of the params it reads. The data are pinned
by params: `fetch` refuses a file whose sha256 is not `data.sha256`, and every other data file is an
output of these stages. Where the corpus is fetched from and how (`data.url`, `data.retries`,
`data.timeout`) is left out: the same bytes from a mirror or a local copy make the same experiment.
What is not part of it, as for DVC: the environment (library versions, hardware, the Hugging Face
cache behind a pinned model revision).

`expected` computes the inputs from a working tree and a params tree before anything runs;
`recorded` reads them from an experiment's dvc.lock (what DVC wrote when it ran the stages); `digest`
names them. Two experiments with the same digest are the same experiment, whatever their names or
the study that made them; `differences` says where two sets of inputs part.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

from ruamel.yaml import YAML

TARGET = "evaluate"  # the last stage a study's experiment runs
HOW_TO_FETCH = ("url", "retries", "timeout")  # keys of the `data` section left out (see above)
PARAMS_YAML = "params.yaml"


class IdentityError(ValueError):
    """dvc.yaml or dvc.lock cannot give an experiment's inputs; the message says why."""


def load_yaml(text: str) -> dict:
    """YAML as DVC reads it (ruamel, YAML 1.2: `1e-5` is a number), as plain dicts and lists."""
    return json.loads(json.dumps(YAML(typ="safe", pure=True).load(io.StringIO(text)) or {}))


def _paths(entries: list | None) -> list[str]:
    """dvc.yaml's outs/metrics/plots/deps entries: a path, or {path: options}."""
    out = []
    for entry in entries or []:
        out.extend([entry] if isinstance(entry, str) else list(entry))
    return out


def _params(entries: list | None) -> list[str]:
    keys = []
    for entry in entries or []:
        if isinstance(entry, str):
            keys.append(entry)
        else:
            for file, names in entry.items():
                if file != PARAMS_YAML:
                    raise IdentityError(f"params from {file}: only {PARAMS_YAML} is supported")
                keys.extend(names or [])
    return keys


def _inside(a: str, b: str) -> bool:
    a, b = a.rstrip("/"), b.rstrip("/")
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def stages(dvc_yaml: dict, target: str = TARGET) -> dict[str, dict]:
    """The target and every stage upstream of it: {name: {cmd, code, params}}, where `code` lists the
    dependencies no stage produces (the code files) and `params` the params keys it reads."""
    defined = dvc_yaml.get("stages") or {}
    if target not in defined:
        raise IdentityError(f"dvc.yaml has no stage {target!r}")
    produced = {name: [*_paths(s.get("outs")), *_paths(s.get("metrics")),
                       *[p for p in _paths(s.get("plots")) if not p.startswith("${")]]
                for name, s in defined.items()}
    out: dict[str, dict] = {}
    todo = [target]
    while todo:
        name = todo.pop()
        if name in out:
            continue
        stage = defined[name]
        code = []
        for dep in _paths(stage.get("deps")):
            makers = [other for other, outs in produced.items() if any(_inside(dep, o) for o in outs)]
            todo.extend(makers)
            if not makers:
                code.append(dep)
        out[name] = {"cmd": stage.get("cmd"), "code": sorted(code), "params": _params(stage.get("params"))}
    return dict(sorted(out.items()))


def _value(tree: dict, key: str):
    node = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise IdentityError(f"params.yaml has no key {key!r}")
        node = node[part]
    return node


def _what(key: str, value):
    """A param's value as identity sees it: the `data` section without how to fetch."""
    if key == "data" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in HOW_TO_FETCH}
    return value


def _kept(key: str) -> bool:
    return not (key.startswith("data.") and key.split(".", 1)[1] in HOW_TO_FETCH)


def md5_file(path: Path) -> str:
    """The md5 DVC 3 records for a file dependency (`hash: md5`: of its bytes as they are)."""
    if path.is_dir():
        raise IdentityError(f"{path}: a code dependency that is a directory is not supported")
    if not path.is_file():
        raise IdentityError(f"{path}: a dependency of the pipeline is missing")
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def expected(dvc_yaml: dict, params: dict, root: Path, target: str = TARGET,
             hashes: dict[str, str] | None = None) -> dict[str, dict]:
    """The inputs an experiment with these params will have, from the files under `root` (`hashes`:
    md5 by path already computed, reused and filled)."""
    hashes = {} if hashes is None else hashes
    out = {}
    for name, stage in stages(dvc_yaml, target).items():
        for path in stage["code"]:
            if path not in hashes:
                hashes[path] = md5_file(root / path)
        out[name] = {"cmd": stage["cmd"], "code": {p: hashes[p] for p in stage["code"]},
                     "params": {k: _what(k, _value(params, k)) for k in stage["params"] if _kept(k)}}
    return out


def recorded(dvc_yaml: dict, lock: dict, target: str = TARGET) -> dict[str, dict]:
    """The inputs DVC recorded in a dvc.lock for the same stages (with that commit's dvc.yaml)."""
    out = {}
    locked = lock.get("stages") or {}
    for name, stage in stages(dvc_yaml, target).items():
        if name not in locked:
            raise IdentityError(f"dvc.lock has no stage {name!r}")
        entry = locked[name]
        deps = {d["path"]: d.get("md5") for d in entry.get("deps") or []}
        missing = [p for p in stage["code"] if not deps.get(p)]
        if missing:
            raise IdentityError(f"dvc.lock's stage {name!r} records no hash of {missing}")
        values = (entry.get("params") or {}).get(PARAMS_YAML) or {}
        absent = [k for k in stage["params"] if k not in values]
        if absent:
            raise IdentityError(f"dvc.lock's stage {name!r} records no params {absent}")
        out[name] = {"cmd": entry.get("cmd"), "code": {p: deps[p] for p in stage["code"]},
                     "params": {k: _what(k, values[k]) for k in stage["params"] if _kept(k)}}
    return out


def digest(inputs: dict) -> str:
    """sha256 of the inputs (canonical JSON): the experiment's identity."""
    text = json.dumps(inputs, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def differences(want: dict, have: dict, limit: int = 3) -> str:
    """Where two sets of inputs part, in a few words: `finetune: params train.seed 42 != 1`."""
    out = []
    for name in sorted(set(want) | set(have)):
        a, b = want.get(name), have.get(name)
        if a is None or b is None:
            out.append(f"stage {name} {'not recorded' if b is None else 'not planned'}")
            continue
        if a["cmd"] != b["cmd"]:
            out.append(f"{name}: command")
        for path in sorted(set(a["code"]) | set(b["code"])):
            if a["code"].get(path) != b["code"].get(path):
                out.append(f"{name}: code {path}")
        for key, va, vb in _flat_diff(a["params"], b["params"]):
            out.append(f"{name}: params {key} recorded {json.dumps(vb)}, planned {json.dumps(va)}")
    more = f" (and {len(out) - limit} more)" if len(out) > limit else ""
    return "; ".join(out[:limit]) + more


def _flat_diff(a: dict, b: dict, prefix: str = "") -> list[tuple[str, object, object]]:
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out.extend(_flat_diff(va, vb, f"{prefix}{key}."))
        elif va != vb:
            out.append((f"{prefix}{key}", va, vb))
    return out


def lock_entry(lock: dict, stage: str, path: str, kind: str = "outs") -> dict:
    """A stage's entry for `path` among its `kind` (outs or deps) in a dvc.lock; {} where it has none."""
    entries = ((lock.get("stages") or {}).get(stage) or {}).get(kind) or []
    return next((e for e in entries if e.get("path") == path), {})
