"""What machine a bench ran on, for the header line every bench prints."""

from __future__ import annotations


def cpu_name() -> str:
    """The CPU's model name ('unknown CPU' where the system does not say)."""
    from tuner.cpu import isa

    return isa.model_name()


def cpu_header() -> str:
    """The CPU's model name, cores, the flags that decide its speed (AMX, AVX512-BF16, AVX-512, AVX2), the kind
    Tuner's defaults were chosen for, whether bf16 is native, and any ISA cap in the environment (an emulated
    CPU says so)."""
    from tuner.cpu import isa

    return isa.header()


def precision_line() -> str:
    """What `precision: auto` picks here and the number format of the MFU probe (the same)."""
    from tuner import models

    chosen = models.pick_precision("auto")
    return f"precision auto -> {chosen} (every variant; the MFU probe multiplies in {chosen})"
