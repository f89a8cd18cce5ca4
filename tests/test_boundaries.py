"""Architecture rules that keep the core safe and UI-free (DESIGN.md: 'the boundary ... enforced by a test')."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORE_MODULES = ["tuner.config", "tuner.data", "tuner.tasks", "tuner.models", "tuner.runs", "tuner.jobs",
                "tuner.inference", "tuner.cli", "tuner.train", "tuner.callbacks", "tuner.metrics", "tuner.errors",
                "tuner.methods", "tuner.quantize", "tuner.memory", "tuner.cpu.throughput", "tuner.export", "tuner.hub",
                "tuner.model_card", "tuner.redact", "tuner.auth", "tuner.cleanup", "tuner.weights",
                "tuner.environment"]


def source_files() -> list[Path]:
    """Every Python file of the package plus app.py (tests are excluded: they name the patterns)."""
    files = sorted((REPO / "tuner").rglob("*.py"))
    if (REPO / "app.py").is_file():
        files.append(REPO / "app.py")
    return files


def strip_comments(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] if line.lstrip().startswith("#") else line for line in text.splitlines())


def test_core_imports_with_gradio_blocked():
    script = textwrap.dedent(f"""
        import importlib, sys

        class BlockGradio:
            def find_spec(self, name, path=None, target=None):
                if name == "gradio" or name.startswith("gradio."):
                    raise ImportError("gradio is blocked in this test")
                return None

        sys.meta_path.insert(0, BlockGradio())
        try:
            import gradio  # noqa: F401
        except ImportError:
            pass
        else:
            raise SystemExit("the blocker did not work")
        for name in {CORE_MODULES!r}:
            importlib.import_module(name)
        leaked = sorted(m for m in sys.modules if m == "gradio" or m.startswith(("gradio.", "tuner.ui")))
        if leaked:
            raise SystemExit(f"core imported {{leaked}}")
        print("ok")
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-1000:]
    assert out.stdout.strip().endswith("ok")


SHELL_OR_REMOTE = re.compile(r"shell\s*=\s*True|trust_remote_code\s*=\s*True")
UNSAFE_CALLS = re.compile(r"\bos\.system\(|\bos\.popen\(|yaml\.load\(|yaml\.unsafe_load|\bpickle\.loads?\("
                          r"|(?<![.\w])eval\(|(?<![.\w])exec\(")
GRADIO_IMPORT = re.compile(r"^\s*(import\s+gradio\b|from\s+gradio\b)", re.M)


def test_no_shell_true_or_remote_code():
    bad = SHELL_OR_REMOTE
    offenders = [f"{p.relative_to(REPO)}:{i}" for p in source_files()
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if bad.search(line)]
    assert offenders == []


def test_no_os_system_or_unsafe_yaml():
    bad = UNSAFE_CALLS
    offenders = [f"{p.relative_to(REPO)}:{i}" for p in source_files()
                 for i, line in enumerate(strip_comments(p.read_text(encoding="utf-8")).splitlines(), 1)
                 if bad.search(line)]
    assert offenders == []


def test_gradio_is_imported_only_by_the_ui():
    imp = GRADIO_IMPORT
    offenders = []
    candidates = list((REPO / "tuner").rglob("*.py")) + [p for p in REPO.glob("*.py") if p.name != "app.py"]
    for p in candidates:
        rel = p.relative_to(REPO)
        if rel.parts[:2] in (("tuner", "ui"), ("tuner", "space_template")):
            continue  # the page, and the entry point of a published demo Space (its own app.py)
        if imp.search(p.read_text(encoding="utf-8")):
            offenders.append(str(rel))
    assert offenders == []


def test_core_does_not_import_the_ui():
    imp = re.compile(r"^\s*(from\s+(tuner)?\.+ui\b|import\s+tuner\.ui\b|from\s+tuner\s+import\s+ui\b)", re.M)
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "tuner").rglob("*.py")
                 if p.relative_to(REPO).parts[:2] not in (("tuner", "ui"), ("tuner", "space_template"))
                 and imp.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_scanners_see_the_package():
    files = {str(p.relative_to(REPO)) for p in source_files()}
    assert {"tuner/models.py", "tuner/jobs.py", "tuner/config.py"} <= files


def test_the_scanners_would_catch_a_violation():
    assert SHELL_OR_REMOTE.search("subprocess.run(cmd, shell=True)")
    assert SHELL_OR_REMOTE.search("AutoModel.from_pretrained(x, trust_remote_code = True)")
    assert not SHELL_OR_REMOTE.search("AutoModel.from_pretrained(x, trust_remote_code=False)")
    assert UNSAFE_CALLS.search("cfg = yaml.load(text)") and UNSAFE_CALLS.search("eval(user_text)")
    assert not UNSAFE_CALLS.search("model.eval()") and not UNSAFE_CALLS.search("yaml.safe_load(text)")
    assert GRADIO_IMPORT.search("import os\nimport gradio as gr\n")
    assert GRADIO_IMPORT.search("    from gradio import Blocks")
    assert not GRADIO_IMPORT.search("import gradio_client_helpers_that_do_not_exist_x")


def test_the_suite_runs_offline():
    """conftest switches the Hub clients off before anything imports them; nothing here may download."""
    import evaluate.config
    import huggingface_hub.constants

    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["HF_EVALUATE_OFFLINE"] == "1"
    assert huggingface_hub.constants.HF_HUB_OFFLINE is True
    assert evaluate.config.HF_EVALUATE_OFFLINE is True
