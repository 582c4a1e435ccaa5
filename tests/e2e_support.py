"""State and helpers of the end-to-end repository (the `e2e_repo` fixture in conftest.py): the
Hugging Face cache the stand-ins live in, their commits, and running a command in the repository
with that environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = str(Path(sys.executable).parent)
HF_ENV: dict[str, str] = {"HF_HUB_OFFLINE": "1"}  # plus HF_HOME, set by the `e2e_repo` fixture
COMMITS: dict[str, str] = {}  # the stand-ins' snapshot commits, set by the `e2e_repo` fixture


def run(repo: Path, *cmd: str, check: bool = True, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess:
    full = {**os.environ, **HF_ENV, "PATH": BIN + os.pathsep + os.environ["PATH"], **(env or {})}
    proc = subprocess.run(list(cmd), cwd=repo, env=full, capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def git_commit(repo: Path, message: str) -> None:
    run(repo, "git", "add", "-A")
    run(repo, "git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message)
