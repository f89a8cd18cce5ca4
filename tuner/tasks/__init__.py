"""The tasks. A task is one folder, `tuner/tasks/<name>/`, whose `__init__.py` registers one object; the contract
every task meets (identity, description, data / model / metrics / prediction hooks, with defaults for what is
optional) is the `Task` base class in `base.py`. Shared pieces: `common.py`; the registry: `registry.py`.

Adding a task = adding its folder and importing it below (plus a recipe in recipes/).
"""

from __future__ import annotations

from .registry import DEFAULT_TASK, get_task, register, report_task, task_names, tasks  # noqa: F401

# Each task registers itself; the order here is the order of the tasks on the page.
# isort: off
from . import classification  # noqa: F401
from . import ner  # noqa: F401
from . import chat  # noqa: F401
from . import multilabel  # noqa: F401
# isort: on
