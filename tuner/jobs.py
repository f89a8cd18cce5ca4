"""Start, stop and queue training processes.

A run trains in a child process started as `accelerate launch [...] -m tuner.train <run>/config.yaml`
(an argv list, never a shell). The UI and the CLI both come through `JobManager.submit`.
At most `TUNER_MAX_CONCURRENT` runs (default 1) train at once; the rest wait in a FIFO queue. A user may have at
most `TUNER_MAX_QUEUED_RUNS` runs queued or training and store `TUNER_MAX_USER_GB` (tuner.runs.check_can_start).
A full disk never takes the queue down: a status that cannot be written is logged and kept in memory.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

from . import environment
from . import runs as runs_mod
from .errors import RunError
from .progress import OUTCOMES, PHASES, PRE_TRAINING
from .runs import Run

log = logging.getLogger(__name__)


def gpu_count() -> int:
    """Visible CUDA devices, without importing torch in the app process."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def launch_argv(config_path: str, num_processes: int = 1, use_gpu: bool | None = None,
                accelerate_config: str | None = None, gpu_ids: str | None = None,
                port: int | None = None) -> list[str]:
    """The exact `accelerate launch` command line for a run (shown on the page as the CLI equivalent).

    Several processes go through accelerate's torchrun launcher (`--multi_gpu`), on GPUs (NCCL) and on the
    CPU alike: there each rank's Trainer runs with use_cpu, so accelerate sets up MULTI_CPU over gloo.
    (`--cpu --num_processes N`, or a MULTI_CPU config file without mpirun, starts only ONE process.)"""
    use_gpu = gpu_count() > 0 if use_gpu is None else use_gpu
    argv = [sys.executable, "-m", "accelerate.commands.launch"]
    if accelerate_config:
        argv += ["--config_file", accelerate_config]
    else:
        argv += ["--num_processes", str(num_processes), "--num_machines", "1", "--dynamo_backend", "no",
                 "--mixed_precision", "no"]
        if num_processes > 1:
            argv += ["--multi_gpu", "--main_process_port", str(port or free_port())]
            if use_gpu and gpu_ids:
                argv += ["--gpu_ids", gpu_ids]
        elif not use_gpu:
            argv += ["--cpu"]
        elif gpu_ids:
            argv += ["--gpu_ids", gpu_ids]
    return argv + ["-m", "tuner.train", str(config_path)]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def selected_gpus(gpus: str) -> list[int]:
    """GPU ids for a `train.gpus` setting ('all', 'none', '0,1'), limited to the visible ones."""
    visible = list(range(gpu_count()))
    gpus = (gpus or "all").replace(" ", "").lower()
    if gpus == "none":
        return []
    if gpus == "all":
        return visible
    wanted = [int(g) for g in gpus.split(",") if g.isdigit()]
    missing = [g for g in wanted if g not in visible]
    if missing:
        raise RunError(f"GPU {missing[0]} is not visible here ({len(visible)} GPU(s) found); choose from: "
                       f"{', '.join(map(str, visible)) or 'none (train on the CPU)'}.")
    return wanted


def run_launch(train_cfg) -> dict:
    """How a run's TrainConfig is launched: processes, GPU or CPU, which GPUs, any accelerate config file."""
    gpus = selected_gpus(train_cfg.gpus)
    use_gpu = bool(gpus)
    processes = train_cfg.processes or (len(gpus) if use_gpu else 1)
    if use_gpu and processes > len(gpus):
        raise RunError(f"{processes} processes need {processes} GPUs, but {len(gpus)} are selected; select more GPUs or lower train.processes.")
    ids = ",".join(map(str, gpus)) if use_gpu and len(gpus) < gpu_count() else None
    return {"num_processes": processes, "use_gpu": use_gpu, "gpu_ids": ids,
            "accelerate_config": train_cfg.accelerate_config or None}


def run_argv(run: Run) -> list[str]:
    from .config import RunConfig

    cfg = RunConfig.load(run.config_path)
    return launch_argv(str(run.config_path), **run_launch(cfg.train))


