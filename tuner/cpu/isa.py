"""What the CPU computes natively: the one place that reads its instruction-set flags.

Training precision (`precision: auto`, tuner.models.pick_precision), the frozen weights' int8 products on AVX2
(tuner/cpu/frozen_int8.py), the prediction dtype (tuner.inference), the MFU probe's number format and every bench
header ask this module. bf16 is native where the CPU has AMX or
AVX512-BF16; elsewhere (AVX2-only CPUs such as AMD Zen 2/3 or older Xeons) PyTorch emulates bf16 and a bf16 matmul
runs ~10-50x slower than fp32, so those CPUs train and predict in fp32.

oneDNN, MKL, FBGEMM (int8) and PyTorch's own kernels can be told to use less than the CPU has (ONEDNN_MAX_CPU_ISA,
MKL_ENABLE_INSTRUCTIONS, FBGEMM_ENABLE_INSTRUCTIONS, ATEN_CPU_CAPABILITY): a oneDNN, MKL or ATen cap below bf16
makes bf16 emulated, so it counts as not native. That is also how an AVX2-only CPU is emulated on an AMX machine (EMULATE_AVX2, used by
docs/performance.md).
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

# oneDNN ISA names (ONEDNN_MAX_CPU_ISA) that include native bf16 dot products; anything else named caps below it.
_ONEDNN_BF16 = {"AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16",
                "AVX10_1_512", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16", "AVX10_2_512", "AVX10_2_512_AMX_2",
                "ALL", "DEFAULT", ""}
_MKL_BELOW_BF16 = {"SSE4_2", "AVX", "AVX2", "AVX2_E1", "AVX512", "AVX512_E1"}  # MKL_ENABLE_INSTRUCTIONS values
_ATEN_BELOW_BF16 = {"default", "avx2", "zvector", "vsx", "sve256"}  # ATEN_CPU_CAPABILITY values
SHOWN = ("amx_bf16", "avx512_bf16", "avx512f", "avx2")  # the flags that decide training and prediction speed
CAPS = ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "FBGEMM_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY")
# every library capped at AVX2: an AVX2-only CPU (AMD Zen 2/3, Xeons before Cooper Lake) on a newer one
EMULATE_AVX2 = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "FBGEMM_ENABLE_INSTRUCTIONS": "AVX2",
                "ATEN_CPU_CAPABILITY": "avx2"}


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, frozenset]:
    """(model name, flags) from /proc/cpuinfo; ('', empty) where there is none (macOS, Windows)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return "", frozenset()
    name = flags = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not name:
            name = value.strip()
        elif key == "flags" and not flags:
            flags = value
        if name and flags:
            break
    return name, frozenset(flags.split())


def flags() -> frozenset:
    """The CPU's instruction-set flags as Linux names them (amx_bf16, avx512_bf16, avx512f, avx2, ...)."""
    return _cpuinfo()[1]


def model_name() -> str:
    return _cpuinfo()[0] or platform.processor() or "unknown CPU"


def capped() -> dict:
    """The ISA caps set in the environment ({variable: value}), which make the libraries use less than the CPU has."""
    return {k: os.environ[k] for k in CAPS if os.environ.get(k)}


def _caps_below_bf16() -> bool:
    caps = capped()
    return (caps.get("ONEDNN_MAX_CPU_ISA", "").upper() not in _ONEDNN_BF16
            or caps.get("MKL_ENABLE_INSTRUCTIONS", "").upper() in _MKL_BELOW_BF16
            or caps.get("ATEN_CPU_CAPABILITY", "").lower() in _ATEN_BELOW_BF16)


def native_bf16() -> bool:
    """True where bf16 matmuls run natively (AMX or AVX512-BF16, not capped below it by the environment)."""
    f = flags()
    return bool({"amx_bf16", "avx512_bf16"} & f) and not _caps_below_bf16()


def kind() -> str:
    """The CPU kind the speed defaults are chosen for: 'amx', 'avx512_bf16', 'avx512', 'avx2' or 'other'. A cap in
    the environment counts: ONEDNN_MAX_CPU_ISA=AVX2 on an AMX machine is 'avx2'."""
    f = flags()
    if native_bf16():
        return "amx" if "amx_bf16" in f else "avx512_bf16"
    caps = " ".join(capped().values()).upper()
    if "avx512f" in f and "AVX2" not in caps and "DEFAULT" not in caps.split():
        return "avx512"
    return "avx2" if "avx2" in f else "other"


def header() -> str:
    """One line for a bench's header: model name, cores, the deciding ISA flags, the kind, and any emulation caps."""
    shown = [f for f in SHOWN if f in flags()]
    caps = capped()
    line = (f"CPU: {model_name()}, {os.cpu_count()} cores, ISA {' '.join(shown) or 'none of amx/avx512/avx2'}; "
            f"kind {kind()}, native bf16 {'yes' if native_bf16() else 'no'}")
    if caps:
        line += " (capped: " + " ".join(f"{k}={v}" for k, v in caps.items()) + ")"
    return line
