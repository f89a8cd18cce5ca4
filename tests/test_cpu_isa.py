"""What the CPU computes natively (tuner/cpu/isa.py) and what follows from it: precision auto, the MFU probe's
number format and the MFU readings it leaves out, the bench header."""

import logging

import pytest

from tuner.cpu import isa

AMX = frozenset("fpu sse4_2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8".split())
ZEN3 = frozenset("fpu sse4_2 avx avx2 fma bmi2 sha_ni".split())


@pytest.fixture
def cpu(monkeypatch):
    """Set the CPU this process sees: cpu(name, flags); no ISA cap in the environment."""
    for key in isa.CAPS:
        monkeypatch.delenv(key, raising=False)

    def use(name, flags):
        monkeypatch.setattr(isa, "_cpuinfo", lambda: (name, flags))

    return use


@pytest.fixture
def on_cpu_only(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_precision_auto_is_fp32_where_bf16_is_only_emulated(cpu, on_cpu_only):
    from tuner import models

    cpu("AMD EPYC 7B13", ZEN3)
    assert not models.cpu_has_fast_bf16()
    assert models.pick_precision("auto") == "fp32"
    assert isa.kind() == "avx2"
    cpu("Intel Xeon Platinum 8481C", AMX)
    assert models.pick_precision("auto") == "bf16"
    assert isa.kind() == "amx"
    cpu("Intel Xeon (Cooper Lake)", AMX - {"amx_bf16", "amx_tile", "amx_int8"})
    assert models.pick_precision("auto") == "bf16" and isa.kind() == "avx512_bf16"
    cpu("Intel Xeon (Skylake)", AMX - {"amx_bf16", "amx_tile", "amx_int8", "avx512_bf16"})
    assert models.pick_precision("auto") == "fp32" and isa.kind() == "avx512"


@pytest.mark.parametrize("cap", [{"ONEDNN_MAX_CPU_ISA": "AVX2"}, {"ONEDNN_MAX_CPU_ISA": "avx512_core"},
                                 {"MKL_ENABLE_INSTRUCTIONS": "AVX2"}, {"ATEN_CPU_CAPABILITY": "avx2"}, isa.EMULATE_AVX2])
def test_an_isa_cap_below_bf16_makes_it_emulated(cpu, on_cpu_only, monkeypatch, cap):
    from tuner import models

    cpu("Intel Xeon Platinum 8481C", AMX)
    for key, value in cap.items():
        monkeypatch.setenv(key, value)
    assert not isa.native_bf16()
    assert models.pick_precision("auto") == "fp32"
    assert isa.kind() in ("avx2", "avx512")


def test_a_cap_at_or_above_bf16_keeps_it_native(cpu, monkeypatch):
    cpu("Intel Xeon Platinum 8481C", AMX)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert isa.native_bf16() and isa.kind() == "amx"


def test_no_cpuinfo_means_no_native_bf16(cpu):
    cpu("", frozenset())
    assert not isa.native_bf16() and isa.kind() == "other"
    assert "none of amx/avx512/avx2" in isa.header()


def test_the_cpu_header_lists_the_deciding_flags(cpu, monkeypatch):
    from bench.machine import cpu_header

    cpu("Intel Xeon Platinum 8481C", AMX)
    line = cpu_header()
    assert line.startswith("CPU: Intel Xeon Platinum 8481C, ")
    assert "ISA amx_bf16 avx512_bf16 avx512f avx2;" in line and "kind amx, native bf16 yes" in line
    assert "capped" not in line
    for key, value in isa.EMULATE_AVX2.items():
        monkeypatch.setenv(key, value)
    line = cpu_header()
    assert "kind avx2, native bf16 no" in line
    assert "capped: ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2" in line  # an emulated CPU says so
    cpu("AMD EPYC 7B13", ZEN3)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    assert "ISA avx2;" in cpu_header()


def test_the_mfu_probe_multiplies_in_the_runs_precision(cpu, on_cpu_only, monkeypatch):
    from tuner.cpu import throughput

    cpu("AMD EPYC 7B13", ZEN3)
    assert throughput.probe_precision("auto") == "fp32"
    assert throughput.probe_precision("bf16") == "bf16"
    cpu("Intel Xeon Platinum 8481C", AMX)
    assert throughput.probe_precision("auto") == "bf16"
    asked = []
    monkeypatch.setattr(throughput, "matmul_probe", lambda device, precision: asked.append(precision) or 1e9)
    throughput.SpeedMeter(throughput.TokenCounter(lambda f: f), None, "cpu", precision="fp32").start()
    assert asked == ["fp32"]


def test_mfu_against_a_same_precision_probe_stays_at_most_one(monkeypatch, caplog):
    import time

    import torch

    from tuner.cpu import throughput

    class Big(torch.nn.Module):  # claims far more matmul work per token than it did
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Linear(4096, 4096, bias=False)

    counter = throughput.TokenCounter(lambda f: {"input_ids": torch.ones(len(f), 64, dtype=torch.long)})
    meter = throughput.SpeedMeter(counter, Big(), "cpu", precision="fp32")
    monkeypatch.setattr(throughput, "matmul_probe", lambda device, precision: 1e6)  # a probe that read a busy machine
    meter.start()
    counter([None] * 8)
    time.sleep(0.01)
    with caplog.at_level(logging.WARNING, logger="tuner.cpu.throughput"):
        reading = meter.reading()
        counter([None] * 8)
        time.sleep(0.01)
        second = meter.reading()
    assert "mfu" not in reading and "mfu" not in second  # left out, not 3,000% (nor a made-up 100%)
    assert sum("above 100%" in r.message for r in caplog.records) == 1  # logged once per run


def test_the_auto_probe_multiplies_fp32_where_bf16_is_emulated(cpu, on_cpu_only, monkeypatch):
    import torch

    from tuner.cpu.throughput import matmul_probe, plausible_mfu

    made, randn = [], torch.randn
    monkeypatch.setattr(torch, "randn", lambda *a, **kw: made.append(kw.get("dtype")) or randn(*a, **kw))
    cpu("AMD EPYC 7B13", ZEN3)
    assert matmul_probe("cpu", seconds=0.02) > 1e8
    assert made and set(made) == {torch.float32}
    assert plausible_mfu(2.5) is None and plausible_mfu(0.4) == 0.4 and plausible_mfu(-0.1) == 0.0
