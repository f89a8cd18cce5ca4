"""Trainer callbacks: progress events, the stop flag, the non-finite-loss guard. They know nothing of the UI."""

from __future__ import annotations

import functools
import logging
import math
import time

from transformers import EarlyStoppingCallback, TrainerCallback

from .runs import Run

log = logging.getLogger("tuner.train")


class EventsCallback(TrainerCallback):
    """Append start/progress/train/eval events to the run's events.jsonl (main process only).

    Progress events (at most one a second) carry the smoothed seconds per optimizer step (`sec_per_step`, an
    average over the last steps that leaves out the evaluations and checkpoint saves between steps) and when that
    step ended (`step_time`), from which the page counts the ETA down (tuner.progress.eta_left); tokens/s is
    smoothed the same way. An evaluation during training is an `evaluating` phase event, then `training` again."""

    STEP_WEIGHT = 0.2  # of the newest step in the average seconds per step
    SPEED_WEIGHT = 0.3  # of the newest 5 s window in the average tokens/s

    def __init__(self, run: Run, info: dict, speed=None):
        from .progress import Smoother

        self.run, self.info = run, info
        self.speed = speed  # a tuner.cpu.throughput.SpeedMeter: live tokens/s and utilisation, or None
        self._last_progress = 0.0
        self._last_speed = 0.0
        self._t0 = None
        self._step_begin = self._step_end = None
        self._paused = False  # an evaluation or a checkpoint save since the last step
        self._evaluating = self._training = False
        self._per_step, self._tokens = Smoother(self.STEP_WEIGHT), Smoother(self.SPEED_WEIGHT)

    def on_train_begin(self, args, state, control, **kw):
        self._t0 = time.time()
        self._training = True
        if state.is_world_process_zero:
            if self.speed is not None:
                self.speed.start()
            self.run.append_event({"type": "start", "total_steps": state.max_steps, **self.info})

    def on_train_end(self, args, state, control, **kw):
        self._training = False

    def on_step_begin(self, args, state, control, **kw):
        self._step_begin = time.time()
        if self._evaluating:  # an evaluation that failed (tuner.train.guard_evaluation) never reached on_evaluate
            self.on_evaluate(args, state, control)

    def on_step_end(self, args, state, control, **kw):
        now = time.time()
        begin = self._step_end if self._step_end is not None and not self._paused else self._step_begin
        if begin is not None:
            self._per_step.add(max(now - begin, 0.0))
        self._step_end, self._paused = now, False
        if state.is_world_process_zero and now - self._last_progress >= 1.0:
            self._last_progress = now
            event = {"type": "progress", "step": state.global_step, "total_steps": state.max_steps, "epoch": state.epoch,
                     "sec_per_step": round(self._per_step.value, 4), "step_time": now}
            if self.speed is not None and now - self._last_speed >= 5.0:  # a 5 s window smooths batch-length noise
                self._last_speed = now
                reading = self.speed.reading()
                if reading.get("tokens_per_s"):
                    reading["tokens_per_s"] = round(self._tokens.add(reading["tokens_per_s"]), 1)
                event.update(reading)
            self.run.append_event(event)

    def _pause(self):
        """An evaluation or save between two steps: its time stays out of the seconds per step and tokens/s."""
        self._paused = True
        if self.speed is not None and self._training:
            self.speed.reading()  # the window restarts after it
            self._last_speed = time.time()

    def on_prediction_step(self, args, state, control, **kw):
        if self._training and not self._evaluating:
            self._evaluating = True
            self._pause()
            if state.is_world_process_zero:
                self.run.append_event({"type": "phase", "phase": "evaluating", "step": state.global_step,
                                       "training_eval": True, "message": f"Scoring the validation rows at step {state.global_step}…"})

    def on_evaluate(self, args, state, control, **kw):
        self._pause()
        if self._training and self._evaluating:
            self._evaluating = False
            if state.is_world_process_zero:
                self.run.append_event({"type": "phase", "phase": "training", "training_eval": True,
                                       "message": "Training…"})

    def on_save(self, args, state, control, **kw):
        self._pause()

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


