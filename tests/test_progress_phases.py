"""Progress from the first second (issue #25): the phases of a run in order, a stop in every phase (while the model
loads it ends `stopped` with nothing to save), an ETA that only counts down within a step, seconds per step that
leave evaluations out, one clock for elapsed and "Finished in", and a status line that never shows more than 100%
and, in Chinese, no English words."""

from __future__ import annotations

import re

import pytest

from tuner import progress, runs
from tuner.config import RunConfig


def tiny_cfg(tiny_model_dir, csv_path, **train) -> RunConfig:
    return RunConfig.from_dict({
        "data": {"train_file": str(csv_path), "validation_fraction": 0.2},
        "model": {"name": str(tiny_model_dir), "max_length": 32},
        "train": {"epochs": 1, "batch_size": 16, "evals": 1, "learning_rate": 5e-3, "precision": "fp32", **train},
    })


def phases(run) -> list[str]:
    """The phase events in order, each phase once per stretch (tokenizing counts repeat their phase)."""
    out = []
    for e in run.events():
        if e.get("type") == "phase" and (not out or out[-1] != e["phase"]):
            out.append(e["phase"])
    return out


# ---- a tiny run, in this process ---------------------------------------------------------------------------------
def test_the_phases_of_a_tiny_run_in_order(runs_dir, tiny_model_dir, sample_csv):
    from tuner import train

    run = runs.create_run(tiny_cfg(tiny_model_dir, sample_csv))
    assert train.main([str(run.config_path)]) == 0
    status = run.status()
    assert status["state"] == "completed" and status["outcome"] == "finished", status
    seen = phases(run)
    # before the first step: reading, tokenizing, the classical baseline, loading; then training with its
    # evaluation (scored at the step it came), then saving and the final evaluation
    assert seen[:5] == ["reading", "tokenizing", "baseline", "loading", "training"], seen
    assert seen[-2:] == ["saving", "evaluating"], seen
    assert "evaluating" in seen[5:-2], seen  # the evaluation during training is a phase of its own
    tokenizing = next(e for e in run.events() if e.get("phase") == "tokenizing")
    assert tokenizing["rows"] == 72  # 90 rows less the 20% held out: the page words the count itself
    # the progress events carry the smoothed seconds per step and when that step ended
    prog_events = [e for e in run.events() if e["type"] == "progress"]
    assert prog_events and all(e["sec_per_step"] > 0 and e["step_time"] for e in prog_events)
    # one clock: the sentence and the status line's elapsed are the same m:ss
    prog = run.progress()
    assert status["message"].startswith(f"Finished {status['steps']} steps in {progress.fmt_duration(prog['elapsed'])}.")
    assert prog["step"] == status["steps"] == prog["total_steps"]


def test_stop_while_the_model_loads_ends_stopped_with_nothing_to_save(runs_dir, tiny_model_dir, sample_csv,
                                                                      monkeypatch):
    """The watcher thread interrupts a long call (a model loading) once the STOP file appears; the run ends
    `stopped`, says there was nothing to save, and never trains."""
    import time

    from tuner import train

    run = runs.create_run(tiny_cfg(tiny_model_dir, sample_csv))
    ticks = []

    def slow_load(*args, **kwargs):
        run.stop_path.write_text("stop requested\n")  # the person presses Stop while the model loads
        for _ in range(1200):  # 60 s of Python work unless interrupted
            ticks.append(1)
            time.sleep(0.05)
        raise AssertionError("the model finished loading: the stop was not acted on")

    monkeypatch.setattr(train, "build_for_training", slow_load)
    assert train.main([str(run.config_path)]) == 0
    status = run.status()
    assert status["state"] == "stopped" and status["outcome"] == "stopped_before_training", status
    assert status["message"] == "Stopped before the first training step; there was nothing to save."
    assert len(ticks) < 1200
    assert not run.has_adapter() and not any(e["type"] == "start" for e in run.events())
    assert phases(run)[-1] == "loading"


def test_stop_between_phases_and_while_tokenizing(tmp_path):
    clock = progress.PhaseClock(tmp_path / "STOP", check_every=0.0)
    clock.phase = "tokenizing"
    said = []
    tok = progress.CountingTokenizer(lambda texts, **kw: {"input_ids": [[1] * len(t) for t in texts]},
                                     lambda rows, tokens: said.append((rows, tokens)), clock, every=0.0)
    tok(["ab", "abc"])
    assert (tok.rows, tok.tokens) == (2, 5) and said == [(2, 5)]
    (tmp_path / "STOP").write_text("stop")
    with pytest.raises(progress.StopRequested):
        tok(["abcd"])
    clock.phase = "training"  # from the first step on, the Trainer's StopCallback stops it (adapter saved)
    clock.check()


