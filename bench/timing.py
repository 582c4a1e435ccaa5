"""Timing harness: wall and CPU clocks, the bench's log, best-of-rounds summaries, machine facts."""

from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path

import numpy as np

_T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:6.1f}s] {msg}", flush=True)


class Clock:
    """Wall and process CPU time (all threads) of a `with` block."""

    def __enter__(self) -> Clock:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall0, time.process_time() - self.cpu0


def threads() -> int:
    import torch

    return torch.get_num_threads()


def share(cpu: float, wall: float) -> float:
    """CPU seconds per wall second per torch thread: about 1 on idle cores."""
    return round(cpu / wall / threads(), 2)


def rounds_summary(n: int, walls: list[float], cpus: list[float]) -> dict:
    """Throughput of the best (least-disturbed) round, and of the median one."""
    best = int(np.argmin(walls))
    return {"per_s": round(n / walls[best], 2), "per_s_median": round(n / statistics.median(walls), 2),
            "wall_s": round(walls[best], 3), "cpu_share": share(cpus[best], walls[best]),
            "rounds_wall_s": [round(w, 3) for w in walls],
            "rounds_cpu_share": [share(c, w) for c, w in zip(cpus, walls, strict=True)]}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
