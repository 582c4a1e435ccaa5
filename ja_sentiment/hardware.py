"""What the machine computes on: the device for `pipeline()` and whether bf16 is native there."""

from __future__ import annotations


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
