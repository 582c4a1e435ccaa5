"""Shared test fixtures. Tests never reach the network: hub access is switched off here."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Under pytest-xdist (`make test` runs 2 workers), each worker's torch gets its share of the cores
# instead of every worker starting one thread per core; set here, before anything imports torch.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ.setdefault("OMP_NUM_THREADS",
                          str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))

ROOT = Path(__file__).resolve().parent.parent
SHARED_PN = ROOT.parent / "shared" / "data" / "jrte" / "pn.tsv"
PN_SHA256 = "7c3ab858d2b4e72563718d80bebc5fd75daf59c91993e712be45f2014c664c1f"


# Under pytest-xdist, whole modules go to one worker (their module-scoped fixtures are built once) and
# the modules that share the session's e2e_repo all go to the same one (the pipeline runs once). A
# scheduler of our own: xdist 3.8's `--dist loadgroup` marks no longer group under pytest 9.2 (it
# renames `item._nodeid`, which pytest 9.2's `nodeid` no longer reads).
E2E_MODULES = ("test_e2e", "test_plots_offline", "test_ray")


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "e2e" if Path(module).stem in E2E_MODULES else module

    return ByModule(config, log) if config.getvalue("dist") in ("load", "loadscope") else None


def pytest_collection_modifyitems(config, items) -> None:
    # The e2e group first: it is the longest; the other worker takes the rest meanwhile.
    items.sort(key=lambda item: Path(str(item.path)).stem not in E2E_MODULES)  # stable


@pytest.fixture
def shared_pn() -> Path:
    if not SHARED_PN.is_file():
        pytest.skip(f"the local corpus copy {SHARED_PN} is absent")
    return SHARED_PN


def copy_project(dest: Path) -> Path:
    """A fresh git repo holding the project's tracked files (what a clean clone has)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True,
                           text=True).stdout.split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "copy"], cwd=dest, check=True)
    return dest


# The end-to-end repository, shared by every module that needs a whole pipeline run (test_e2e,
# test_ray): built once per session. Its state (the Hugging Face cache, the stand-ins' commits) lives
# in tests/e2e_support.py, one module for this file and the tests alike (pytest imports this file as
# `conftest`, the tests import `tests.*`: module state here would exist twice).
from tests.e2e_support import COMMITS, HF_ENV, run  # noqa: E402


@pytest.fixture(scope="session")
def e2e_repo(tmp_path_factory) -> Path:
    """`dvc repro` of the whole pipeline in a temporary git copy of the project, on the real pn.tsv
    and tiny hub-shaped stand-ins reached through the default model ids (HF_HOME, offline)."""
    from ja_sentiment.corpus import read_rows
    from ja_sentiment.tools import standins

    if not SHARED_PN.is_file():
        pytest.skip(f"the local corpus copy {SHARED_PN} is absent")
    base = tmp_path_factory.mktemp("e2e")
    rows = read_rows(SHARED_PN)
    # Absolute paths outside the repo: queued experiments run in their own temporary copies.
    tiny = standins.build(rows.loc[rows["usage"] == "train", "text"].tolist(), base / "tiny",
                          vocab_size=2000)
    HF_ENV["HF_HOME"] = str(tiny["hf_home"])
    COMMITS.update(sentiment=tiny["sentiment"].name, bert=tiny["bert"].name)
    repo = copy_project(base / "project")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"]["url"] = str(SHARED_PN)
    # The model ids and revisions stay params.yaml's defaults: they resolve to the stand-ins' commits.
    params["train"].update(epochs=2, learning_rate=5e-4, max_length=64)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False))
    run(repo, "dvc", "repro")
    return repo

