"""The run folder: the unit of persistence.

    <root>/<run id>/
        config.yaml        the RunConfig the child trains from
        status.json        state, pid, timestamps, the user-facing message
        events.jsonl       one JSON object per line, appended by the training process
        data/              copies of the uploaded files under server-made names
        checkpoints/       Trainer checkpoints (newest complete one is used to resume)
        adapter/           PEFT adapter (safetensors) + tokenizer + tuner_meta.json
        metrics.json       the evaluation report
        train.log          the child's stdout/stderr (details for developers, never shown raw)

Run ids are made here, never taken from a user: `YYYYMMDD-HHMMSS-<6 hex>`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .config import RunConfig
from .errors import RunError

RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
ACTIVE = ("queued", "running")
FINISHED = ("completed", "stopped")
STATES = ("created", "queued", "running", "completed", "stopped", "failed", "interrupted")


def default_runs_dir() -> str:
    """`runs` beside the app, or `/data/tuner-runs` where a writable /data exists (Hugging Face Spaces'
    persistent storage), so runs survive a Space restart."""
    data = Path("/data")
    if data.is_dir() and os.access(data, os.W_OK):
        return str(data / "tuner-runs")
    return "runs"


def runs_root() -> Path:
    root = Path(os.environ.get("TUNER_RUNS_DIR") or default_runs_dir()).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def write_json_atomic(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class Run:
    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    config_path = property(lambda self: self.path / "config.yaml")
    status_path = property(lambda self: self.path / "status.json")
    events_path = property(lambda self: self.path / "events.jsonl")
    data_dir = property(lambda self: self.path / "data")
    checkpoints_dir = property(lambda self: self.path / "checkpoints")
    adapter_dir = property(lambda self: self.path / "adapter")
    metrics_path = property(lambda self: self.path / "metrics.json")
    log_path = property(lambda self: self.path / "train.log")
    stop_path = property(lambda self: self.path / "STOP")

    # ---- status ----------------------------------------------------------------------------------
    def status(self) -> dict:
        try:
            return json.loads(self.status_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"state": "created"}

    def set_status(self, **fields) -> dict:
        status = self.status()
        status.update(fields, updated=time.time())
        write_json_atomic(self.status_path, status)
        return status

    @property
    def state(self) -> str:
        return self.status().get("state", "created")

    # ---- config, events, results -----------------------------------------------------------------
    def config(self) -> RunConfig:
        return RunConfig.load(self.config_path)

    def append_event(self, event: dict) -> None:
        event.setdefault("time", time.time())
        with open(self.events_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(event, default=float) + "\n")

    def events(self) -> list[dict]:
        try:
            lines = self.events_path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line being written right now
        return out

    def metrics(self) -> dict | None:
        try:
            return json.loads(self.metrics_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def meta(self) -> dict:
        try:
            return json.loads((self.adapter_dir / "tuner_meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise RunError(f"Run {self.id} has no saved adapter yet; pick a finished run.") from None

    def has_adapter(self) -> bool:
        return (self.adapter_dir / "adapter_model.safetensors").is_file()

    def display_name(self) -> str:
        return self.status().get("name") or self.id

    def newest_checkpoint(self) -> Path | None:
        """The newest checkpoint folder that was completely written (has trainer_state.json)."""
        best, best_step = None, -1
        for ckpt in self.checkpoints_dir.glob("checkpoint-*"):
            try:
                step = int(ckpt.name.split("-", 1)[1])
            except ValueError:
                continue
            if step > best_step and _checkpoint_complete(ckpt):
                best, best_step = ckpt, step
        return best

    # ---- progress summary for the UI/CLI ---------------------------------------------------------
    def progress(self) -> dict:
        events = self.events()
        status = self.status()
        # the plan's total, or the shorter one a time budget set later (tuner.callbacks.TimeBudgetCallback)
        total = next((e["total_steps"] for e in reversed(events) if e.get("type") in ("start", "budget")), None)
        start = next((e["time"] for e in reversed(events) if e.get("type") == "start"), None)
        step = max((e.get("step", 0) for e in events if e.get("type") in ("progress", "train", "eval")), default=0)
        elapsed = (events[-1]["time"] - start) if (start and events) else 0.0
        if status.get("state") == "running" and start:
            elapsed = time.time() - start
        eta = (elapsed / step * (total - step)) if (total and step) else None
        phase = next((e for e in reversed(events) if e.get("type") == "phase"), {})
        return {
            "state": status.get("state", "created"), "message": status.get("message", ""),
            "phase": phase.get("phase", ""), "phase_message": phase.get("message", ""),
            "verdict": status.get("verdict", ""),
            "step": step, "total_steps": total, "elapsed": elapsed, "eta": eta,
            "train": [e for e in events if e.get("type") == "train"],
            "eval": [e for e in events if e.get("type") == "eval"],
            "info": next((e for e in reversed(events) if e.get("type") == "start"), {}),
            "speed": next(({k: e[k] for k in ("tokens_per_s", "mfu", "padding_efficiency") if k in e}
                           for e in reversed(events) if e.get("type") == "progress" and "tokens_per_s" in e), {}),
        }


def _checkpoint_complete(ckpt: Path) -> bool:
    """A checkpoint folder counts only when fully written: the Trainer writes the weights, optimizer, scheduler
    and RNG state first and trainer_state.json last, so that file must be there and parse as JSON (a kill
    in the middle of writing it leaves a truncated file)."""
    try:
        return isinstance(json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8")), dict)
    except (OSError, ValueError):
        return False


def _is_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return False
    try:  # guard against pid reuse: the process must be ours
        cmd = Path(f"/proc/{int(pid)}/cmdline").read_bytes()
        if not cmd:  # just forked (cmdline not set yet) or a zombie awaiting its parent
            stat = Path(f"/proc/{int(pid)}/stat").read_text()
            return stat.rsplit(")", 1)[1].split()[0] != "Z"
        return b"tuner" in cmd or b"accelerate" in cmd
    except OSError:
        return True


def create_run(cfg: RunConfig, name: str = "", owner: str = "") -> Run:
    """Make a run folder, copy the data files in under server-made names, and write config.yaml."""
    import dataclasses

    run = Run(runs_root() / new_run_id())
    run.path.mkdir(parents=True)
    run.data_dir.mkdir()
    data = cfg.data
    copies = {}
    for key in ("train_file", "validation_file"):
        src = getattr(data, key)
        if not src:
            continue
        src_path = Path(src)
        if not src_path.is_file():
            shutil.rmtree(run.path, ignore_errors=True)
            raise RunError(f"The {key.replace('_', ' ')} '{src_path.name}' does not exist; upload it again.")
        suffix = src_path.suffix.lower() if re.fullmatch(r"\.[a-z0-9]{1,8}", src_path.suffix.lower()) else ".csv"
        dst = run.data_dir / f"{key.split('_')[0]}{suffix}"
        shutil.copyfile(src_path, dst)
        copies[key] = str(dst)
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(data, **copies))
    cfg.save(run.config_path)
    run.set_status(state="created", name=(name or cfg.name)[:200], owner=owner, created=time.time(),
                   source_files={k: Path(getattr(data, k)).name for k in copies})
    return run


def get_run(run_id: str) -> Run:
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        raise RunError("That run id is not valid; pick a run from the list.")
    run = Run(runs_root() / run_id)
    if not run.path.is_dir():
        raise RunError(f"Run {run_id} does not exist; pick a run from the list.")
    return run


def list_runs(owner: str | None = None) -> list[Run]:
    """Every run folder, newest first; active runs whose process died become `interrupted`."""
    runs = []
    for path in sorted(runs_root().iterdir(), reverse=True):
        if not (path.is_dir() and RUN_ID.match(path.name)):
            continue
        run = Run(path)
        if owner is not None and run.status().get("owner", "") != owner:
            continue
        recover(run)
        runs.append(run)
    return runs


def recover(run: Run) -> None:
    """A running run whose process is gone (app or machine restarted) is marked interrupted."""
    status = run.status()
    state = status.get("state")
    if state == "running" and not _is_alive(status.get("pid")) and not _is_alive(status.get("launcher_pid")):
        run.set_status(state="interrupted", message="The training process stopped unexpectedly; resume it from the newest checkpoint.")
    elif state == "queued" and not _pid_exists(status.get("manager_pid")):
        run.set_status(state="interrupted", message="The app restarted before this queued run started; start it again.")


def _pid_exists(pid) -> bool:
    try:
        os.kill(int(pid), 0)
        return True
    except (OSError, TypeError, ValueError):
        return False