def child_env() -> dict:
    env = dict(os.environ)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("HF_EVALUATE_OFFLINE", "1")
    env["PYTHONUNBUFFERED"] = "1"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class JobManager:
    """Owns the child processes of this app/CLI process. Thread-safe; one per process."""

    def __init__(self, max_concurrent: int | None = None):
        self.max_concurrent = max_concurrent or environment.get("TUNER_MAX_CONCURRENT")
        self._procs: dict[str, subprocess.Popen] = {}
        self._queue: list[Run] = []
        self._lock = threading.RLock()
        self._watcher: threading.Thread | None = None

    # ---- public ----------------------------------------------------------------------------------
    def submit(self, run: Run, resume: bool = False) -> int:
        """Start `run` now or queue it; returns its queue position (0 = started)."""
        with self._lock:
            if run.id in self._procs or any(r.id == run.id for r in self._queue):
                raise RunError(f"Run {run.id} is already training or queued.")
            if runs_mod.recover(run).get("state") in runs_mod.ACTIVE:  # training in another process
                raise RunError(f"Run {run.id} is already training or queued.")
            runs_mod.check_can_start(run)  # per-user quotas: queued/training runs, stored bytes
            try:
                run.stop_path.unlink(missing_ok=True)  # a stop left from an earlier start of this run
                run.set_status(state="queued", manager_pid=os.getpid(), resume=resume, queued=time.time(),
                               message="Waiting for a free training slot.", phase="queued", phase_parts={},
                               stopping=False, launched=None, started=None, ended=None, outcome="")
            except OSError as exc:
                if runs_mod.is_disk_full(exc):
                    raise RunError("The disk is full, so the run could not be queued; delete runs you no longer "
                                   "need on the Runs tab or with `python -m tuner delete <run>`, then try again.") from None
                raise RunError("The run's folder could not be written (a write error); check the disk and its "
                               "permissions, then try again.") from None
            self._queue.append(run)
            _event(run, {"type": "phase", "phase": "queued", "position": len(self._queue),
                         "message": "Waiting for a free training slot."})
            self._pump()
            self._ensure_watcher()
            return self.position(run)

    def position(self, run: Run) -> int:
        with self._lock:
            ids = [r.id for r in self._queue]
            return ids.index(run.id) + 1 if run.id in ids else 0

    def stop(self, run: Run) -> str:
        """Ask a run to stop. A queued run is removed from the queue; one that has not reached its first training
        step (starting, reading, tokenizing, loading) ends at once, with nothing to save; a training run stops
        cleanly at the next step (adapter saved). The status says `stopping` from this moment."""
        with self._lock:
            queued = [r for r in self._queue if r.id == run.id]
            if queued:
                self._queue.remove(queued[0])
                run.set_status(state="stopped", message=OUTCOMES["removed"], outcome="removed", ended=time.time(),
                               phase="done")
                _event(run, {"type": "status", "state": "stopped", "message": OUTCOMES["removed"]})
                return "removed from the queue"
            status = run.status()
            if status.get("state") not in ("running", "queued"):  # queued: being launched right now
                raise RunError(f"Run {run.id} is not training (it is {status.get('state', 'created')}).")
            run.stop_path.write_text("stop requested\n")
            proc = self._procs.get(run.id)
            if proc is not None and proc.poll() is None and status.get("phase") in PRE_TRAINING:
                # Nothing is trained yet: end the process tree now rather than wait for a model to load.
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                del self._procs[run.id]
                message = OUTCOMES["stopped_before_training"]
                _note(run, state="stopped", message=message, outcome="stopped_before_training", ended=time.time(),
                      phase="done", stopping=False)
                _event(run, {"type": "status", "state": "stopped", "message": message})
                return "stopped before training"
            _note(run, stopping=True)
        return "stopping at the next step"

    def kill(self, run: Run) -> None:
        """Hard stop (used when a clean stop does not end the process in time)."""
        with self._lock:
            proc = self._procs.get(run.id)
        if proc and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)

    def is_active(self, run: Run) -> bool:
        with self._lock:
            return run.id in self._procs or any(r.id == run.id for r in self._queue)

    def wait(self, run: Run, timeout: float | None = None) -> int | None:
        deadline = None if timeout is None else time.time() + timeout
        while True:
            with self._lock:
                proc = self._procs.get(run.id)
                queued = any(r.id == run.id for r in self._queue)
            if proc is None and not queued:
                return 0
            if proc is not None:
                try:
                    return proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    pass
            else:
                time.sleep(0.5)
            if deadline and time.time() > deadline:
                return None

    # ---- internals -------------------------------------------------------------------------------
    def _pump(self) -> None:
        with self._lock:
            self._reap()
            while self._queue and len(self._procs) < self.max_concurrent:
                self._start(self._queue.pop(0))

    def _start(self, run: Run) -> None:
        try:
            argv = run_argv(run)
        except Exception as exc:  # a bad GPU choice or config: the run fails with one sentence
            from .errors import user_message

            _note(run, state="failed", message=user_message(exc))
            return
        log.info("starting run %s: %s", run.id, argv)
        message = PHASES["starting"]
        try:  # said before the launch: the page shows it while Python and the libraries load in the child
            run.set_status(launched=time.time(), message=message, phase="starting", phase_parts={})
            run.append_event({"type": "phase", "phase": "starting", "message": message})
        except OSError as exc:  # a full disk: the child records what it can; _reap sees its end
            log.warning("could not record the start of run %s: %r", run.id, exc)
        try:
            logf = open(run.log_path, "ab")
        except OSError as exc:
            log.error("could not open the log of %s: %r", run.id, exc)
            _note(run, state="failed", message=runs_mod.DISK_FULL if runs_mod.is_disk_full(exc) else
                  "The run's folder could not be written (a write error); check the disk and its permissions, then press Resume.")
            return
        try:
            proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=child_env(), process_group=0, cwd=os.getcwd())
            # Its own process group (stop/kill reach the whole launcher tree) but the app's session: the kernel's
            # per-session CPU groups would otherwise give the child an equal share against the page, and the
            # child's lower priority (TUNER_TRAIN_NICE) could not keep the demo responsive during training.
        except OSError as exc:
            _note(run, state="failed", message="The training process could not be started; see the server log.")
            log.error("could not start %s: %r", run.id, exc)
            return
        finally:
            logf.close()
        _note(run, state="running", launcher_pid=proc.pid)  # running from here: recover() watches the process
        self._procs[run.id] = proc

    def _reap(self) -> None:
        for run_id, proc in list(self._procs.items()):
            code = proc.poll()
            if code is None:
                continue
            del self._procs[run_id]
            run = Run(proc_run_path(proc))
            status = run.status()
            if status.get("state") in ("queued", "running"):
                # The child records every failure it can see itself; dying silently (killed, out of memory,
                # a full disk, power) leaves a run that can resume from its newest complete checkpoint.
                message = runs_mod.death_message(run, code)
                _note(run, state="interrupted", message=message)
                try:
                    run.append_event({"type": "status", "state": "interrupted", "message": message})
                except OSError as exc:
                    log.warning("could not record that run %s stopped: %r", run.id, exc)
            try:
                runs_mod.measure(run)  # the finished run's size, kept for the storage quota
            except Exception:  # a size is never worth a crash of the queue
                log.exception("could not measure run %s", run.id)

    def _ensure_watcher(self) -> None:
        if self._watcher and self._watcher.is_alive():
            return

        def watch():
            while True:
                time.sleep(1.0)
                with self._lock:
                    try:
                        self._pump()
                    except Exception:  # the queue outlives one run's failure (a full disk)
                        log.exception("the training queue could not move on")
                    if not self._procs and not self._queue:
                        self._watcher = None
                        return

        self._watcher = threading.Thread(target=watch, name="tuner-jobs", daemon=True)
        self._watcher.start()


def _note(run: Run, **fields) -> None:
    """set_status that survives a full disk: what could not be written is logged and kept in memory."""
    try:
        run.set_status(**fields)
    except OSError as exc:
        log.warning("could not write the status of run %s (%s): %r", run.id, fields.get("state"), exc)
        runs_mod.remember_unsaved(run.status_path, {**run.status(), **fields, "updated": time.time()})


def _event(run: Run, event: dict) -> None:
    try:
        run.append_event(event)
    except OSError as exc:
        log.warning("could not record an event of run %s: %r", run.id, exc)


def proc_run_path(proc: subprocess.Popen):
    from pathlib import Path

    return Path(proc.args[-1]).parent


_MANAGER: JobManager | None = None


def manager() -> JobManager:
    global _MANAGER
    if _MANAGER is None:
        _MANAGER = JobManager()
    return _MANAGER
