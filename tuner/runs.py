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

Listing stays fast at thousands of runs: status.json and metrics.json are read through a small cache checked
against each file's stat, so a listing costs one `stat` per finished run. A full disk or a damaged status file
never breaks a listing: the run shows its last good state (or `unreadable`), and a status that could not be
written is kept in memory until it can. Per-user quotas (`TUNER_MAX_QUEUED_RUNS`, `TUNER_MAX_USER_GB`) are
checked here, before a run folder is made and before a run is queued.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import environment
from .config import RunConfig
from .errors import RunError

log = logging.getLogger(__name__)

RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
ACTIVE = ("queued", "running")
UNREADABLE = ("This run's status file could not be read (damaged, or cut short by a full disk); its files are kept: "
              "delete the run, or press Refresh once the disk has space again.")
DISK_FULL = ("The disk is full (the training process stopped while writing); free space and press Resume to go on "
             "from the newest checkpoint.")


def default_runs_dir() -> str:
    """`runs` beside the app, or `/data/tuner-runs` where a writable /data exists (Hugging Face Spaces'
    persistent storage), so runs survive a Space restart."""
    data = Path("/data")
    if data.is_dir() and os.access(data, os.W_OK):
        return str(data / "tuner-runs")
    return "runs"


def runs_root() -> Path:
    root = Path(environment.get("TUNER_RUNS_DIR") or default_runs_dir()).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def write_json_atomic(path: Path, data) -> None:
    """Write beside and swap in, so a reader never sees half a file. On a full disk, where not even the small
    temporary file fits, the file is rewritten in its own already-allocated blocks when the new text fits in them
    (a training child can still record why it failed); otherwise the OSError is raised."""
    text = json.dumps(data, indent=1, default=str)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        text = json.dumps(data, default=str)
        if not (is_disk_full(exc) and _overwrite_in_place(path, text)):
            raise
    _forget(path)
    try:  # what was written is this process's last good version of the file
        _remember(str(path), _key(os.stat(path)), text.encode("utf-8"))
    except OSError:
        pass


def _overwrite_in_place(path: Path, text: str) -> bool:
    raw = text.encode("utf-8")
    try:
        st = os.stat(path)
        if len(raw) > max(st.st_size, st.st_blocks * 512):
            return False
        with open(path, "r+b") as fh:
            fh.write(raw)
            fh.truncate()
        return True
    except OSError:
        return False


# ---- a stat-checked cache of small JSON files (status.json, metrics.json) ----------------------------------
# Each entry is the file's raw bytes under its stat key, parsed again on every read (callers get their own objects;
# a hit costs one stat and a C-speed parse instead of an open and a read), and the listing's own read-only parse.
TRUST_AFTER_S = 2.0  # a file changed less than this long ago is always read again (same-tick rewrites)
_CACHE: dict[str, list] = {}  # path -> [stat key, raw bytes, parsed or None] of the last good read or write
_UNSAVED: dict[str, tuple[tuple, bytes]] = {}  # path -> (stat key, status) that could not be written (full disk)
_CACHE_MAX = 50_000
_READS = [0]  # files read from disk (not from the cache) by this process


def _key(st: os.stat_result) -> tuple:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _remember(name: str, key: tuple, raw: bytes, parsed=None) -> None:
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[name] = [key, raw, parsed]


def _read_json(path, shared: bool = False):
    """The parsed file: a new object, or with `shared` the cache's own one, which must not be changed.
    FileNotFoundError when missing; OSError/ValueError when unreadable."""
    name = str(path)
    st = os.stat(name)
    key = _key(st)
    unsaved = _UNSAVED.get(name)
    if unsaved is not None:
        if unsaved[0] == key:
            return json.loads(unsaved[1])
        _UNSAVED.pop(name, None)  # the file changed since: it wins
    hit = _CACHE.get(name)
    if hit is not None and hit[0] == key and time.time() - st.st_mtime > TRUST_AFTER_S:
        if not shared:
            return json.loads(hit[1])
        if hit[2] is None:
            hit[2] = json.loads(hit[1])
        return hit[2]
    with open(name, "rb") as fh:
        raw = fh.read()
    data = json.loads(raw)
    _READS[0] += 1
    _remember(name, key, raw, data if shared else None)
    return data


