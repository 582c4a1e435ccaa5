"""The `dvc` command line, as the tools call it: output back, or one message naming the failed command."""

from __future__ import annotations

import subprocess


def run_dvc(tool: str, *args: str) -> str:
    """stdout of `dvc *args`; on failure exit with `<tool>: `dvc ...` failed:` and DVC's own message."""
    proc = subprocess.run(["dvc", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{tool}: `dvc {' '.join(args)}` failed:\n{(proc.stderr or proc.stdout).strip()}")
    return proc.stdout
