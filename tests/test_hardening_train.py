"""Issue #7, training faults and many users (cases 18-24; the map is in test_hardening.py).

Real training on a tiny BERT: faults are injected into the real Trainer (a poisoned loss, a failing write, a
failing metric) in-process through `tuner.train.main`, and the queue / SIGKILL / resume / restart case runs
real `accelerate launch` children through the JobManager.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import time
import types

import pytest

from tuner import jobs, runs
from tuner.config import RunConfig

pytestmark = pytest.mark.slow
RUN_TIMEOUT = 900


def tiny_config(tiny_model_dir, train_file, **train) -> RunConfig:
    # 90 rows -> 72 train / 18 validation; batch 8 -> 9 steps per epoch.
    return RunConfig.from_dict({
        "name": "hardening",
        "data": {"train_file": str(train_file), "validation_fraction": 0.2},
        "model": {"name": str(tiny_model_dir), "max_length": 32},
        "adapter": {"r": 4, "alpha": 8},
        "train": {"epochs": 3, "batch_size": 8, "evals": 4, "learning_rate": 5e-3, "precision": "fp32",
                  "group_by_length": False, **train},
    })


def log_tail(run) -> str:
    try:
        return run.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
    except OSError:
        return "(no train.log)"


def train_in_process(run, resume=False) -> int:
    from tuner import train

    run.set_status(resume=resume)
    return train.main([str(run.config_path)])


def checkpoint_steps(run) -> list[int]:
    return sorted(int(p.name.split("-")[1]) for p in run.checkpoints_dir.glob("checkpoint-*"))


# ---- 18: NaN / inf loss ------------------------------------------------------------------------------------
def test_nan_loss_fails_the_run_and_keeps_the_last_good_checkpoint(runs_dir, sample_csv, tiny_model_dir, monkeypatch):
    from transformers import Trainer

    from tuner.inference import Predictor
    from tuner.ui.common import finished_run_choices

    original = Trainer.compute_loss

    def diverging(self, model, inputs, *args, **kwargs):  # the loss blows up from step 15 on, as a huge lr would
        out = original(self, model, inputs, *args, **kwargs)
        if model.training and self.state.global_step >= 14 and not isinstance(out, tuple):
            out = out * float("inf")
        return out

    monkeypatch.setattr(Trainer, "compute_loss", diverging)
    run = runs.create_run(tiny_config(tiny_model_dir, sample_csv))  # 27 steps, checkpoints every 6
    assert train_in_process(run) == 1
    status = run.status()
    assert status["state"] == "failed" and "NaN or infinite at step 15" in status["message"], status
    assert "lower the learning rate" in status["message"]
    assert run.events()[-1] == {**run.events()[-1], "type": "status", "state": "failed"}
    assert not run.has_adapter()  # not offered in Try it
    assert run.id not in [c[1] for c in finished_run_choices()]
    with pytest.raises(Exception, match="failed"):
        Predictor(run)
    good = run.newest_checkpoint()
    assert good is not None and good.name == "checkpoint-12", checkpoint_steps(run)  # nothing saved after the NaN
    state = json.loads((good / "trainer_state.json").read_text())
    assert all(json.dumps(h.get("loss", 0)) not in ("NaN", "Infinity") for h in state["log_history"])


# ---- 22: disk full during a checkpoint / the adapter ---------------------------------------------------------
def test_disk_full_while_saving_fails_cleanly_and_keeps_the_old_adapter(runs_dir, sample_csv, tiny_model_dir, monkeypatch):
    from transformers import Trainer

    from tuner import train

    original = Trainer._save_optimizer_and_scheduler

    def full_disk(self, output_dir):
        if self.state.global_step >= 12:
            raise OSError(errno.ENOSPC, "No space left on device", os.path.join(output_dir, "optimizer.pt"))
        return original(self, output_dir)

    run = runs.create_run(tiny_config(tiny_model_dir, sample_csv))
    with monkeypatch.context() as mp:
        mp.setattr(Trainer, "_save_optimizer_and_scheduler", full_disk)
        assert train_in_process(run) == 1
    status = run.status()
    assert status["state"] == "failed" and "disk is full" in status["message"], status
    assert str(runs_dir) not in status["message"] and "Traceback" not in status["message"]
    assert "No space left on device" in run.log_path.read_text() if run.log_path.exists() else True
    # checkpoint-12 was half written (weights, no optimizer, no trainer_state): the earlier one is the newest.
    assert (run.checkpoints_dir / "checkpoint-12").is_dir()
    assert run.newest_checkpoint() == run.checkpoints_dir / "checkpoint-6"
    # Space is back: resume continues from checkpoint-6 and finishes.
    assert train_in_process(run, resume=True) == 0, run.status()
    assert run.status()["state"] == "completed" and run.has_adapter()
    assert run.metrics()["steps"] == 27
    # An export/adapter write that fails keeps the previous adapter whole and leaves no temporary folder.
    before = {p.name: p.read_bytes() for p in run.adapter_dir.iterdir() if p.is_file()}

    def no_space(path, **kw):
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "adapter_model.safetensors"), "wb") as fh:
            fh.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    broken = types.SimpleNamespace(save_pretrained=no_space)
    with pytest.raises(OSError):
        train.save_adapter(broken, None, run, run.config(), {"task": "classification"})
    assert {p.name: p.read_bytes() for p in run.adapter_dir.iterdir() if p.is_file()} == before
    assert not (run.path / "adapter.tmp").exists()


# ---- 23: evaluation failing ---------------------------------------------------------------------------------
def test_failing_evaluation_keeps_the_training_results(runs_dir, sample_csv, tiny_model_dir, monkeypatch):
    from tuner.tasks import get_task
    from tuner.ui.evaluate_tab import report_views

    task = type(get_task("classification"))

    def broken_metrics(self, meta):
        def fn(eval_pred):
            raise ZeroDivisionError("metric blew up")
        return fn

    monkeypatch.setattr(task, "compute_metrics", broken_metrics)
    run = runs.create_run(tiny_config(tiny_model_dir, sample_csv))
    assert train_in_process(run) == 0, log_tail(run)
    status = run.status()
    assert status["state"] == "completed" and run.has_adapter(), status
    report = run.metrics()
    assert report["steps"] == 27 and "ZeroDivisionError" in report["evaluation_error"]
    assert "adapter was saved" in report["evaluation_error"] and "Evaluation failed" in status["message"]
    errors = [e for e in run.events() if e.get("type") == "eval_error"]
    assert {6, 12, 18, 24} <= {e["step"] for e in errors}, errors  # every in-training evaluation, named
    assert all("ZeroDivisionError" in e["message"] for e in errors)
    summary, headline, per_label, figure = report_views(report)  # one sentence where the scores would be
    assert "evaluation failed" in summary and "ZeroDivisionError" in summary and "adapter was saved" in summary
    assert headline is None and per_label is None and figure is None
    assert "ended before its evaluation" in report_views({})[0]  # a run stopped before it was scored
    monkeypatch.setattr("tuner.ui.evaluate_tab.current_lang", lambda: "zh")
    assert "评估失败（ZeroDivisionError）" in report_views(report)[0] and "评估失败了" in report_views(report)[0]


# ---- 19, 20, 24: queue, SIGKILL, resume, app restart ------------------------------------------------------
def _wait(pred, timeout, what, run=None, poll=0.02):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(poll)
    pytest.fail(f"timed out waiting for {what}\n{log_tail(run) if run else ''}")


def _adapter_tensors(run):
    from safetensors.torch import load_file

    return load_file(str(run.adapter_dir / "adapter_model.safetensors"))


def _clean_up(manager, *runs_):
    """Leave no child behind: drop queued runs, then kill running ones."""
    for run in runs_:
        if manager.position(run):
            manager.stop(run)
    for run in runs_:
        manager.kill(run)


def test_queue_kill_resume_and_restart(runs_dir, sample_csv, tiny_model_dir, monkeypatch):
    import torch

    from tuner.ui.train_tab import poll

    monkeypatch.delenv("TUNER_AUTH", raising=False)
    monkeypatch.setattr(jobs, "_MANAGER", jobs.JobManager(max_concurrent=1))
    manager = jobs.manager()
    # 40 epochs x 9 = 360 steps; evals 2 -> checkpoints at 120, 240, 360.
    cfg = tiny_config(tiny_model_dir, sample_csv, epochs=40, evals=2)
    a, b = runs.create_run(cfg, owner=""), runs.create_run(cfg, owner="")
    try:
        # 24: two Train presses at once: one trains, the other waits and sees its position.
        assert manager.submit(a) == 0 and manager.submit(b) == 1
        assert b.state == "queued" and "Waiting for a free training slot: position 1 in the queue" in poll(b.id)[0]
        _wait(lambda: any(e.get("type") == "train" for e in a.events()), RUN_TIMEOUT, "run A to log a loss", a)
        assert b.state == "queued" and a.state == "running"

        # 20: the app restarts while A trains: a fresh manager and listing still show A running with its curves.
        monkeypatch.setattr(jobs, "_MANAGER", jobs.JobManager(max_concurrent=1))
        listed = {r.id: r.state for r in runs.list_runs()}
        assert listed[a.id] == "running", listed
        shown = poll(a.id)  # (progress html, loss curve, metric curve, stop button, ...)
        html, loss_plot = shown[0], shown[1]
        assert "<b>running</b>" in html and loss_plot is not None and len(loss_plot) >= 1
        monkeypatch.setattr(jobs, "_MANAGER", manager)

        assert manager.wait(a, timeout=RUN_TIMEOUT) == 0, log_tail(a)
        assert a.state == "completed", a.status()
        # B starts when A's slot frees; kill it (SIGKILL, no clean-up) once its first checkpoint is complete.
        _wait(lambda: b.newest_checkpoint() is not None, RUN_TIMEOUT, "B's first complete checkpoint", b, poll=0.01)
        pid = b.status().get("launcher_pid")
        os.killpg(int(pid), signal.SIGKILL)
        _wait(lambda: b.state == "interrupted", 60, "B to be marked interrupted", b)
    finally:
        _clean_up(manager, a, b)
    assert "resume" in b.status()["message"] and b.id in {r.id for r in runs.list_runs()}
    killed_at = b.newest_checkpoint()
    assert killed_at is not None and int(killed_at.name.split("-")[1]) < 360, "B finished before it was killed"
    # A half-written newer checkpoint (the kill hit it mid-save) must be skipped.
    half = b.checkpoints_dir / f"checkpoint-{int(killed_at.name.split('-')[1]) + 120}"
    half.mkdir(exist_ok=True)
    (half / "adapter_model.safetensors").write_bytes(b"\0" * 10)
    (half / "trainer_state.json").write_text('{"global_step": ')
    assert b.newest_checkpoint() == killed_at

    assert manager.submit(b, resume=True) == 0
    try:
        assert manager.wait(b, timeout=RUN_TIMEOUT) == 0, log_tail(b)
    finally:
        _clean_up(manager, b)
    assert b.state == "completed", f"{b.status()}\n{log_tail(b)}"
    events = b.events()
    restart = max(i for i, e in enumerate(events) if e.get("type") == "start")
    first = next(e for e in events[restart:] if e.get("type") in ("progress", "train"))
    assert first["step"] > int(killed_at.name.split("-")[1]), "the resumed run started from scratch"
    assert b.metrics()["steps"] == a.metrics()["steps"] == 360
    wa, wb = _adapter_tensors(a), _adapter_tensors(b)
    assert wa.keys() == wb.keys()
    worst = max((wa[k].float() - wb[k].float()).abs().max().item() for k in wa)
    assert worst < 1e-4, f"resumed adapter differs from the uninterrupted one by {worst}"
    assert all(torch.isfinite(t).all() for t in wb.values())


def _after_lower_priority(env_name: str, env_value: str | None, probe: str) -> list[str]:
    """Run lower_priority() in a fresh process with `env_name` set to `env_value` (or unset), then `probe`
    (Python that prints what it reads); its printed words."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != env_name}
    if env_value is not None:
        env[env_name] = env_value
    code = f"import os, threading; from tuner.train import lower_priority; {probe}"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