def _read_status(path, shared: bool = False) -> dict:
    """status.json: missing = `created`; damaged = its last good version seen (here or in the index), else
    `unreadable`. `shared`: see _read_json."""
    try:
        status = _read_json(path, shared)
    except FileNotFoundError:
        return {"state": "created"}
    except (OSError, ValueError):
        status = _last_good(path)
    if not isinstance(status, dict):
        return {"state": "unreadable", "message": UNREADABLE, "unreadable": True}
    return status


def _last_good(path):
    hit = _CACHE.get(str(path))
    try:
        return None if hit is None else json.loads(hit[1])
    except ValueError:
        return None


# The status cache outlives the process in <runs>/.status-index.json (each entry checked against its file's stat
# like any cache hit), so a fresh process (`python -m tuner runs`, an app restart) lists 3,000 runs without
# opening 3,000 files.
INDEX_FILE = ".status-index.json"
INDEX_EVERY_S = 30.0
_INDEXED: dict[str, float] = {}  # runs folder -> when this process last wrote its index


def _load_index(root: Path) -> None:
    base = str(root)
    if base in _INDEXED:
        return
    _INDEXED[base] = 0.0
    try:
        with open(os.path.join(base, INDEX_FILE), "rb") as fh:
            entries = json.loads(fh.read())
        for run_id, entry in entries.items():
            if RUN_ID.match(run_id) and isinstance(entry, list) and len(entry) == 5 and isinstance(entry[4], str):
                _CACHE.setdefault(os.path.join(base, run_id, "status.json"), [tuple(entry[:4]), entry[4].encode(), None])
    except (OSError, ValueError, TypeError, AttributeError):
        pass  # no index yet, or a damaged one: it is rewritten from the files


def _save_index(root: Path, ids: list[str]) -> None:
    base = str(root)
    entries = {}
    for run_id in ids:
        hit = _CACHE.get(os.path.join(base, run_id, "status.json"))
        if hit is not None:
            entries[run_id] = [*hit[0], hit[1].decode("utf-8", "replace")]
    path = os.path.join(base, INDEX_FILE)
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(entries, fh, separators=(",", ":"))
        os.replace(tmp, path)
        _INDEXED[base] = time.time()
    except OSError:  # a full disk: the index is only a cache
        try:
            os.unlink(tmp)
        except OSError:
            pass


def remember_unsaved(path: Path, status: dict) -> None:
    """Keep a status that could not be written (full disk) as this process's view of the file until it changes."""
    status = {k: v for k, v in status.items() if k != "unreadable"}
    try:
        _UNSAVED[str(path)] = (_key(os.stat(path)), json.dumps(status, default=str).encode())
    except OSError:
        pass


