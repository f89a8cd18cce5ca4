"""One thread computes for the demo, so one OpenMP worker team serves every request at full speed.

torch's CPU wheels run their parallel loops on GNU OpenMP (libgomp). libgomp gives each thread that starts a
parallel region a worker team of its own and keeps it until that thread exits. A serving process answers on many
threads (each Gradio handler thread, a generation thread per chat). Once their teams hold more threads than the
machine has CPUs, libgomp cuts its idle workers' spinning to ~1,000 iterations, so every parallel region (each
elementwise op of a forward) waits for the kernel to wake a worker. Measured on 2 cores: a MiniLM sentence took
15.8 ms on a second thread against 7.8 ms on the first; with requests on Gradio-like handler threads
(bench/cpu_threads.py) a 100M-parameter chat model generated 30 tokens/s, against 45 on one compute thread.
Handing a thread's team back after each request (omp_pause_resource_all) avoids that but starts a new team per
request, which costs 4 ms at the median and 30 ms at p95 while a training run keeps the cores busy.

So the demo's model work runs on one long-lived thread (`call`, `submit`) that keeps one team. Work that finds
it busy (a second chat, a sentence while a chat streams) runs beside it on a thread of its own, as every
request did before, and that thread's team goes when it ends. A thread that hands work over first gives back a
team of its own, if it made one (`release`). Locks stay with the callers: a task must not wait for a lock that
a waiting caller holds.
TUNER_CPU_TEAMS=threads computes as before this module: each request on its caller's thread, each chat on a new one.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from concurrent.futures import Future

from .. import environment

_LIB: list = []  # [the loaded libgomp, or None], resolved once torch is loaded


def _libgomp():
    """The libgomp this process has loaded (torch's own copy), or None: another OpenMP runtime, no /proc, or a
    libgomp older than OpenMP 5 (no omp_pause_resource_all)."""
    if _LIB:
        return _LIB[0]
    lib = None
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            paths = sorted({line.split()[-1] for line in f if "libgomp" in line and "/" in line})
        for path in paths:
            candidate = ctypes.CDLL(path)  # already loaded: dlopen hands back the same library
            if hasattr(candidate, "omp_pause_resource_all"):
                candidate.omp_pause_resource_all.argtypes = [ctypes.c_int]
                candidate.omp_pause_resource_all.restype = ctypes.c_int
                lib = candidate
                break
    except OSError:
        lib = None
    if lib is not None or "torch" in sys.modules:
        _LIB.append(lib)  # before torch is loaded there is nothing to find yet: look again next time
    return lib


def release() -> bool:
    """Free the calling thread's OpenMP worker team, if it has one (the settings stay; a later parallel region
    starts a new team). True when libgomp took the request."""
    lib = _libgomp()
    return lib is not None and lib.omp_pause_resource_all(1) == 0  # 1 = omp_pause_soft


def enabled() -> bool:
    return environment.get("TUNER_CPU_TEAMS") != "threads"


class _Worker:
    def __init__(self):
        self._cv = threading.Condition()
        self._job: tuple | None = None  # the work the compute thread has taken on, until it is done
        self._thread: threading.Thread | None = None

    def on_worker(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, fn, args, kwargs) -> Future:
        fut: Future = Future()
        if self.on_worker():
            _run(fut, fn, args, kwargs)  # nested work
            return fut
        with self._cv:
            taken = enabled() and self._job is None
            if taken:
                self._job = (fut, fn, args, kwargs)
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._loop, name="tuner-compute", daemon=True)
                    self._thread.start()
                self._cv.notify()
        if taken:
            release()  # a team this thread made (loading a model, say) goes: the process keeps one
        else:  # the compute thread is busy: run beside it, as every request did before (its team goes with it)
            threading.Thread(target=_run, args=(fut, fn, args, kwargs), name="tuner-compute-extra", daemon=True).start()
        return fut

    def _loop(self) -> None:
        while True:
            with self._cv:
                while self._job is None:
                    self._cv.wait()
                job = self._job
            _run(*job)
            with self._cv:
                self._job = None


def _run(fut: Future, fn, args, kwargs) -> None:
    if not fut.set_running_or_notify_cancel():
        return
    try:
        fut.set_result(fn(*args, **kwargs))
    except BaseException as exc:  # handed to the waiting caller, who re-raises it
        fut.set_exception(exc)


_WORKER = _Worker()


def submit(fn, *args, **kwargs) -> Future:
    """`fn(*args, **kwargs)` on the compute thread when it is free, else on a thread of its own beside it (a second
    chat, a sentence while a chat streams); on the compute thread itself (nested work) at once."""
    return _WORKER.submit(fn, args, kwargs)


def call(fn, *args, **kwargs):
    """`fn(*args, **kwargs)` as `submit` places it (TUNER_CPU_TEAMS=threads: on this thread); its result, or its
    exception raised here."""
    if not enabled():
        return fn(*args, **kwargs)
    return submit(fn, *args, **kwargs).result()