def test_a_tokenizer_setting_reaches_the_real_tokenizer():
    class Tok:
        pad_token = None

    real = Tok()
    tok = progress.CountingTokenizer(real, lambda *a: None)
    tok.pad_token = "<pad>"  # chat's ensure_pad_token sets it through the wrapper
    assert real.pad_token == "<pad>" and tok.pad_token == "<pad>"


# ---- the parent's side: queued and starting before the child exists; Stop while queued ---------------------------
def test_queued_then_starting_are_written_before_the_launch(runs_dir, tiny_model_dir, sample_csv, monkeypatch):
    from tuner import jobs

    manager = jobs.JobManager(max_concurrent=1)
    seen = {}

    class Proc:
        pid, args = 999999, []

        def poll(self):
            return None

    def fake_popen(argv, **kw):
        seen["status"] = dict(manager_run.status())
        seen["phases"] = phases(manager_run)
        return Proc()

    monkeypatch.setattr(jobs.subprocess, "Popen", fake_popen)
    monkeypatch.setattr(jobs, "run_argv", lambda run: ["python", "-m", "tuner.train", str(run.config_path)])
    monkeypatch.setattr(manager, "_ensure_watcher", lambda: None)
    manager_run = runs.create_run(tiny_cfg(tiny_model_dir, sample_csv))
    manager._procs["other"] = Proc()  # a run already training: this one waits
    assert manager.submit(manager_run) == 1
    prog = manager_run.progress()
    assert prog["state"] == "queued" and prog["phase"] == "queued" and prog["phase_parts"]["position"] == 1
    del manager._procs["other"]
    manager._pump()
    assert seen["phases"] == ["queued", "starting"] and seen["status"]["phase"] == "starting"
    assert seen["status"]["launched"]  # the clock starts at the launch
    assert manager_run.status()["state"] == "running"

    queued = runs.create_run(tiny_cfg(tiny_model_dir, sample_csv))
    assert manager.submit(queued) == 1
    assert manager.stop(queued) == "removed from the queue"
    assert queued.progress()["state"] == "stopped" and queued.status()["outcome"] == "removed"
    manager._procs.clear()


# ---- the ETA and the smoothed rate ---------------------------------------------------------------------------------
def test_the_eta_never_grows_within_a_step():
    step_time = 1000.0
    etas = [progress.eta_left(10, 100, 2.0, step_time, now=step_time + dt) for dt in (0, 0.5, 1, 3, 60, 500)]
    assert etas == sorted(etas, reverse=True)
    assert etas[0] == 180.0 and etas[-1] == 0.0  # counted down, clamped at 0
    assert progress.eta_left(100, 100, 2.0, step_time, now=step_time) == 0.0
    assert progress.eta_left(0, None, None, None) is None


def test_seconds_per_step_leave_the_evaluations_out(monkeypatch):
    from tuner import callbacks

    events = []

    class FakeRun:
        def append_event(self, e):
            events.append(e)

    class State:
        is_world_process_zero, global_step, max_steps, epoch = True, 0, 100, 0.0

    now = [0.0]
    monkeypatch.setattr(callbacks.time, "time", lambda: now[0])
    cb = callbacks.EventsCallback(FakeRun(), {})
    state = State()
    cb.on_train_begin(None, state, None)

    def step(seconds):
        cb.on_step_begin(None, state, None)
        now[0] += seconds
        state.global_step += 1
        cb.on_step_end(None, state, None)

    for _ in range(5):
        step(2.0)
    cb.on_prediction_step(None, state, None)  # an evaluation of 100 s between two steps
    now[0] += 100.0
    cb.on_evaluate(None, state, None)
    for _ in range(5):
        step(2.0)
    rates = [e["sec_per_step"] for e in events if e["type"] == "progress"]
    assert rates and max(rates) == pytest.approx(2.0)
    kinds = [(e.get("phase"), e.get("step")) for e in events if e["type"] == "phase"]
    assert kinds == [("evaluating", 5), ("training", None)]