def _forget(path: Path) -> None:
    _UNSAVED.pop(str(path), None)


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
        """status.json; a damaged one reads as its last good version seen, else `unreadable`."""
        return _read_status(self.status_path)

    def set_status(self, **fields) -> dict:
        status = self.status()
        if status.pop("unreadable", None):
            status = {}
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
        """One line of events.jsonl. On a full disk the event is dropped (logged), never the run: what fails for
        lack of space is a checkpoint or the adapter, which the run reports in one sentence."""
        event.setdefault("time", time.time())
        try:
            with open(self.events_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(event, default=float) + "\n")
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            log.warning("disk full: event %s of run %s not written", event.get("type"), self.id)

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
            report = _read_json(self.metrics_path)
        except (OSError, ValueError):
            return None
        return report if isinstance(report, dict) else None

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
    def progress(self, now: float | None = None) -> dict:
        """What the page's status line and the CLI show, computed now: state and phase (with the numbers the
        phase is worded with, tuner.progress), step of total, the run's clock (`elapsed`, from its launch), the
        smoothed seconds per step and the ETA counted down from the last step, tokens/s, curves."""
        from .progress import elapsed as clock
        from .progress import eta_left

        now = time.time() if now is None else now
        events = self.events()
        status = recover(self)  # a page or CLI watching a run whose process died sees it at once
        # the plan's total, or the shorter one a time budget set later (tuner.callbacks.TimeBudgetCallback)
        total = next((e["total_steps"] for e in reversed(events) if e.get("type") in ("start", "budget")), None)
        start = next((e["time"] for e in reversed(events) if e.get("type") == "start"), None)
        step = max((e.get("step", 0) for e in events if e.get("type") in ("progress", "train", "eval")), default=0)
        if status.get("steps") is not None and status.get("state") not in ("queued", "running"):
            step = status["steps"]
        took = clock(status, now)
        if took is None:  # a run folder from before the launch time was recorded
            took = ((now if status.get("state") == "running" else events[-1]["time"]) - start) if (start and events) else 0.0
        last = next((e for e in reversed(events) if e.get("type") == "progress"), {})
        state = status.get("state", "created")
        phase = next((e for e in reversed(events) if e.get("type") == "phase"), {})
        parts = {k: v for k, v in phase.items() if k not in ("type", "phase", "message", "time", "training_eval")}
        eta = None
        if state == "running" and phase.get("phase") in ("training", "evaluating") and total:
            eta = eta_left(step, total, last.get("sec_per_step"), last.get("step_time"), now)
            if eta is None and step:  # events from before the smoothed rate was recorded
                eta = (now - start) / step * (total - step) if start else None
        return {
            "state": state, "message": status.get("message", ""),
            "phase": phase.get("phase", "") if state in ("queued", "running") else "",
            "phase_parts": parts,
            "training_eval": bool(phase.get("training_eval")), "stopping": bool(status.get("stopping")),
            "outcome": status.get("outcome", ""), "planned_steps": status.get("planned_steps"),
            "verdict": status.get("verdict", ""),
            "step": step, "total_steps": total, "elapsed": took, "eta": eta,
            "sec_per_step": last.get("sec_per_step"), "step_time": last.get("step_time"),
            "train": [e for e in events if e.get("type") == "train"],
            "eval": [e for e in events if e.get("type") == "eval"],
            "info": next((e for e in reversed(events) if e.get("type") == "start"), {}),
            "warnings": [e for e in events if e.get("type") == "warning" and e.get("message")],
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
    """Make a run folder, bring the data files in under server-made names, and write config.yaml.

    An upload Tuner stored itself (under the uploads folder or another run's data/) is never changed after it
    is written, so it is hard-linked rather than copied: five runs of one 188 MB upload store it once. Any other
    file (a path given to the CLI, which its owner may edit) is copied. The owner's storage quota is checked
    before anything is written, and so is the queue quota (a run is made to be queued)."""
    import dataclasses

    from .safe_text import clean_name

    data = cfg.data
    sources = {}
    for key in ("train_file", "validation_file"):
        src = getattr(data, key)
        if not src:
            continue
        src_path = Path(src)
        if not src_path.is_file():
            raise RunError(f"The {key.replace('_', ' ')} '{src_path.name}' does not exist; upload it again.")
        sources[key] = src_path
    check_queue(owner)  # a run is made to be queued: refuse before its folder exists
    check_storage(owner, adding=sum(_new_bytes(p) for p in sources.values()))
    run = Run(runs_root() / new_run_id())
    run.path.mkdir(parents=True)
    copies = {}
    try:
        run.data_dir.mkdir()
        for key, src_path in sources.items():
            suffix = src_path.suffix.lower() if re.fullmatch(r"\.[a-z0-9]{1,8}", src_path.suffix.lower()) else ".csv"
            dst = run.data_dir / f"{key.split('_')[0]}{suffix}"
            link_or_copy(src_path, dst)
            copies[key] = str(dst)
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(data, **copies))
        cfg.save(run.config_path)
        run.set_status(state="created", name=clean_name(name or cfg.name)[:200], owner=owner, created=time.time(),
                       source_files={k: Path(getattr(data, k)).name for k in copies})
    except OSError as exc:
        shutil.rmtree(run.path, ignore_errors=True)
        if is_disk_full(exc):
            raise RunError("The disk is full, so the run could not be created; delete runs you no longer need on "
                           "the Runs tab or with `python -m tuner delete <run>`, then try again.") from None
        raise
    return run


def _stored_by_tuner(path: Path) -> bool:
    """A file under the runs folder (uploads are in its _uploads/ unless TUNER_UPLOADS_DIR says otherwise):
    written once by Tuner and never changed after."""
    roots = [runs_root()]
    if environment.get("TUNER_UPLOADS_DIR"):
        roots.append(Path(environment.get("TUNER_UPLOADS_DIR")).resolve())
    try:
        real = path.resolve()
        return any(real.is_relative_to(root) for root in roots)
    except (OSError, ValueError):
        return False


