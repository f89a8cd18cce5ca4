"""The task registry: each task folder's `__init__.py` registers one `Task` object here (tuner/tasks/base.py), and
the rest of Tuner finds it by name. Imports no task, so a task can register without a loop."""

from __future__ import annotations

from ..errors import ConfigError

DEFAULT_TASK = "classification"  # the task of a report or run that does not say (and the page's first choice)

_REGISTRY: dict = {}


def register(task):
    _REGISTRY[task.name] = task
    return task


def get_task(name: str):
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"Unknown task '{name}'; choose one of: {', '.join(task_names())}.") from None


def task_names() -> list[str]:
    return list(_REGISTRY)


def tasks() -> list:
    """Every registered task, in registration order."""
    return list(_REGISTRY.values())


def report_task(report: dict):
    """The task whose report this is: report["task"]; a report without one (saved before reports named their
    task) or with a task no longer registered is read as the default task's."""
    return _REGISTRY.get(str((report or {}).get("task") or DEFAULT_TASK)) or _REGISTRY[DEFAULT_TASK]
