"""Export: adapter zip, merged model, model card, ready-to-push demo Space, TensorBoard logs, `python -m tuner export`.

One tiny BERT run is trained in-process (the real training code, a few seconds) and shared by the checks; every
prepared folder is loaded back the way its reader would load it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tuner import export, model_card, runs
from tuner.config import RunConfig
from tuner.errors import RunError

REPO = Path(__file__).resolve().parents[1]
TEXTS = ["I was charged twice for my premium subscription", "The courier left my parcel at the wrong address",
         "The app crashes on Android when I open settings"]


def make_trained_run(root: Path, tiny_model_dir: Path, csv_path: Path, **adapter) -> runs.Run:
    """Train a tiny classification run in this process through tuner.train.main (status, events, adapter, metrics)."""
    from tuner import train

    cfg = RunConfig.from_dict({
        "name": "export test",
        "data": {"train_file": str(csv_path), "validation_fraction": 0.2},
        "model": {"name": str(tiny_model_dir), "max_length": 32},
        "adapter": {"r": 4, "alpha": 8, **adapter},
        "train": {"epochs": 2, "batch_size": 16, "evals": 1, "learning_rate": 5e-3, "precision": "fp32"},
    })
    run = runs.create_run(cfg)
    assert train.main([str(run.config_path)]) == 0, run.log_path
    assert run.state == "completed" and run.has_adapter()
    return run


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir, sample_csv_factory):
    root = tmp_path_factory.mktemp("export")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNER_RUNS_DIR", str(root / "runs"))
        mp.delenv("WANDB_API_KEY", raising=False)
        run = make_trained_run(root, tiny_model_dir, sample_csv_factory(root / "tickets.csv"))
        yield run


def adapter_probs(run):
    from tuner.inference import Predictor

    return Predictor(run).predict(TEXTS)


def test_tensorboard_logs_in_run_folder(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = list((trained.path / "tensorboard").glob("events.out.tfevents.*"))
    assert files, "TensorBoard event file in runs/<id>/tensorboard"
    acc = EventAccumulator(str(files[0].parent))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert "train/loss" in tags and "eval/loss" in tags, tags
    assert len(acc.Scalars("train/loss")) >= 1


def test_adapter_zip_is_a_loadable_peft_folder(trained, tmp_path, tiny_model_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = export.zip_adapter(trained, tmp_path / "a.zip")
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "unz")
    assert {"adapter_config.json", "adapter_model.safetensors", "label_names.json", "README.md", "tokenizer.json"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)
    labels = json.loads((tmp_path / "unz" / "label_names.json").read_text())["labels"]
    assert labels == ["billing", "shipping", "technical"]
    # Load it the way a reader would (plain transformers + peft) and get the app's own probabilities.
    base = AutoModelForSequenceClassification.from_pretrained(str(tiny_model_dir), num_labels=3)
    model = PeftModel.from_pretrained(base, str(tmp_path / "unz")).eval()
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "unz"))
    with torch.no_grad():
        probs = torch.softmax(model(**tok(TEXTS, return_tensors="pt", padding=True, truncation=True, max_length=32)).logits, -1)
    expected = adapter_probs(trained)
    for row, exp in zip(probs, expected):
        got = {labels[i]: float(p) for i, p in enumerate(row)}
        assert all(abs(got[k] - exp[k]) < 1e-4 for k in labels)


def test_merged_model_loads_with_plain_transformers(trained, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = export.merge(trained, tmp_path / "merged")
    files = {p.name for p in out.iterdir()}
    assert "model.safetensors" in files and "config.json" in files and "README.md" in files
    assert not any(f.endswith((".bin", ".pt")) for f in files)
    model = AutoModelForSequenceClassification.from_pretrained(str(out), use_safetensors=True).eval()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert model.config.id2label[0] == "billing"
    assert not any("lora" in n for n, _ in model.named_parameters())
    tok = AutoTokenizer.from_pretrained(str(out))
    with torch.no_grad():
        probs = torch.softmax(model(**tok(TEXTS, return_tensors="pt", padding=True, truncation=True, max_length=32)).logits, -1)
    for row, exp in zip(probs, adapter_probs(trained)):
        assert abs(float(row.max()) - max(exp.values())) < 1e-4
        assert model.config.id2label[int(row.argmax())] == next(iter(exp))
    with pytest.raises(export.ExportError, match="not empty"):
        export.merge(trained, out)


@pytest.mark.parametrize("method", ["freeze", "prompt_tuning"])
def test_merge_of_other_methods(method, tmp_path, tiny_model_dir, sample_csv_factory, monkeypatch):
    """Full/freeze runs export their trained tensors in place; prompt learning has no weights to merge."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    monkeypatch.setenv("TUNER_RUNS_DIR", str(tmp_path / "runs"))
    run = make_trained_run(tmp_path, tiny_model_dir, sample_csv_factory(tmp_path / "tickets.csv"), method=method)
    if method == "prompt_tuning":
        with pytest.raises(export.ExportError, match="virtual tokens, not weights"):
            export.merge(run, tmp_path / "merged")
        return
    out = export.merge(run, tmp_path / "merged")
    model = AutoModelForSequenceClassification.from_pretrained(str(out), use_safetensors=True).eval()
    tok = AutoTokenizer.from_pretrained(str(out))
    with torch.no_grad():
        probs = torch.softmax(model(**tok(TEXTS, return_tensors="pt", padding=True, truncation=True, max_length=32)).logits, -1)
    for row, exp in zip(probs, adapter_probs(run)):
        assert abs(float(row.max()) - max(exp.values())) < 1e-4
        assert model.config.id2label[int(row.argmax())] == next(iter(exp))


