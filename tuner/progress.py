"""What a run is doing, in words both the page and the CLI use: its phases, the stop request before the first
training step, the clock and the ETA.

The parent (tuner.jobs) writes `queued` and `starting`; the training child (tuner.train) writes every later phase
as a `{"type": "phase", "phase": ..., **parts}` event. The sentences below are English templates with {named}
parts: the CLI fills them in as they are, the page translates them first (`tuner.ui.i18n.say`, whose Chinese for
them lives in the "progress and phases" section). Nothing here imports the UI.
"""

from __future__ import annotations

import threading
import time

# phase -> its sentence (parts come from the phase event)
PHASES = {
    "queued": "Waiting for a free training slot: position {position} in the queue.",
    "starting": "Starting the training process (loading Python and the libraries)…",
    "reading": "Reading the data…",
    "tokenizing": "Tokenizing {rows} training rows…",
    "tokenizing_sample": "Tokenizing {rows} of {total_rows} training rows (all the run can use)…",
    "tokenizing_done": "Tokenized {done_rows} rows ({tokens} tokens) so far…",
    "tokenizing_tokens": "Tokenized {tokens} tokens so far…",
    "baseline": "Fitting the classical baseline (TF-IDF + linear model)…",
    "loading": "Loading the model {model}…",
    "training": "Training…",
    "evaluating_step": "Scoring the validation rows at step {step}…",
    "saving": "Saving the adapter…",
    "evaluating": "Scoring the validation rows…",
}

# the words of each state (the bold word of the status line)
STATES = {"idle": "idle", "checking": "checking", "queued": "queued", "running": "running", "stopping": "stopping",
          "completed": "completed", "stopped": "stopped", "failed": "failed", "interrupted": "interrupted",
          "created": "created"}

# how a run ended (status["outcome"]) -> its sentence
OUTCOMES = {
    "finished": "Finished {steps} steps in {time}.",
    "early_stopped": "Finished {steps} steps in {time} of {planned} planned (early stopping: the validation score "
                     "stopped improving).",
    "stopped": "Stopped by request at step {steps} after {time}; the adapter was saved.",
    "stopped_before_training": "Stopped before the first training step; there was nothing to save.",
    "stopped_evaluating": "Stopped while scoring the validation rows; the adapter was saved, without an evaluation "
                          "report.",
    "removed": "Removed from the queue before it started.",
}
STOPPING = "Stopping — the adapter will be saved."
STOPPING_EARLY = "Stopping — no training step has run yet, so there is nothing to save."
CHECKING = "Checking the settings…"
PRE_TRAINING = ("queued", "starting", "reading", "tokenizing", "baseline", "loading")  # nothing to save yet


def fmt_duration(seconds) -> str:
    """m:ss under an hour, then 1h05m; '–' for no value. The page and the CLI show every time with it."""
    if seconds is None:
        return "–"
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def fmt_count(n) -> str:
    return f"{int(n):,}" if isinstance(n, (int, float)) else str(n)


def elapsed(status: dict, now: float | None = None) -> float | None:
    """Seconds since the run was launched (queued, for a run still waiting), up to its end: the one clock of the
    status line, the CLI and the "Finished N steps in X" sentence."""
    begin = status.get("launched") or status.get("started") or status.get("queued")
    if not begin:
        return None
    end = status.get("ended") if status.get("state") not in ("queued", "running") else None
    return max(0.0, (end or (now if now is not None else time.time())) - begin)


def eta_left(step: int, total: int | None, sec_per_step: float | None, step_time: float | None,
             now: float | None = None) -> float | None:
    """Seconds left: the steps still to run at the smoothed seconds per optimizer step (evaluations left out),
    less the time since the last step ended, never below 0. Between two steps the estimate only counts down."""
    if not total or not sec_per_step or step >= total:
        return 0.0 if total and step >= total else None
    left = (total - step) * sec_per_step
    if step_time:
        left -= max(0.0, (now if now is not None else time.time()) - step_time)
    return max(0.0, left)


class Smoother:
    """An exponential moving average that starts at its first value."""

    def __init__(self, weight: float):
        self.weight, self.value = weight, None

    def add(self, x: float) -> float:
        self.value = x if self.value is None else self.value + self.weight * (x - self.value)
        return self.value


