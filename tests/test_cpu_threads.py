"""tuner/cpu/threads.py: the demo's model work on one compute thread, work beside it when it is busy, and
handing a thread's OpenMP team back."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest

from tuner.cpu import threads as cpu_threads


def _name() -> str:
    return threading.current_thread().name


def _in_thread(fn):
    out = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join(30)
    return out[0]


def test_work_from_different_callers_runs_on_one_compute_thread(monkeypatch):
    monkeypatch.delenv("TUNER_CPU_TEAMS", raising=False)
    first = cpu_threads.call(lambda: (_name(), threading.get_ident()))
    second = _in_thread(lambda: cpu_threads.call(lambda: (_name(), threading.get_ident())))
    assert first[0] == "tuner-compute"
    assert first == second  # the same long-lived thread, not one per caller
    assert first[1] != threading.get_ident()


def test_exceptions_reach_the_caller(monkeypatch):
    monkeypatch.delenv("TUNER_CPU_TEAMS", raising=False)

    def bad():
        raise ValueError("row 3: label is empty")

    with pytest.raises(ValueError, match="row 3"):
        cpu_threads.call(bad)
    assert cpu_threads.call(lambda: 41 + 1) == 42  # the thread survives a failed task


def test_other_work_runs_beside_a_busy_compute_thread(monkeypatch):
    monkeypatch.delenv("TUNER_CPU_TEAMS", raising=False)
    release, started = threading.Event(), threading.Event()

    def blocker():
        started.set()
        release.wait(30)
        return _name()

    job = cpu_threads.submit(blocker)
    assert started.wait(10)
    try:
        t0 = time.monotonic()
        where = cpu_threads.call(_name)  # a sentence while a chat streams: it must not wait for the chat
        assert time.monotonic() - t0 < 5
        assert where == "tuner-compute-extra"
    finally:
        release.set()
    assert job.result(30) == "tuner-compute"
    assert cpu_threads.call(_name) == "tuner-compute"  # free again: back on the compute thread


def test_threads_setting_computes_on_the_callers_thread(monkeypatch):
    monkeypatch.setenv("TUNER_CPU_TEAMS", "threads")
    assert cpu_threads.call(_name) == threading.current_thread().name
    assert cpu_threads.submit(_name).result(10) == "tuner-compute-extra"  # a chat: a thread of its own, as before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="libgomp teams are read from /proc (Linux only)")
def test_release_hands_the_callers_openmp_team_back():
    """A parallel torch op gives the calling thread a team of workers (more threads in the process); release()
    takes them away again, and the next parallel op builds a new team."""
    code = textwrap.dedent("""
        import os, torch
        from tuner.cpu import threads as cpu_threads
        torch.set_num_threads(2)
        count = lambda: len(os.listdir("/proc/self/task"))
        before = count()
        x = torch.randn(512, 4096)
        (x * x).sum()
        with_team = count()
        ok = cpu_threads.release()
        after = count()
        (x * x).sum()
        print(before, with_team, ok, after, count())
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    before, with_team, ok, after, again = proc.stdout.split()
    if ok != "True":
        pytest.skip("this torch build does not run on libgomp with omp_pause_resource_all")
    assert int(with_team) > int(before), "the parallel op made no worker thread"
    assert int(after) < int(with_team), "release() left the team's workers running"
    assert int(again) > int(after)  # the next parallel op builds a team again


@pytest.mark.parametrize("env, expected", [(None, 0.02), ("5", 0.005), ("0", 0.001), ("5000", 1.0), ("soon", 0.02)])
def test_the_page_queue_looks_for_work_less_often(monkeypatch, env, expected):
    """tuner.ui.quiet_queue: Gradio's idle queue polls every 1 ms by default; the app's polls every 20 ms
    (TUNER_QUEUE_POLL_MS), progress 10x less often."""
    import gradio as gr

    from tuner.ui import quiet_queue

    if env is None:
        monkeypatch.delenv("TUNER_QUEUE_POLL_MS", raising=False)
    else:
        monkeypatch.setenv("TUNER_QUEUE_POLL_MS", env)
    with gr.Blocks() as demo:
        gr.Textbox()
    demo.queue(default_concurrency_limit=1)
    assert demo._queue.sleep_when_free == pytest.approx(0.001)  # Gradio's own, which the app replaces
    assert quiet_queue(demo) is demo
    assert demo._queue.sleep_when_free == pytest.approx(expected)
    assert demo._queue.progress_update_sleep_when_free == pytest.approx(10 * expected)


def test_the_app_entry_points_quiet_their_queue():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for path in (root / "app.py", root / "tuner" / "space_template" / "app.py"):
        assert "quiet_queue(" in path.read_text(encoding="utf-8"), path
