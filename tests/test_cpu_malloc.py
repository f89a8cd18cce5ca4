"""tuner.cpu.malloc: freed blocks stay in the heap, so reusing them costs no page faults."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tuner.cpu import malloc as cpu_malloc

REUSE = textwrap.dedent("""
    import ctypes, resource, sys
    from tuner.cpu import malloc as cpu_malloc
    if sys.argv[1] == "keep":
        assert cpu_malloc.keep_freed_memory()
    else:  # trim and map eagerly: every freed block goes back to the kernel
        assert cpu_malloc.set_thresholds(128 << 10, 128 << 10)
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    size, faults = 20 << 20, []
    for _ in range(6):  # three 20 MiB blocks written and freed, as a training step's activations
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        blocks = [libc.malloc(size) for _ in range(3)]
        for b in blocks:
            ctypes.memset(b, 1, size)
        for b in blocks:
            libc.free(b)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(sum(faults[1:]))  # after the first round
""")

needs_glibc = pytest.mark.skipif(not sys.platform.startswith("linux") or cpu_malloc._glibc() is None,
                                 reason="glibc's mallopt is Linux/glibc only")


def _reuse_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", REUSE, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@needs_glibc
def test_freed_blocks_are_reused_without_page_faults():
    pages = 5 * 3 * (20 << 20) // 4096  # five later rounds of three 20 MiB blocks
    eager = _reuse_faults("eager")
    kept = _reuse_faults("keep")
    assert eager > pages // 2, eager  # the measurement sees faults when memory goes back to the kernel
    assert kept < pages // 20, (kept, eager)


def test_glibc_setting_leaves_malloc_alone(monkeypatch):
    monkeypatch.setenv("TUNER_CPU_MALLOC", "glibc")
    monkeypatch.setattr(cpu_malloc, "set_thresholds", lambda *a: pytest.fail("mallopt called"))
    assert cpu_malloc.keep_freed_memory() is False


def test_other_systems_are_left_alone(monkeypatch):
    monkeypatch.delenv("TUNER_CPU_MALLOC", raising=False)
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(cpu_malloc, "set_thresholds", lambda *a: pytest.fail("mallopt called"))
    assert cpu_malloc.keep_freed_memory() is False


def test_no_glibc_means_no_change(monkeypatch):
    monkeypatch.setattr(cpu_malloc, "_glibc", lambda: None)
    assert cpu_malloc.set_thresholds(1 << 30, 32 << 20) is False


@needs_glibc
def test_training_entry_point_keeps_freed_memory(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(cpu_malloc, "keep_freed_memory", lambda: calls.append(1) or True)
    from tuner import train

    (tmp_path / "config.yaml").write_text("not: [valid")  # fails after the setting, as one status sentence
    assert train.main([str(tmp_path / "config.yaml")]) == 1
    assert calls == [1]