class EarlyStopCallback(EarlyStoppingCallback):
    """transformers' early stopping on the validation score (`train.early_stopping` evaluations without a gain
    end the run; the best checkpoint is loaded at the end), never before every training row was seen once.
    An early stop is written to events.jsonl."""

    def __init__(self, patience: int, run: Run):
        super().__init__(early_stopping_patience=patience, early_stopping_threshold=0.0)
        self.run = run
        self.fired_at = None

    def on_evaluate(self, args, state, control, metrics, **kw):
        before = control.should_training_stop
        super().on_evaluate(args, state, control, metrics, **kw)
        if before or not control.should_training_stop:
            return
        if (state.epoch or 0.0) < 1.0 - 1e-6:
            control.should_training_stop = False  # the first pass over the data always completes
            return
        self.fired_at = state.global_step
        if state.is_world_process_zero:
            self.run.append_event({"type": "early_stop", "step": state.global_step, "total_steps": state.max_steps,
                                   "patience": self.early_stopping_patience})


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


class TimeBudgetCallback(TrainerCallback):
    """`train.max_minutes`: the training loop ends inside a time budget, at the end of its learning-rate schedule
    rather than part way down it. The run is timed as it goes: after 2% of the plan (at least CALIBRATE steps; or
    once a tenth of the budget has gone, when the steps are fast),
    at every tenth of it and after every evaluation, the steps that still fit are worked out from the seconds
    per step and per evaluation measured so far, and the schedule (total steps, warm-up, decay; the evaluation
    points until the first one) is set to that many, never beyond the plan. Early steps run slower (every new
    text length builds its kernels once), so later estimates may give back steps an early one took. A run
    that overruns anyway stops at the budget, saved.

    Decisions are taken at the same steps on every process and agreed through torch.distributed (the smallest
    total wins), so data-parallel ranks always stop together."""

    CALIBRATE = 20
    CHECK_EVERY = 10  # steps between overrun checks
    MARGIN = 0.98  # share of the time left that the new plan may fill

    def __init__(self, minutes: float, evals: int, run: Run | None = None, clock=time.monotonic):
        self.budget = minutes * 60.0
        self.evals = evals
        self.run = run
        self.clock = clock
        self.planned = None
        self.hit_limit = False
        self._schedules = None

    def on_train_begin(self, args, state, control, **kw):
        self.t0 = self.clock()
        self.start_step = self._last_check = state.global_step
        self.planned = state.max_steps
        steps = state.max_steps - self.start_step
        self.first, self.every = max(self.CALIBRATE, math.ceil(0.02 * steps)), max(self.CALIBRATE, math.ceil(0.1 * steps))
        self.eval_seconds, self.evals_done = 0.0, 0
        self._mark = None  # step, elapsed and evaluation seconds at the first estimate
        self._step_end = None
        self._evaluated = self._replan = False

    def on_evaluate(self, args, state, control, **kw):
        self._evaluated = True

    def on_step_begin(self, args, state, control, **kw):
        if self._evaluated and self._step_end is not None:  # the gap since the last step was an evaluation (+ save)
            self.eval_seconds += self.clock() - self._step_end
            self.evals_done += 1
            self._evaluated, self._replan = False, True

    def on_step_end(self, args, state, control, lr_scheduler=None, **kw):
        step = state.global_step
        self._step_end = now = self.clock()
        if step >= state.max_steps:  # the last step of the schedule: the loop ends here (the flow callback, which
            return control  # runs first, has said so), so a new plan could only name steps that never run
        done = step - self.start_step
        elapsed = now - self.t0
        # Fast steps can spend a tenth of the budget before 2% of the plan: then the first estimate comes by time,
        # at an overrun check (the steps where every process checks anyway, so data-parallel ranks stay in step).
        early = (self._mark is None and done >= self.CALIBRATE and elapsed >= 0.1 * self.budget
                 and step - self._last_check >= self.CHECK_EVERY)
        replan = done == self.first or done % self.every == 0 or self._replan or early
        if not replan and step - self._last_check < self.CHECK_EVERY:
            return control
        self._replan, self._last_check = False, step
        total = self._fit(args, state, step, elapsed) if replan else state.max_steps
        total, over = _agree(total, elapsed >= self.budget)
        if over:
            self.hit_limit = True
            self._set_total(state, step, lr_scheduler, step)
            control.should_training_stop = True
            # keep what the DefaultFlowCallback asked for at this step; the last step is always evaluated and saved
            control.should_save = control.should_save or args.save_strategy == "steps"
            control.should_evaluate = control.should_evaluate or args.eval_strategy == "steps"
            log.info("time budget of %.1f min reached at step %s", self.budget / 60, step)
        elif abs(total - state.max_steps) > 0.01 * state.max_steps:
            self._set_total(state, step, lr_scheduler, total)
        return control

    def _fit(self, args, state, step: int, elapsed: float) -> int:
        """Steps (counted from 0) that fit in the budget, at the seconds per step since the first estimate (the
        rate the run settles to) and the seconds per evaluation measured so far."""
        mark_step, mark_time, mark_eval = self._mark or (self.start_step, 0.0, 0.0)
        per_step = max(elapsed - mark_time - (self.eval_seconds - mark_eval), 1e-9) / max(step - mark_step, 1)
        if self._mark is None:  # later rates leave out the first steps, which build kernels for every new length
            self._mark = (step, elapsed, self.eval_seconds)
        per_eval = self.eval_seconds / self.evals_done if self.evals_done else 0.0
        left = (self.budget - elapsed) * self.MARGIN
        total = step + int(left / per_step)
        if args.eval_strategy == "steps" and per_eval:  # room for the evaluations the shorter plan still holds
            total = step + int(max(left - self._evals_between(state, step, total) * per_eval, 0.0) / per_step)
        return max(step + 1, min(total, self.planned))

    @staticmethod
    def _evals_between(state, step: int, total: int) -> int:
        every = max(int(state.eval_steps or 1), 1)
        return total // every - step // every + (1 if total % every else 0)

    def _set_total(self, state, step: int, lr_scheduler, total: int) -> None:
        if self.evals_done == 0 and self.evals and step < state.eval_steps:
            # the planned number of evaluations, spread over the new total (none of them already behind)
            state.eval_steps = state.save_steps = max(math.ceil(total / (self.evals + 1)), step + 1)
        self._schedules = self._schedules or _schedules(lr_scheduler)
        for lambdas, i, fn in self._schedules:
            lambdas[i] = _resized(fn, self.planned, total)
        state.max_steps = total
        log.info("time budget %.1f min: %s of %s planned steps fit", self.budget / 60, total, self.planned)
        if self.run is not None and state.is_world_process_zero:
            self.run.append_event({"type": "budget", "step": step, "total_steps": total, "planned_steps": self.planned,
                                   "minutes": round(self.budget / 60, 2)})


def _schedules(lr_scheduler) -> list:
    """(list, index, the planned lambda) of each transformers linear / cosine schedule in the scheduler; the
    constant schedule has no total and is left alone."""
    scheduler = getattr(lr_scheduler, "scheduler", lr_scheduler)  # accelerate wraps the Trainer's scheduler
    lambdas = getattr(scheduler, "lr_lambdas", None) or []
    return [(lambdas, i, fn) for i, fn in enumerate(lambdas)
            if isinstance(fn, functools.partial) and "num_training_steps" in fn.keywords]


def _resized(fn, planned: int, total: int):
    """The planned schedule `fn` over `total` steps, its warm-up in proportion."""
    kw = dict(fn.keywords, num_training_steps=total)
    if "num_warmup_steps" in kw and planned:
        kw["num_warmup_steps"] = int(round(kw["num_warmup_steps"] * total / planned))
    return functools.partial(fn.func, *fn.args, **kw)


def _agree(total: int, over: bool) -> tuple[int, bool]:
    """Under data parallel every process takes the smallest total and stops if any one is over its budget."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return total, over
    import torch

    device = f"cuda:{torch.cuda.current_device()}" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([total, -int(over)], dtype=torch.long, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return int(t[0]), bool(t[1] < 0)