def link_or_copy(src: Path, dst: Path) -> None:
    if _stored_by_tuner(src):
        try:
            os.link(src, dst)
            return
        except OSError:
            pass  # another file system, or links not allowed: copy
    shutil.copyfile(src, dst)


def _new_bytes(src: Path) -> int:
    """Bytes a run's copy of `src` adds: none for a hard link to an upload Tuner stored, else its size."""
    try:
        return 0 if _stored_by_tuner(src) else src.stat().st_size
    except OSError:
        return 0


def get_run(run_id: str) -> Run:
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        raise RunError("That run id is not valid; pick a run from the list.")
    run = Run(runs_root() / run_id)
    if not run.path.is_dir():
        raise RunError(f"Run {run_id} does not exist; pick a run from the list.")
    return run


def run_ids() -> list[str]:
    """Every run folder's id, newest first (one directory read, no stat per entry)."""
    ids = []
    with os.scandir(runs_root()) as entries:
        for entry in entries:
            try:
                if RUN_ID.match(entry.name) and entry.is_dir():
                    ids.append(entry.name)
            except OSError:
                continue
    ids.sort(reverse=True)
    return ids


def _scan(owner: str | None = None) -> list[tuple[str, dict]]:
    """(run id, status) of every run of `owner` (None = all), newest first, active ones recovered first. The
    statuses may be the cache's own objects: read them, never change them."""
    root = runs_root()
    base = str(root)
    _load_index(root)
    reads = _READS[0]
    ids = run_ids()
    found = []
    for run_id in ids:
        status = _read_status(os.path.join(base, run_id, "status.json"), shared=True)  # read only here
        if owner is not None and status.get("owner", "") != owner:
            continue
        if status.get("state") in ACTIVE:
            status = recover(Run(root / run_id), status)
        found.append((run_id, status))
    fresh = _READS[0] - reads
    if fresh and (fresh > 100 or time.time() - _INDEXED.get(base, 0.0) > INDEX_EVERY_S):
        _save_index(root, ids)
    return found


def list_runs(owner: str | None = None) -> list[Run]:
    """Every run folder, newest first; active runs whose process died become `interrupted`. Never raises for one
    run's damaged or unwritable files (that run shows its last good state, or `unreadable`). One `stat` per run
    whose status is cached (here or in the index); only changed status files are read."""
    root = runs_root()
    return [Run(root / run_id) for run_id, _ in _scan(owner)]


def newest_runs(owner: str | None, n: int) -> tuple[list[Run], int]:
    """(the newest `n` runs of `owner`, how many runs `owner` has): a page of the list, recovered like list_runs."""
    root = runs_root()
    found = _scan(owner)
    return [Run(root / run_id) for run_id, _ in found[:n]], len(found)


def recover(run: Run, status: dict | None = None) -> dict:
    """A running run whose process is gone (killed, out of memory, a full disk, the app or machine restarted) is
    marked interrupted with the likely reason; a queued one whose app is gone too. Returns the status. A status
    that cannot be written (full disk) is kept in this process's memory and written by the next change."""
    status = run.status() if status is None else status
    state = status.get("state")
    if state == "running" and not _is_alive(status.get("pid")) and not _is_alive(status.get("launcher_pid")):
        fields = {"state": "interrupted", "message": death_message(run)}
    elif state == "queued" and not _pid_exists(status.get("manager_pid")):
        fields = {"state": "interrupted", "message": "The app restarted before this queued run started; start it again."}
    else:
        return status
    try:
        return run.set_status(**fields)
    except OSError as exc:
        log.warning("could not record that run %s was %s: %r", run.id, fields["state"], exc)
        status = {**status, **fields, "updated": time.time()}
        remember_unsaved(run.status_path, status)
        return status