def _python_block(card: str) -> str:
    return re.search(r"```python\n(.*?)```", card, re.S).group(1)


def test_model_card_content_and_three_line_snippets(trained, tmp_path, tiny_model_dir, monkeypatch):
    report = trained.metrics()
    card = model_card.render(trained, "someone/tiny-tickets")
    assert card.startswith("---\n") and "library_name: peft" in card and "pipeline_tag: text-classification" in card
    assert "## Evaluation (before vs. after)" in card
    assert (f"| accuracy | {report['accuracy']:.4f} | {report['classical']['accuracy']:.4f} | "
            f"{report['baseline']['accuracy']:.4f} |") in card
    assert f"**Verdict:** {report['verdict']['sentence']}" in card
    assert "majority class" in card and "training rows" in card and "billing" in card
    assert "learning_rate: 0.005" in card and "train_file" not in card  # config shown, local paths not
    snippet = _python_block(card)
    assert len(snippet.strip().splitlines()) == 3
    # The adapter snippet runs as written when the repo id is a local copy of the pushed folder. The card names a
    # local base model by its folder name only (no server paths), so the snippet runs beside that folder.
    monkeypatch.chdir(tiny_model_dir.parent)
    folder = export.adapter_folder(trained, tmp_path / "ad", repo_id=str(tmp_path / "ad"))
    ns: dict = {}
    exec(_python_block((folder / "README.md").read_text()), ns)  # our own generated snippet
    assert type(ns["model"]).__name__.startswith("PeftModel")
    merged = export.merge(trained, tmp_path / "m", repo_id=str(tmp_path / "m"))
    ns = {}
    exec(_python_block((merged / "README.md").read_text()), ns)
    assert type(ns["model"]).__name__ == "BertForSequenceClassification"


def test_space_folder_runs_on_its_own(trained, tmp_path):
    out = export.space_folder(trained, tmp_path / "space")
    readme = (out / "README.md").read_text()
    front = readme.split("---")[1]
    assert "sdk: gradio" in front and "app_file: app.py" in front and "{{" not in readme
    reqs = (out / "requirements.txt").read_text()
    assert "gradio==" in reqs and "peft==" in reqs and "torch==" in reqs
    assert (out / "runs" / trained.id / "adapter" / "adapter_model.safetensors").is_file()
    assert (out / "base_model" / "config.json").is_file(), "a local base model travels with the Space"
    assert not (out / "runs" / trained.id / "data").exists(), "training data is not published"
    # A fresh interpreter with only the Space folder on its path: the vendored package serves the run.
    code = ("import json, app; print(json.dumps(app.predict(%r))); d = app.build(); print(type(d).__name__)" % TEXTS[0])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TUNER_RUNS_DIR")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=out, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    got = json.loads(lines[-2])
    exp = adapter_probs(trained)[0]
    assert list(got) == list(exp) and abs(got[next(iter(exp))] - exp[next(iter(exp))]) < 1e-4
    assert lines[-1] == "Blocks"


def test_cli_export_zip_and_errors(trained, tmp_path, capsys):
    from tuner.cli import main

    assert main(["export", str(trained.path), "--zip", str(tmp_path / "cli.zip")]) == 0
    assert zipfile.ZipFile(tmp_path / "cli.zip").getinfo("adapter_model.safetensors").file_size > 0
    fresh = runs.create_run(trained.config())
    with pytest.raises(RunError, match="no finished adapter"):
        export.zip_adapter(fresh)
    assert main(["export", fresh.id, "--zip", str(tmp_path / "x.zip")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no finished adapter" in err and "Traceback" not in err


def test_export_tab_zips_a_folder_export(tmp_path):
    """The Export tab's merge / Space buttons: the folder an export writes comes back as one named zip."""
    import types
    import zipfile

    from tuner.ui.export_tab import _zipped_export

    seen = {}

    def make_folder(run, dest):
        seen["dest"] = dest
        dest.mkdir(parents=True)
        (dest / "README.md").write_text(f"run {run.id}", encoding="utf-8")
        return dest

    out = _zipped_export(types.SimpleNamespace(id="20260101-000000-abcdef"), make_folder, "space")
    assert out.endswith("tuner-space-20260101-000000-abcdef.zip")
    with zipfile.ZipFile(out) as z:
        assert z.read("README.md").decode() == "run 20260101-000000-abcdef"
    assert seen["dest"].name == "space" and not seen["dest"].exists()  # the working folder is cleaned up
