"""A run's analysis/ folder: results kept as JSON beside the run, stamped with the adapter they were made from."""

from __future__ import annotations

import json
from pathlib import Path

from ..runs import Run, write_json_atomic

FOLDER = "analysis"


def folder(run: Run) -> Path:
    path = run.path / FOLDER
    path.mkdir(exist_ok=True)
    return path


def adapter_stamp(run: Run) -> int:
    """Changes whenever the run's adapter is saved again (a resumed run): cached results are then made anew."""
    try:
        return run.adapter_dir.stat().st_mtime_ns
    except OSError:
        return 0


def load(run: Run, name: str, stamped: bool = True) -> dict | None:
    """A saved result, or None when absent, unreadable or (stamped) made from another adapter."""
    path = run.path / FOLDER / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if stamped and data.get("adapter_stamp") != adapter_stamp(run):
        return None
    return data


def save(run: Run, name: str, data: dict, stamped: bool = True) -> dict:
    if stamped:
        data = {**data, "adapter_stamp": adapter_stamp(run)}
    write_json_atomic(folder(run) / f"{name}.json", data)
    return data
