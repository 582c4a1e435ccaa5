"""Batched inference: token-budget batches, input order, bf16 autocast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ja_sentiment import hardware
from ja_sentiment.batching import token_batches
from ja_sentiment.hardware import fast_bf16, native_bf16
from ja_sentiment.inference import classify, inference_precision
from ja_sentiment.models import load_text_classifier
from ja_sentiment.tools import standins

TEXTS = ["駅から近くて便利でした。", "部屋が狭かった。", "朝食は普通でした。", "最悪",
         "スタッフの対応がとても丁寧で、また利用したいと思えるホテルでした。"] * 6


@pytest.mark.parametrize("batch_size, max_tokens", [(4, 10**6), (128, 64), (128, 7), (1, 1)])
def test_token_batches_cover_each_text_once_within_budget(batch_size, max_tokens):
    lengths = [3, 50, 7, 7, 12, 1, 30, 30, 2, 9] * 3
    batches = token_batches(lengths, batch_size, max_tokens)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= batch_size
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= max_tokens
    # Longest first: each batch pads to a length no shorter than the next batch's.
    tops = [max(lengths[i] for i in b) for b in batches]
    assert tops == sorted(tops, reverse=True)


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    import torch

    torch.manual_seed(1)
    path = standins.build(TEXTS, tmp_path_factory.mktemp("tiny"), vocab_size=200)["sentiment"]
    return load_text_classifier(str(path), "main", 64)


def test_classify_returns_input_order(pipe):
    batched = classify(pipe, TEXTS, batch_size=4, max_length=64, max_tokens=40, progress=False)
    one_by_one = np.vstack([classify(pipe, [t], 1, 64, progress=False) for t in TEXTS])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    np.testing.assert_allclose(batched.sum(axis=1), 1.0, atol=1e-6)


def test_bf16_autocast_is_close_to_fp32(pipe):
    fp32 = classify(pipe, TEXTS, 8, 64, progress=False)
    bf16 = classify(pipe, TEXTS, 8, 64, progress=False, bf16=True)
    assert not np.array_equal(fp32, bf16)  # it really ran in another precision
    np.testing.assert_allclose(bf16, fp32, atol=0.02)


def cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="needs Linux /proc/cpuinfo")
def test_auto_precision_follows_the_cpus_bf16_instructions_and_the_probe():
    native = bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
    assert native_bf16("cpu") is native
    # bf16 only where the instructions are there and the probe found bf16 faster.
    fast = native and hardware.cpu_bf16_speedup() >= hardware.MIN_CPU_SPEEDUP
    assert fast_bf16("cpu") is fast
    assert inference_precision("auto", "cpu") == ("bf16" if fast else "fp32")
    for explicit in ("fp32", "bf16"):
        assert inference_precision(explicit, "cpu") == explicit


@pytest.mark.parametrize("native, speedup, fast",
                         [(True, 2.8, True), (True, 0.57, False), (True, 1.05, False), (False, 2.8, False)])
def test_auto_picks_bf16_only_where_native_and_measured_faster(monkeypatch, native, speedup, fast):
    """The figures are measured ones: 2.8x on an AMD EPYC with AVX512-BF16, 0.57x on a Xeon with it."""
    monkeypatch.setattr(hardware, "native_bf16", lambda device: native)
    monkeypatch.setattr(hardware, "cpu_bf16_speedup", lambda: speedup)
    assert hardware.fast_bf16("cpu") is fast
    assert inference_precision("auto", "cpu") == ("bf16" if fast else "fp32")


def test_probe_times_both_precisions_once_per_process(capsys):
    hardware.cpu_bf16_speedup.cache_clear()
    speedup = hardware.cpu_bf16_speedup()
    assert 0.05 < speedup < 50  # a ratio of two real timings, whatever this CPU is
    assert hardware.cpu_bf16_speedup() == speedup  # cached: the probe runs once
    assert capsys.readouterr().err.count("a bf16 matmul runs") == 1
