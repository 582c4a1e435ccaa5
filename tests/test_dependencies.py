"""Each stage's code `deps` in dvc.yaml are exactly the project files it imports, derived from the code.

Too few and a change leaves results stale without DVC noticing; too many and `dvc repro` re-runs a
stage (retrains a model) for a change to code it never runs. The import closure is read from the
source with `ast` (imports inside functions included), so it needs no imports of its own.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

STAGE_CMD = re.compile(r"^python -m (stages\.\w+)$")


def module_file(root: Path, module: str) -> Path | None:
    """The file that runs when `module` is imported: a/b.py or a/b/__init__.py (None: not ours)."""
    base = root.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_modules(path: Path, module: str) -> set[str]:
    """Every module an import statement in `path` names, with each parent package (imported first)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the current package upwards
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(filter(None, [*parts, node.module or ""]))
            else:
                base = node.module or ""
            # `from a import b`: b may be a submodule (then it is imported too) or a name in a.
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return found


def import_closure(root: Path, module: str) -> set[str]:
    """Project files (relative POSIX paths) that running `python -m module` from `root` executes."""
    seen: set[str] = set()
    files: set[str] = set()
    parts = module.split(".")
    todo = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]  # parent packages run first
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(root, name)
        if path is None:
            continue
        files.add(path.relative_to(root).as_posix())
        todo.extend(imported_modules(path, name) - seen)
    return files


def code_deps(deps: list[str]) -> set[str]:
    """The deps that are code: Python files (other deps are data: files and directories)."""
    return {d for d in deps if d.endswith(".py")}


def stage_modules(root: Path) -> dict[str, str]:
    stages = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    out = {}
    for name, stage in stages.items():
        match = STAGE_CMD.match(stage["cmd"].strip())
        assert match, f"stage {name}: cmd {stage['cmd']!r} is not `python -m stages.<name>`"
        out[name] = match.group(1)
    return out


def check_deps(root: Path) -> list[str]:
    """Every mismatch between a stage's code deps in dvc.yaml and the files its module imports."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    problems = []
    for name, module in stage_modules(root).items():
        listed = code_deps(stages[name].get("deps", []))
        used = import_closure(root, module)
        problems += [f"stage {name}: dvc.yaml misses {f} (imported by {module})"
                     for f in sorted(used - listed)]
        problems += [f"stage {name}: dvc.yaml lists {f}, which {module} does not import"
                     for f in sorted(listed - used)]
    return problems


def test_every_stage_lists_exactly_the_code_it_imports():
    assert check_deps(ROOT) == []


def test_stages_dir_holds_exactly_the_stage_scripts():
    modules = stage_modules(ROOT)
    assert modules == {name: f"stages.{name}" for name in modules}  # module name = stage name
    assert sorted(p.stem for p in (ROOT / "stages").glob("*.py")) == sorted(modules)
    assert len(modules) == 9


def project_modules(root: Path) -> list[str]:
    """Every module of the library, the stages, the tools and the bench."""
    return [".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
            for folder in ("ja_sentiment", "stages", "bench") for p in sorted((root / folder).rglob("*.py"))]


def test_nothing_imports_a_stage():
    for module in project_modules(ROOT):
        stage_files = {f for f in import_closure(ROOT, module) if f.startswith("stages/")}
        own = {f"{module.replace('.', '/')}.py"} if module.startswith("stages.") else set()
        assert stage_files == own, f"{module} imports the stage(s) {sorted(stage_files - own)}"


# --- the checker itself, on a small project whose answer is known ---------------------------------


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    """stages/train.py imports lib.model (which imports lib.io lazily, inside a function);
    stages/report.py imports lib.io only. lib/plots.py is imported by nobody."""
    write(tmp_path / "lib/__init__.py", "")
    write(tmp_path / "lib/io.py", "import json\n")
    write(tmp_path / "lib/model.py", "def load():\n    from lib.io import json\n")
    write(tmp_path / "lib/plots.py", "import matplotlib\n")
    write(tmp_path / "stages/train.py", "from lib import model\n")
    write(tmp_path / "stages/report.py", "from lib.io import json\nimport yaml\n")
    return tmp_path


def dvc_yaml(root: Path, train: list[str], report: list[str]) -> None:
    write(root / "dvc.yaml", yaml.safe_dump({"stages": {
        "train": {"cmd": "python -m stages.train", "deps": [*train, "data/raw"]},
        "report": {"cmd": "python -m stages.report", "deps": [*report, "metrics/train.json"]}}}))


def test_checker_accepts_exact_deps(toy: Path):
    assert import_closure(toy, "stages.train") == {"stages/train.py", "lib/__init__.py", "lib/model.py",
                                                   "lib/io.py"}
    dvc_yaml(toy, ["stages/train.py", "lib/__init__.py", "lib/model.py", "lib/io.py"],
             ["stages/report.py", "lib/__init__.py", "lib/io.py"])
    assert check_deps(toy) == []


def test_checker_catches_a_missing_and_an_extra_dep(toy: Path):
    # train misses lib/io.py (imported lazily through lib.model); report lists lib/plots.py it never imports.
    dvc_yaml(toy, ["stages/train.py", "lib/__init__.py", "lib/model.py"],
             ["stages/report.py", "lib/__init__.py", "lib/io.py", "lib/plots.py"])
    assert sorted(check_deps(toy)) == [
        "stage report: dvc.yaml lists lib/plots.py, which stages.report does not import",
        "stage train: dvc.yaml misses lib/io.py (imported by stages.train)",
    ]


def test_checker_sees_a_new_import(toy: Path):
    dvc_yaml(toy, ["stages/train.py", "lib/__init__.py", "lib/model.py", "lib/io.py"],
             ["stages/report.py", "lib/__init__.py", "lib/io.py"])
    write(toy / "stages/report.py", "from lib.io import json\nfrom lib.plots import matplotlib\n")
    assert check_deps(toy) == ["stage report: dvc.yaml misses lib/plots.py (imported by stages.report)"]
