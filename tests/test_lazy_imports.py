"""The page starts fast because the heavy libraries load only when a handler needs them (issue #6:
`python app.py` to the first HTTP 200 within 1.3x of a bare Gradio hello-world, bench/app_startup.py).

Each check runs in a fresh interpreter, so what an earlier test imported cannot hide a leak. The rule that the
core never imports gradio is tests/test_boundaries.py::test_core_imports_with_gradio_blocked; here the core is
also checked for the heavy libraries, since the page imports it while it builds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ["torch", "transformers", "peft", "datasets", "evaluate", "matplotlib", "accelerate", "bitsandbytes"]
# what the page's modules import while it builds (tuner.train / tuner.callbacks run in the training child only)
CORE_AT_BUILD = ["tuner.config", "tuner.data", "tuner.tasks", "tuner.models", "tuner.runs", "tuner.jobs",
                 "tuner.inference", "tuner.cli", "tuner.tasks.chat.format", "tuner.tasks.ner.schemes", "tuner.errors"]


def _loaded_after(code: str, tmp_path: Path) -> dict:
    """Run `code` in a fresh interpreter; return {"heavy": [...], "gradio": bool, "extra": ...}."""
    script = textwrap.dedent(code) + textwrap.dedent(f"""
        import json, sys
        heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))
        print("RESULT " + json.dumps({{"heavy": heavy, "gradio": "gradio" in sys.modules,
                                       "extra": globals().get("EXTRA")}}))
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TUNER_RUNS_DIR": str(tmp_path / "runs"),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def test_building_the_page_loads_no_heavy_library(tmp_path):
    result = _loaded_after("""
        import app
        from tuner.ui import build_app, launch_kwargs
        demo = build_app()
        launch_kwargs()
        EXTRA = sorted(str(d.get("api_name")) for d in demo.config["dependencies"] if d.get("api_name"))
    """, tmp_path)
    assert result["heavy"] == [], f"building the page imported {result['heavy']}; import them inside the handlers"
    assert result["gradio"] is True
    # the page really was built: its public endpoints exist (the checks above would pass on an empty page)
    assert {"classify", "upload", "predict_file"} <= set(result["extra"])


def test_the_core_the_page_imports_loads_no_heavy_library_and_no_gradio(tmp_path):
    result = _loaded_after(f"""
        import importlib
        for name in {CORE_AT_BUILD!r}:
            importlib.import_module(name)
        from tuner.tasks import get_task, task_names
        EXTRA = [get_task(n).name for n in task_names()]
    """, tmp_path)
    assert result["heavy"] == [], f"importing the core imported {result['heavy']}"
    assert result["gradio"] is False
    assert {"classification", "ner", "chat"} <= set(result["extra"])


def test_app_help_needs_no_heavy_library(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = ("import runpy, sys\nsys.argv = ['app.py', '--help']\n"
            "try:\n    runpy.run_path('app.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            f"print('HEAVY', sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "--port" in out.stdout
    assert "HEAVY []" in out.stdout