# ---- the status line -----------------------------------------------------------------------------------------------
STATES = [
    {"state": "idle"}, {"state": "checking"},
    {"state": "queued", "phase": "queued", "position": 2, "elapsed": 3},
    {"state": "queued", "phase": "starting", "elapsed": 1},
    {"state": "running", "phase": "reading", "elapsed": 4},
    {"state": "running", "phase": "tokenizing", "phase_parts": {"rows": 50000, "total_rows": 90000}, "elapsed": 5},
    {"state": "running", "phase": "tokenizing", "phase_parts": {"rows": 72, "done_rows": 40, "tokens": 1234}, "elapsed": 6},
    {"state": "running", "phase": "tokenizing", "phase_parts": {"rows": 72, "tokens": 1234}, "elapsed": 6},
    {"state": "running", "phase": "baseline", "elapsed": 7},
    {"state": "running", "phase": "loading", "phase_parts": {"model": "tiny-bert"}, "elapsed": 8},
    {"state": "running", "phase": "loading", "stopping": True, "elapsed": 9},
    {"state": "running", "phase": "training", "step": 30, "total_steps": 16, "elapsed": 70, "eta": 12,
     "speed": {"tokens_per_s": 1234.0, "mfu": 12.53}},
    {"state": "running", "phase": "training", "step": 3, "total_steps": 16, "elapsed": 70, "eta": 12,
     "speed": {"tokens_per_s": 1234.0, "mfu": 0.42}, "stopping": True},
    {"state": "running", "phase": "evaluating", "training_eval": True, "step": 8, "total_steps": 16, "elapsed": 70},
    {"state": "running", "phase": "saving", "step": 16, "total_steps": 16, "elapsed": 70},
    {"state": "running", "phase": "evaluating", "step": 16, "total_steps": 16, "elapsed": 70},
    {"state": "completed", "outcome": "finished", "step": 16, "total_steps": 16, "elapsed": 441, "verdict": "good"},
    {"state": "completed", "outcome": "early_stopped", "step": 12, "planned_steps": 16, "total_steps": 16, "elapsed": 441},
    {"state": "stopped", "outcome": "stopped", "step": 5, "total_steps": 16, "elapsed": 41},
    {"state": "stopped", "outcome": "stopped_before_training", "elapsed": 11},
    {"state": "stopped", "outcome": "stopped_evaluating", "step": 16, "total_steps": 16, "elapsed": 11},
    {"state": "stopped", "outcome": "removed"},
]


@pytest.mark.parametrize("prog", STATES)
def test_the_status_line_never_shows_more_than_100_percent(prog):
    from tuner.ui.common import progress_html

    html = progress_html(prog)
    assert all(float(p) <= 100 for p in re.findall(r"([\d.]+)%", html)), html
    assert "1253%" not in html


@pytest.mark.parametrize("prog", STATES)
def test_the_status_line_in_chinese_has_no_english_words(prog):
    from tuner.ui.common import progress_html

    html = progress_html({**prog, "lang": "zh"})
    text = re.sub(r"<[^>]+>", " ", html).replace("tiny-bert", "")
    assert not re.findall(r"[A-Za-z]{2,}", text), text


def test_the_status_line_words_each_phase():
    from tuner.ui.common import progress_html

    assert "Loading the model tiny-bert…" in progress_html(STATES[9])
    assert "Stopping — no training step has run yet" in progress_html(STATES[10])
    assert "Stopping — the adapter will be saved." in progress_html(STATES[12]) and "ETA" not in progress_html(STATES[12])
    assert "position 2 in the queue" in progress_html(STATES[2])
    assert "Tokenized 40 rows (1,234 tokens) so far…" in progress_html(STATES[6])
    assert "Finished 16 steps in 7:21." in progress_html(STATES[16]) and "elapsed 7:21" in progress_html(STATES[16])
    assert "<b>checking</b>" in progress_html(STATES[1]) and "completed" not in progress_html(STATES[1])


def test_run_label_shows_each_tasks_headline_metric(runs_dir, sample_csv, tiny_model_dir):
    """A tagging run is listed by its entity F1 (0.38), not its token accuracy (0.92); a 0 reads as 0.000."""
    import json

    from tuner.ui.common import run_label

    run = runs.create_run(tiny_cfg(tiny_model_dir, sample_csv))
    run.metrics_path.write_text(json.dumps({"task": "ner", "accuracy": 0.92, "f1": 0.38, "precision": 0.4,
                                            "recall": 0.36, "macro_f1": 0.2}))
    label = run_label(run)
    assert "entity F1 0.380" in label and "0.920" not in label
    run.metrics_path.write_text(json.dumps({"task": "ner", "accuracy": 0.5, "f1": 0}))
    assert "entity F1 0.000" in run_label(run)
    run.metrics_path.write_text(json.dumps({"task": "classification", "accuracy": 0.9, "macro_f1": 0.85}))
    assert "macro-F1 0.850" in run_label(run)