def _niceness_after_lower_priority(env_value: str | None) -> tuple[int, int]:
    before, after = map(int, _after_lower_priority(
        "TUNER_TRAIN_NICE", env_value, "b = os.nice(0); lower_priority(); print(b, os.nice(0))"))
    return before, after


def test_training_child_runs_at_the_lowest_priority_by_default():
    before, after = _niceness_after_lower_priority(None)
    assert after == 19, (before, after)  # demo_latency: Try it keeps its idle speed while a run trains


def test_training_priority_follows_tuner_train_nice():
    before, after = _niceness_after_lower_priority("3")
    assert after == min(19, before + 3)
    before, after = _niceness_after_lower_priority("not a number")  # a warning, then the default step (19), as
    assert after == min(19, before + 19)  # every TUNER_* variable with a bad value does (tuner/environment.py)


def _policy_after_lower_priority(env_value: str | None) -> tuple[bool, bool]:
    """(SCHED_IDLE for the calling thread, SCHED_IDLE for a thread started afterwards), after lower_priority()."""
    main, later = (w == "True" for w in _after_lower_priority("TUNER_TRAIN_SCHED", env_value, (
        "lower_priority(); out = []; t = threading.Thread(target=lambda: out.append(os.sched_getscheduler(0))); "
        "t.start(); t.join(); print(os.sched_getscheduler(0) == os.SCHED_IDLE, out[0] == os.SCHED_IDLE)")))
    return main, later


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is a Linux scheduling policy")
def test_training_child_uses_the_idle_scheduling_policy_by_default():
    # an ordinary thread that wakes (a Try-it request) takes the core at once: bench/demo_latency.py
    assert _policy_after_lower_priority(None) == (True, True)  # threads started later (torch's pool) inherit it
    assert _policy_after_lower_priority("normal") == (False, False)