def death_message(run: Run, code: int | None = None) -> str:
    """Why a training process ended without recording it: a full disk, the out-of-memory killer, or unknown."""
    tail = ""
    try:
        with open(run.log_path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - 16384))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        pass
    if ("No space left on device" in tail or "os error 28" in tail or "ENOSPC" in tail or "Disk quota exceeded" in tail
            or disk_free(run.path) < LOW_SPACE_BYTES):
        return DISK_FULL
    if code in (-9, 137) or "OutOfMemoryError" in tail or "out of memory" in tail or "MemoryError" in tail:
        return ("The training process was killed (out of memory, or stopped by the system); resume it from the "
                "newest checkpoint, with a smaller batch size or max length if memory was short.")
    said = f" (code {code})" if code is not None else ""
    return f"The training process stopped unexpectedly{said}; resume it from the newest checkpoint."


LOW_SPACE_BYTES = 16 * 2**20  # under this much free space, a silent death is put down to a full disk


def disk_free(path: Path) -> int:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return 1 << 62


def _pid_exists(pid) -> bool:
    try:
        os.kill(int(pid), 0)
        return True
    except (OSError, TypeError, ValueError):
        return False


RESUMABLE = ("interrupted", "stopped", "failed")


def check_resumable(run: Run) -> None:
    """Refuse (one sentence) to resume a run that is not interrupted, stopped or failed. A run whose process died
    is recovered first, so it can be resumed at once (no listing needed)."""
    state = recover(run).get("state", "created")
    if state not in RESUMABLE:
        raise RunError(f"Run {run.id} is {state}; only interrupted, stopped or failed runs can be resumed.")


def delete_run(run: Run) -> int:
    """Delete a run folder that is not training or queued; returns the bytes it held. Only a run folder of the
    runs folder (TUNER_RUNS_DIR) is ever deleted."""
    if not (RUN_ID.match(run.path.name) and run.path.parent.resolve() == runs_root() and run.path.is_dir()):
        raise RunError(f"'{run.path.name}' is not a run of the runs folder (TUNER_RUNS_DIR); give a run id from the list.")
    status = recover(run)
    if status.get("state") in ACTIVE:
        raise RunError(f"Run {run.id} is {status.get('state')}; stop it first, then delete it.")
    disk = measure(run, status)
    size = disk["bytes"] + sum(size for _, _, size in disk["data"])
    shutil.rmtree(run.path, ignore_errors=True)
    for path in (run.status_path, run.metrics_path):
        _CACHE.pop(str(path), None)
        _forget(path)
    _DISK.pop(str(run.path), None)
    if run.path.exists():
        raise RunError(f"Run {run.id} could not be deleted completely; check the folder's permissions.")
    return size


# ---- per-user quotas ------------------------------------------------------------------------------------


def max_queued_runs() -> int:
    """Runs one user may have queued or training at once (TUNER_MAX_QUEUED_RUNS, default 3; 0 = no limit)."""
    return max(0, environment.get("TUNER_MAX_QUEUED_RUNS"))


def max_user_bytes() -> int:
    """Bytes one user's runs may store (TUNER_MAX_USER_GB, default 20; 0 = no limit)."""
    return int(max(environment.get("TUNER_MAX_USER_GB"), 0.0) * 2**30)


def fmt_bytes(n: float) -> str:
    if n >= 2**30:
        return f"{n / 2**30:.1f} GB"
    if n >= 2**20:
        return f"{n / 2**20:.0f} MB"
    return f"{n / 2**10:.0f} KB"


# Sizes of finished runs, kept in <runs>/.disk-index.json: measured once per run (again only when its state or
# times change), so the storage quota never walks thousands of run folders per click.
DISK_INDEX = ".disk-index.json"
_DISK: dict[str, dict] = {}  # run folder -> {"bytes", "data", "stamp"}
_DISK_LOADED: set[str] = set()
_DISK_DIRTY: set[str] = set()


def _load_disk_index(base: str) -> None:
    if base in _DISK_LOADED:
        return
    _DISK_LOADED.add(base)
    try:
        with open(os.path.join(base, DISK_INDEX), "rb") as fh:
            entries = json.loads(fh.read())
        for run_id, entry in entries.items():
            if RUN_ID.match(run_id) and isinstance(entry, dict) and isinstance(entry.get("data"), list):
                _DISK.setdefault(os.path.join(base, run_id), entry)
    except (OSError, ValueError, TypeError, AttributeError):
        pass


