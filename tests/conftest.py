"""Shared test fixtures. Tests never reach the network: hub access is switched off here."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
SHARED_PN = ROOT.parent / "shared" / "data" / "jrte" / "pn.tsv"
PN_SHA256 = "7c3ab858d2b4e72563718d80bebc5fd75daf59c91993e712be45f2014c664c1f"


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
