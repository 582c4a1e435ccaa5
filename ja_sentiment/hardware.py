"""What the machine computes on: the device for `pipeline()`, whether bf16 is native there, and
whether it is also faster than fp32 there (what precision `auto` picks)."""

from __future__ import annotations

import ctypes
import functools
import sys
import time

# bf16 is picked by `auto` on a CPU only when a probe matmul runs at least this much faster in bf16.
MIN_CPU_SPEEDUP = 1.1


def device_index() -> int:
    """GPU 0 when one is visible, else CPU (-1), in the convention of `pipeline(device=...)`."""
    import torch

    return 0 if torch.cuda.is_available() else -1


def native_bf16(device_type: str) -> bool:
    """Whether bfloat16 matrix maths is native here: a CUDA GPU that has it, or a CPU with
    AVX512-BF16 or AMX instructions (elsewhere bf16 is emulated and gains little or nothing)."""
    import torch

    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private, hence the getattr
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


@functools.lru_cache(maxsize=1)
def cpu_bf16_speedup(rounds: int = 3) -> float:
    """fp32 time over bf16 time of one BERT-base feed-forward matmul (1024 tokens x 768 -> 3072) on
    this CPU, best of `rounds` each: above 1, bf16 is faster. About 0.3 s, once per process; the result
    goes to stderr.

    Why measure: a CPU that has the instructions need not gain from them. On an AMD EPYC with
    AVX512-BF16 bf16 inference ran 2.8x faster per position; on a 2-core Intel Xeon with AVX512-BF16
    (no AMX) this matmul ran 0.57x as fast in bf16 as in fp32 (oneDNN, torch 2.13)."""
    import torch

    x, w = torch.randn(1024, 768), torch.randn(3072, 768)
    best = {}
    for dtype in (torch.float32, torch.bfloat16, torch.float32, torch.bfloat16):  # warm-up, then timed
        a, b = x.to(dtype), w.to(dtype)
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            torch.nn.functional.linear(a, b)
            times.append(time.perf_counter() - started)
        best[dtype] = min(times)
    speedup = best[torch.float32] / best[torch.bfloat16]
    print(f"precision auto: this CPU has bf16 instructions; a bf16 matmul runs {speedup:.2f}x as fast as "
          f"fp32 here (bf16 is picked from {MIN_CPU_SPEEDUP}x)", file=sys.stderr)
    return speedup


def fast_bf16(device_type: str) -> bool:
    """Whether precision `auto` runs bf16 here: a CUDA GPU with native bf16, or a CPU with native
    bf16 on which a probe matmul (`cpu_bf16_speedup`) is at least MIN_CPU_SPEEDUP times faster in bf16
    than in fp32. The probe's result goes to stderr once, so a log says why a precision was picked."""
    if not native_bf16(device_type):
        return False
    return device_type == "cuda" or cpu_bf16_speedup() >= MIN_CPU_SPEEDUP


def keep_freed_memory() -> bool:
    """Keep memory a training step frees in the process for the next step (glibc's malloc; elsewhere
    nothing is done and False returned). Each step frees and re-allocates hundreds of MB (fresh fp32
    gradients, autocast's bf16 weight copies, activations); with glibc's defaults a block above its
    mmap threshold (which adapts, up to 32 MB: bert-base's 100 MB word-embedding gradient always) is
    a fresh mmap whose pages fault in again on first touch, and the heap is trimmed back above twice
    that threshold: about 34,000 page faults per bert-base bf16 step, 2,000-3,300 with this
    (measured; docs/performance.md). Blocks up to 1 GiB are served from the heap and the heap is not
    trimmed back (both settings are needed: either alone leaves the faults or multiplies them). The
    price: the process keeps its peak memory until it exits."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
    return bool(mallopt(m_mmap_threshold, 1 << 30)) and bool(mallopt(m_trim_threshold, (1 << 31) - 1))
