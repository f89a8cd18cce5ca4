"""glibc malloc settings that keep freed CPU memory for the next training step or prediction batch.

PyTorch on a CPU takes every activation and gradient from malloc. By default glibc hands the free memory at
the top of its heap back to the kernel once more than its trim threshold is free, and serves blocks above its
mmap threshold with fresh mappings (both start at 128 KiB and follow the largest mapped block freed so far).
A training step frees most of what it allocated, so the next step's tensors land on new pages, and the first
touch of each page is a page fault: about 2,100 minor faults per MiniLM step on SST-2 batches. Keeping up to
1 GiB of freed heap, and serving blocks under 32 MiB from the heap, cuts that to about 500 and makes the
step 1.06-1.10x faster (`python -m bench.cpu_malloc`). Memory that a step or batch frees stays in the process
for the next one rather than going back to the system.

`TUNER_CPU_MALLOC=glibc` leaves glibc's own settings. Other C libraries (and other systems) are left alone.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import sys

from .. import environment

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
KEEP_FREED_BYTES = 1 << 30  # free heap kept before trimming (the default trims past 128 KiB)
HEAP_BLOCKS_UNDER = 32 << 20  # blocks under this come from the heap (glibc's own ceiling for the threshold)


def enabled() -> bool:
    """False under TUNER_CPU_MALLOC=glibc and outside Linux."""
    return environment.get("TUNER_CPU_MALLOC") != "glibc" and sys.platform.startswith("linux")


def keep_freed_memory() -> bool:
    """Set this process's thresholds (cheap; repeat calls are harmless). True when set, False where glibc's
    own settings stay (TUNER_CPU_MALLOC=glibc, another C library or system)."""
    return enabled() and set_thresholds(KEEP_FREED_BYTES, HEAP_BLOCKS_UNDER)


def set_thresholds(trim: int, mmap: int) -> bool:
    """Set glibc's trim and mmap thresholds (bytes) now; False where there is no glibc."""
    libc = _glibc()
    if libc is None:
        return False
    ok = libc.mallopt(M_TRIM_THRESHOLD, trim) == 1 and libc.mallopt(M_MMAP_THRESHOLD, mmap) == 1
    if not ok:
        log.warning("glibc refused the malloc thresholds; its defaults stay")
    return ok


@functools.lru_cache(maxsize=1)
def _glibc():
    """The process's C library when it is glibc (its soname is libc.so.6 and it has gnu_get_libc_version),
    else None."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # only glibc has it (musl's mallopt does nothing)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
        return libc
    except (OSError, AttributeError):
        return None
