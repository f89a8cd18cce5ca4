"""Trainer callbacks: progress events, the stop flag, the non-finite-loss guard. They know nothing of the UI."""

from __future__ import annotations

import math
import time

from transformers import TrainerCallback

from .runs import Run


class EventsCallback(TrainerCallback):
    """Append start/progress/train/eval events to the run's events.jsonl (main process only)."""

    def __init__(self, run: Run, info: dict, speed=None):
        self.run, self.info = run, info
        self.speed = speed  # a tuner.throughput.SpeedMeter: live tokens/s and utilisation, or None
        self._last_progress = 0.0
        self._last_speed = 0.0
        self._t0 = None

    def on_train_begin(self, args, state, control, **kw):
        self._t0 = time.time()
        if state.is_world_process_zero:
            if self.speed is not None:
                self.speed.start()
            self.run.append_event({"type": "start", "total_steps": state.max_steps, **self.info})

    def on_step_end(self, args, state, control, **kw):
        now = time.time()
        if state.is_world_process_zero and now - self._last_progress >= 1.0:
            self._last_progress = now
            event = {"type": "progress", "step": state.global_step, "total_steps": state.max_steps, "epoch": state.epoch}
            if self.speed is not None and now - self._last_speed >= 5.0:  # a 5 s window smooths batch-length noise
                self._last_speed = now
                event.update(self.speed.reading())
            self.run.append_event(event)

    def on_log(self, args, state, control, logs=None, **kw):
        if not state.is_world_process_zero or not logs:
            return
        if "loss" in logs:
            self.run.append_event({"type": "train", "step": state.global_step, "epoch": state.epoch,
                                   "loss": logs["loss"], "lr": logs.get("learning_rate"),
                                   "grad_norm": logs.get("grad_norm")})
        metrics = {k[5:]: v for k, v in logs.items() if k.startswith("eval_") and isinstance(v, (int, float))}
        if metrics:
            self.run.append_event({"type": "eval", "step": state.global_step, "epoch": state.epoch, **metrics})


class StopCallback(TrainerCallback):
    """A STOP file in the run folder ends training cleanly at the next step (the adapter is still saved)."""

    def __init__(self, run: Run):
        self.run = run
        self.stopped = False

    def on_step_end(self, args, state, control, **kw):
        if self.run.stop_path.exists():
            self.stopped = True
            control.should_training_stop = True
            control.should_save = False
        return control


class NonFiniteLossCallback(TrainerCallback):
    """Stop as soon as a logged loss is NaN or infinite; the run is then marked failed with the reason."""

    def __init__(self):
        self.bad_step = None

    def on_log(self, args, state, control, logs=None, **kw):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.bad_step = state.global_step
            control.should_training_stop = True
            control.should_save = False
        return control