def message(prog: dict) -> tuple[str, dict]:
    """(English template, parts) of the second line of the status: the phase while it runs, how it ended after.
    Returns ("", {}) when the run's own message (a failure sentence) is the one to show."""
    state = prog.get("state")
    if state == "checking":
        return CHECKING, {}
    if state in ("completed", "stopped") and prog.get("outcome") in OUTCOMES:
        parts = {"steps": prog.get("step", 0), "time": fmt_duration(prog.get("elapsed")),
                 "planned": prog.get("planned_steps") or prog.get("total_steps") or "?"}
        return OUTCOMES[prog["outcome"]], parts
    if state not in ("queued", "running"):
        return "", {}
    if prog.get("stopping"):
        return (STOPPING_EARLY if prog.get("phase") in PRE_TRAINING else STOPPING), {}
    key = prog.get("phase") or ("queued" if state == "queued" else "")
    parts = dict(prog.get("phase_parts") or {})
    if state == "queued":
        key, parts = "queued", {"position": prog.get("position") or parts.get("position") or "?"}
    if key == "tokenizing" and parts.get("done_rows"):
        key = "tokenizing_done"
    elif key == "tokenizing" and parts.get("tokens"):
        key = "tokenizing_tokens"
    elif key == "tokenizing" and parts.get("total_rows"):
        key = "tokenizing_sample"
    elif key == "evaluating" and prog.get("training_eval"):
        key, parts = "evaluating_step", {"step": prog.get("step", 0)}
    if key not in PHASES:
        return "", {}
    return PHASES[key], {k: (fmt_count(v) if k in ("rows", "total_rows", "done_rows", "tokens") else v)
                         for k, v in parts.items()}


def fill(template: str, parts: dict) -> str:
    """A template filled in (missing parts read '?')."""

    class Missing(dict):
        def __missing__(self, key):
            return "?"

    return template.format_map(Missing(parts)) if template else ""


# ---- in the training child: stop requests before the first step, and counts while tokenizing ------------------
class StopRequested(Exception):
    """The STOP file appeared before training started (or while the final evaluation ran)."""


class PhaseClock:
    """Where the child is (its phase) and whether a stop was asked for. `check()` raises StopRequested in a phase
    that has nothing to save yet; a watcher thread interrupts a long call (a model loading, a baseline fitting)
    there, so a stop never waits for it to end."""

    def __init__(self, stop_path, interval: float = 0.5, check_every: float = 0.2):
        self.stop_path, self.interval, self.check_every = stop_path, interval, check_every
        self.phase = "starting"
        self.lock = threading.Lock()
        self._last = 0.0
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self.interrupted = False

    def requested(self) -> bool:
        return self.stop_path.exists()

    def check(self, throttle: bool = False) -> None:
        if throttle:
            now = time.monotonic()
            if now - self._last < self.check_every:
                return
            self._last = now
        if self.phase in PRE_TRAINING + ("evaluating",) and self.requested():
            raise StopRequested(self.phase)

    def watch(self) -> None:
        """A daemon thread: when a stop is asked for in a pre-training phase or the final evaluation, raise
        KeyboardInterrupt in the main thread (turned into StopRequested by the caller) at its next Python line."""
        import _thread

        def loop():
            while not self._done.wait(self.interval):
                with self.lock:
                    if not self._done.is_set() and self.phase in PRE_TRAINING + ("evaluating",) and self.requested():
                        self.interrupted = True
                        _thread.interrupt_main()
                        return

        self._thread = threading.Thread(target=loop, name="tuner-stop-watch", daemon=True)
        self._thread.start()

    def close(self) -> None:
        with self.lock:
            self._done.set()


class CountingTokenizer:
    """The tokenizer as a task's `encode` sees it: every call is passed on, and the rows and tokens it returns are
    counted; `report(rows, tokens)` is called at most once a second, and the stop file is checked (`clock.check`)
    between calls. Attributes read and set reach the real tokenizer."""

    def __init__(self, tokenizer, report, clock: PhaseClock | None = None, every: float = 1.0):
        object.__setattr__(self, "_tok", tokenizer)
        object.__setattr__(self, "_report", report)
        object.__setattr__(self, "_clock", clock)
        object.__setattr__(self, "_every", every)
        object.__setattr__(self, "_said", time.monotonic())
        object.__setattr__(self, "rows", 0)
        object.__setattr__(self, "tokens", 0)
        object.__setattr__(self, "batched", False)

    def __call__(self, text, *args, **kwargs):
        if self._clock is not None:
            self._clock.check(throttle=True)
        out = self._tok(text, *args, **kwargs)
        ids = out.get("input_ids") if hasattr(out, "get") else None
        if isinstance(text, (list, tuple)) and ids is not None and (not ids or isinstance(ids[0], list)):
            object.__setattr__(self, "batched", True)
            object.__setattr__(self, "rows", self.rows + len(ids))
            object.__setattr__(self, "tokens", self.tokens + sum(len(x) for x in ids))
        elif ids is not None:
            object.__setattr__(self, "tokens", self.tokens + len(ids))
        now = time.monotonic()
        if now - self._said >= self._every:
            object.__setattr__(self, "_said", now)
            self._report(self.rows if self.batched else 0, self.tokens)
        return out

    def __getattr__(self, name):
        return getattr(self._tok, name)

    def __setattr__(self, name, value):
        setattr(self._tok, name, value)
