"""Delete stale uploads and temporary prediction files after a configurable time.

`TUNER_CLEAN_AFTER_HOURS` (default 24): uploads in `<runs>/_uploads/` and prediction outputs in the temp
folder (`tuner-pred-*`, `tuner-tags-*`) older than this are deleted. Run folders are never touched (a run
keeps its own hard link or copy of its data: an upload's bytes are freed once no run uses it). The app runs
`clean_stale()` at start and then every hour (`start_cleaner`); Gradio's own upload cache is cleaned by
`gr.Blocks(delete_cache=...)` with the same age.
Loaded models are freed by the predictor cache in `tuner.inference`, which keeps only the few most recently
used runs.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path

from . import environment

log = logging.getLogger(__name__)

TEMP_PREFIXES = ("tuner-pred-", "tuner-tags-", "tuner-export-")


def max_age_seconds() -> float:
    return max(environment.get("TUNER_CLEAN_AFTER_HOURS"), 0.0) * 3600.0


def _newest_mtime(path: Path) -> float:
    """The newest modification time inside `path` (a folder in use is not stale)."""
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for child in path.rglob("*"):
            try:
                newest = max(newest, child.lstat().st_mtime)
            except OSError:
                continue
    return newest


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def stale_entries(max_age: float | None = None, now: float | None = None) -> list[Path]:
    """Upload folders and temporary prediction folders older than `max_age` seconds."""
    from .data import uploads_root

    max_age = max_age_seconds() if max_age is None else max_age
    now = time.time() if now is None else now
    found = []
    roots = [(uploads_root(), None), (Path(tempfile.gettempdir()), TEMP_PREFIXES)]
    for root, prefixes in roots:
        try:
            entries = list(root.iterdir())
        except OSError:
            continue
        for entry in entries:
            if prefixes is not None and not entry.name.startswith(prefixes):
                continue
            try:
                if now - _newest_mtime(entry) > max_age:
                    found.append(entry)
            except OSError:
                continue
    return found


def clean_stale(max_age: float | None = None, now: float | None = None) -> int:
    """Delete what `stale_entries` finds; returns how many entries were removed."""
    entries = stale_entries(max_age, now)
    for entry in entries:
        _remove(entry)
    if entries:
        log.info("cleaned %d stale upload/temporary entries", len(entries))
    return len(entries)


def start_cleaner(every_seconds: float = 3600.0) -> threading.Thread:
    """A daemon thread that calls `clean_stale()` now and then every `every_seconds`."""

    def loop():
        while True:
            try:
                clean_stale()
            except Exception:  # cleaning must never take the app down
                log.exception("cleaning stale files failed")
            time.sleep(every_seconds)

    thread = threading.Thread(target=loop, name="tuner-cleaner", daemon=True)
    thread.start()
    return thread
