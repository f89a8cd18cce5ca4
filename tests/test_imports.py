"""Import structure: every module imports on its own (no import loop bites whichever module comes first), and the
rules that keep the tasks apart are checked on the source (imports inside functions count too):

- a task folder (tuner/tasks/<name>/) imports no other task, and nothing in tuner/tasks/ imports tuner.inference,
  tuner.ui, or the run machinery above the tasks (config, train, jobs, cli, export);
- the task registry, the contract and the shared pieces (registry.py, base.py, common.py) import no task;
- tuner.methods imports neither tuner.models nor the tasks: a method is attached by tuner.models with the task's
  peft task type (`Task.peft_task_type`), so the type never goes task -> name -> type.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "tuner"
TASKS = PACKAGE / "tasks"
ABOVE_THE_TASKS = ("tuner.inference", "tuner.ui", "tuner.config", "tuner.train", "tuner.jobs", "tuner.cli",
                   "tuner.export")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> list[str]:
    """Every module of the package but the published Space's template (its own app) and `python -m tuner`."""
    return sorted(module_name(p) for p in PACKAGE.rglob("*.py")
                  if "space_template" not in p.parts and p.name != "__main__.py")


def imported(source: str, name: str, is_package: bool) -> set[str]:
    """Absolute names of what `source` (module `name`) imports anywhere in it: `import a.b`, `from a import b`
    (both `a` and `a.b`), relative imports resolved."""
    here = name.split(".") if is_package else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here[:len(here) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            out.add(module)
            out.update(f"{module}.{alias.name}" for alias in node.names)
    return out


def imports_of(path: Path) -> set[str]:
    return imported(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")


def under(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def task_folders() -> list[Path]:
    return sorted(p.parent for p in TASKS.glob("*/__init__.py"))


def test_every_module_imports_alone():
    """One interpreter; before each module every tuner module is forgotten, so each is imported first."""
    script = textwrap.dedent(f"""
        import importlib, json, sys, traceback
        failed = {{}}
        for name in {package_modules()!r}:
            for loaded in [m for m in sys.modules if m == "tuner" or m.startswith("tuner.")]:
                del sys.modules[loaded]
            try:
                importlib.import_module(name)
            except BaseException:
                failed[name] = traceback.format_exc(limit=-3)
        print("RESULT " + json.dumps(failed))
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO), "GRADIO_ANALYTICS_ENABLED": "False"}
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    failed = json.loads(next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT "))[len("RESULT "):])
    assert failed == {}, "\n".join(f"{k}:\n{v}" for k, v in failed.items())


def test_the_scan_sees_every_module():
    names = package_modules()
    assert {"tuner.tasks.base", "tuner.tasks.classification.reading", "tuner.inference", "tuner.ui.try_tab"} \
        <= set(names)
    assert len(task_folders()) >= 3


def test_tasks_import_nothing_above_them():
    offenders = {str(p.relative_to(REPO)): sorted(n for n in imports_of(p) if under(n, ABOVE_THE_TASKS))
                 for p in TASKS.rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_task_imports_another_task():
    folders = task_folders()
    offenders = {}
    for folder in folders:
        others = [module_name(f / "__init__.py") for f in folders if f != folder]
        for p in folder.rglob("*.py"):
            bad = sorted(n for n in imports_of(p) if under(n, others))
            if bad:
                offenders[str(p.relative_to(REPO))] = bad
    assert offenders == {}


def test_the_registry_contract_and_shared_pieces_import_no_task():
    every_task = [module_name(f / "__init__.py") for f in task_folders()]
    offenders = {p.name: sorted(n for n in imports_of(p) if under(n, every_task) or n == "tuner.tasks")
                 for p in (TASKS / "registry.py", TASKS / "base.py", TASKS / "common.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_tasks_register_through_the_registry_module():
    """`from ..registry import register`, never `from .. import register` (a package still being imported)."""
    offenders = [str(p.relative_to(REPO)) for p in TASKS.rglob("*.py") if p.parent != TASKS
                 and "tuner.tasks.register" in imports_of(p)]
    assert offenders == []


def test_methods_import_neither_models_nor_tasks():
    names = imports_of(PACKAGE / "methods.py")
    assert not [n for n in names if under(n, ("tuner.models", "tuner.tasks"))]


def test_the_scanner_resolves_relative_and_nested_imports():
    src = textwrap.dedent("""
        from ... import data as data_mod
        from ..common import Splits
        from . import schemes as ts

        def late():
            from ...inference import MAX_FILE_ROWS
            import tuner.ui.try_tab
    """)
    names = imported(src, "tuner.tasks.ner.reading", is_package=False)
    assert {"tuner.data", "tuner.tasks.common", "tuner.tasks.ner.schemes", "tuner.inference",
            "tuner.ui.try_tab"} <= names
    assert under("tuner.inference.MAX_FILE_ROWS", ABOVE_THE_TASKS) and not under("tuner.inferences", ABOVE_THE_TASKS)
    assert "tuner.tasks.register" in imported("from .. import register", "tuner.tasks.chat", is_package=True)