def save_disk_index(root: Path | None = None) -> None:
    """Write the sizes measured since the last save (nothing when none were)."""
    base = str(root or runs_root())
    if base not in _DISK_DIRTY:
        return
    _DISK_DIRTY.discard(base)
    prefix = base + os.sep
    entries = {k[len(prefix):]: v for k, v in _DISK.items() if k.startswith(prefix) and os.sep not in k[len(prefix):]}
    path = os.path.join(base, DISK_INDEX)
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(entries, fh, separators=(",", ":"), default=str)
        os.replace(tmp, path)
    except OSError:  # a full disk: measured again by the next process
        try:
            os.unlink(tmp)
        except OSError:
            pass


def measure(run: Run, status: dict | None = None, save: bool = True) -> dict:
    """{"bytes": files outside data/, "data": [[dev, inode, size], ...]} for a run. A finished run is measured
    once (see DISK_INDEX); an active run each time. Data files are listed by inode, so a hard-linked upload
    counts once however many runs use it. `save=False` leaves writing the index to `save_disk_index()`."""
    found = _measure(str(run.path), run.status() if status is None else status)
    if save:
        save_disk_index(run.path.parent)
    return found


def _measure(folder: str, status: dict) -> dict:
    stamp = [status.get("state"), status.get("started"), status.get("ended"), status.get("created")]
    active = status.get("state") in ACTIVE
    parent = os.path.dirname(folder)
    if not active:
        _load_disk_index(parent)
        hit = _DISK.get(folder)
        if hit is not None and hit.get("stamp") == stamp:
            return hit
    found = {"bytes": 0, "data": [], "stamp": stamp}
    data_dir = os.path.join(folder, "data")
    for where, _dirs, files in os.walk(folder):
        for file in files:
            try:
                st = os.lstat(os.path.join(where, file))
            except OSError:
                continue
            if where == data_dir:
                found["data"].append([st.st_dev, st.st_ino, st.st_size])
            else:
                found["bytes"] += st.st_size
    if not active:
        _DISK[folder] = found
        _DISK_DIRTY.add(parent)
    return found


def user_bytes(owner: str) -> int:
    """What `owner`'s runs store, each hard-linked data file once (sizes from the index: no folder walked)."""
    base = str(runs_root())
    total, seen = 0, set()
    for run_id, status in _scan(owner):
        disk = _measure(os.path.join(base, run_id), status)
        total += int(disk.get("bytes", 0))
        for dev, ino, size in disk.get("data", []):
            if (dev, ino) not in seen:
                seen.add((dev, ino))
                total += int(size)
    save_disk_index()
    return total


def check_storage(owner: str, adding: int = 0) -> None:
    """Refuse (one sentence) when `owner`'s runs already store their quota, or `adding` bytes would pass it."""
    limit = max_user_bytes()
    if not limit:
        return
    used = user_bytes(owner)
    if (used + adding <= limit) if adding else (used < limit):
        return
    if adding and used < limit:
        raise RunError(f"Your runs store {fmt_bytes(used)} and this one needs {fmt_bytes(adding)} more, over the "
                       f"{fmt_bytes(limit)} each user may store (TUNER_MAX_USER_GB); delete runs you no longer need "
                       "on the Runs tab or with `python -m tuner delete <run>`, then try again.")
    raise RunError(f"Your runs store {fmt_bytes(used)}, the {fmt_bytes(limit)} each user may store "
                   "(TUNER_MAX_USER_GB); delete runs you no longer need on the Runs tab or with "
                   "`python -m tuner delete <run>`, then try again.")


def check_queue(owner: str, exclude: Run | None = None) -> None:
    """Refuse (one sentence) when `owner` already has TUNER_MAX_QUEUED_RUNS runs queued or training."""
    limit = max_queued_runs()
    if not limit:
        return
    active = [i for i, st in _scan(owner) if (exclude is None or i != exclude.id) and st.get("state") in ACTIVE]
    if len(active) >= limit:
        raise RunError(f"You already have {len(active)} runs queued or training, the limit per user "
                       f"(TUNER_MAX_QUEUED_RUNS={limit}); wait for one to finish, or stop one on the Train tab "
                       f"or with `python -m tuner stop <run>`, then start again.")


def check_can_start(run: Run) -> None:
    """The quotas a run must pass to be queued: its owner's queued/training runs and stored bytes."""
    owner = run.status().get("owner", "")
    check_queue(owner, exclude=run)
    check_storage(owner)
