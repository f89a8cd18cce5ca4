"""Export a finished run: the adapter as a zip, the merged model, a push to the Hub, or a ready-to-push demo Space.

    python -m tuner export <run> --zip out.zip
    python -m tuner export <run> --merge out_dir/
    python -m tuner export <run> --space out_dir/
    python -m tuner export <run> --push user/name [--merged] [--token-env HF_TOKEN]

Everything written is safetensors + JSON/text; the base model is reloaded in full precision before merging
(runs trained on an 8/4-bit base merge into fp32 weights, never into quantized ones).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from . import model_card
from .errors import RunError, TunerError
from .runs import Run
from .safe_text import clean_name, public_path

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = PACKAGE_DIR / "space_template"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


class ExportError(TunerError):
    """An export could not be made."""


def _check(run: Run) -> dict:
    if run.state not in ("completed", "stopped") or not run.has_adapter():
        raise RunError(f"Run {run.id} has no finished adapter to export; pick a completed or stopped run.")
    return run.meta()


def label_names(meta: dict) -> dict:
    out = {"task": meta.get("task"), "labels": list(meta.get("labels", []) or [])}
    if meta.get("types"):
        out["types"] = list(meta["types"])
    return out


def quantization_of(run: Run) -> str:
    """'8-bit' / '4-bit' when the run trained on a quantized base (whatever the config calls it), else ''."""
    try:
        data = run.config().to_dict()
    except Exception:
        return ""
    found = []

    def walk(obj):
        if isinstance(obj, dict):
            for key, value in obj.items():
                k = str(key).lower()
                if ("quant" in k or k in ("bits", "load_in")) and value not in (None, "", "none", 0, False, 16, 32):
                    found.append(str(value))
                walk(value)

    walk(data)
    for value in found:
        for bits in ("4", "8"):
            if bits in value:
                return f"{bits}-bit"
    return ""


def public_adapter_config(folder: Path) -> None:
    """peft writes the base model's path into adapter_config.json, and Tuner into tuner_meta.json; in an export a local
    base goes by its folder name only (safe_text.public_path), never by the server's path."""
    for name, key in (("adapter_config.json", "base_model_name_or_path"), ("tuner_meta.json", "base_model")):
        path = folder / name
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        base = config.get(key) if isinstance(config, dict) else None
        if isinstance(base, str) and public_path(base) != base:
            config[key] = public_path(base)
            path.write_text(json.dumps(config, indent=1, ensure_ascii=False), encoding="utf-8")


def adapter_folder(run: Run, out_dir: Path, repo_id: str | None = None) -> Path:
    """The PEFT folder: adapter_config.json + adapter_model.safetensors + tokenizer + label names + model card."""
    meta = _check(run)
    out_dir.mkdir(parents=True, exist_ok=True)
    for item in run.adapter_dir.iterdir():
        if item.is_file() and not item.name.endswith((".bin", ".pt", ".pkl", ".pickle")):
            shutil.copy2(item, out_dir / item.name)
    missing = [f for f in ADAPTER_FILES if not (out_dir / f).is_file()]
    if missing:
        raise ExportError(f"Run {run.id}'s adapter folder lacks {missing[0]}; train the run again.")
    public_adapter_config(out_dir)
    (out_dir / "label_names.json").write_text(json.dumps(label_names(meta), indent=1, ensure_ascii=False), encoding="utf-8")
    card_meta_run = run
    (out_dir / "README.md").write_text(model_card.render(card_meta_run, repo_id or f"your-name/tuner-{run.id}"),
                                       encoding="utf-8")
    return out_dir


def zip_adapter(run: Run, out_path: str | Path | None = None) -> Path:
    """A zip of the PEFT adapter folder (files at the zip's top level)."""
    out = Path(out_path) if out_path else Path(tempfile.mkdtemp(prefix="tuner-export-")) / f"tuner-adapter-{run.id}.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tuner-adapter-") as tmp:
        folder = adapter_folder(run, Path(tmp) / "adapter")
        tmp_zip = out.with_name(f".{out.name}.tmp")
        with zipfile.ZipFile(tmp_zip, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for item in sorted(folder.iterdir()):
                zf.write(item, arcname=item.name)
        tmp_zip.replace(out)
    return out


def merge(run: Run, out_dir: str | Path, repo_id: str | None = None) -> Path:
    """Base (reloaded in full precision) + adapter merged into one safetensors model folder, with tokenizer,
    label names and a model card; loads with plain `transformers`."""
    import torch

    from . import methods, models
    from .tasks import get_task

    meta = _check(run)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ExportError(f"The folder '{out_dir.name}' is not empty; choose a new folder for the merged model.")
    method = meta.get("method", "lora")
    kind = methods.get_method(method).kind
    if kind == "prompt":
        raise ExportError(f"A {method.replace('_', ' ')} run has virtual tokens, not weights, so it cannot be merged into the base model; download the adapter zip instead.")
    task = get_task(meta["task"])
    source = models.resolve(meta["base_model"])
    base = task.build_model(source, meta, dtype=torch.float32)  # never quantized: merging needs real weights
    model = methods.load(base, run.adapter_dir, method)  # full/freeze: the trained tensors are loaded in place
    if kind != "weights":
        try:
            model = model.merge_and_unload()
        except Exception as exc:  # peft cannot merge every method/head combination
            raise ExportError(f"peft could not merge this {method} adapter into the base model ({type(exc).__name__}); download the adapter zip instead.") from exc
    model = model.to(torch.float32).eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    tokenizer = models.load_tokenizer(str(run.adapter_dir))
    tokenizer.save_pretrained(str(out_dir))
    quant = quantization_of(run)
    (out_dir / "tuner_meta.json").write_text(json.dumps({**meta, "base_model": public_path(meta.get("base_model", "")),
                                                         "merged": True, "merged_dtype": "float32",
                                                         "trained_quantization": quant or None}, indent=1),
                                             encoding="utf-8")
    (out_dir / "label_names.json").write_text(json.dumps(label_names(meta), indent=1, ensure_ascii=False), encoding="utf-8")
    card = model_card.render(run, repo_id or f"your-name/tuner-{run.id}-merged", merged=True, quantization=quant)
    (out_dir / "README.md").write_text(card, encoding="utf-8")
    return out_dir


def space_title(text: str) -> str:
    """A Space title that is safe inside the template's Python string, YAML front matter and Markdown heading: one
    line, no quotes, backslashes, backticks or angle brackets, at most 60 characters."""
    return re.sub(r"[\\\"'`<>\[\]]", "", clean_name(text))[:60].strip() or "Tuner demo"


def space_folder(run: Run, out_dir: str | Path, title: str | None = None) -> Path:
    """A ready-to-push Hugging Face Space: a small Gradio app with the Try it (or Chat) tab for this one run,
    the run's adapter, the `tuner` package it runs on, and requirements.txt."""
    meta = _check(run)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ExportError(f"The folder '{out_dir.name}' is not empty; choose a new folder for the Space.")
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(PACKAGE_DIR, out_dir / "tuner",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "space_template"))
    run_dir = out_dir / "runs" / run.id
    shutil.copytree(run.adapter_dir, run_dir / "adapter",
                    ignore=shutil.ignore_patterns("*.bin", "*.pt", "*.pkl", "*.pickle"))
    public_adapter_config(run_dir / "adapter")
    base = str(meta.get("base_model", "default"))
    if base not in ("", "default") and not base.lower().startswith("tiny:") and Path(base).expanduser().is_dir():
        # A local base model travels with the Space (Hub ids, the bundled default and tiny test models do not).
        shutil.copytree(Path(base).expanduser(), out_dir / "base_model",
                        ignore=shutil.ignore_patterns("*.bin", "*.pt", "*.pkl", ".git"))
        meta = dict(meta, base_model="./base_model")
        (run_dir / "adapter" / "tuner_meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    status = run.status()
    name = clean_name(status.get("name") or "") or run.id
    (run_dir / "status.json").write_text(json.dumps({"state": "completed", "name": name,
                                                     "message": status.get("message", "")}, indent=1), encoding="utf-8")
    if run.metrics_path.is_file():
        shutil.copy2(run.metrics_path, run_dir / "metrics.json")
    if run.config_path.is_file():
        (run_dir / "config.yaml").write_text(run.config_path.read_text(encoding="utf-8"), encoding="utf-8")
    title = space_title(title or f"Tuner demo · {name}")
    for item in TEMPLATE_DIR.iterdir():
        if item.is_file():
            text = item.read_text(encoding="utf-8")
            text = text.replace("{{TITLE}}", title).replace("{{RUN_ID}}", run.id)
            text = text.replace("{{TASK}}", str(meta.get("task", ""))).replace("{{BASE}}", model_card.base_model_id(meta))
            (out_dir / item.name).write_text(text, encoding="utf-8")
    reqs = (PACKAGE_DIR.parent / "requirements.txt")
    if reqs.is_file():
        lines = [ln for ln in reqs.read_text(encoding="utf-8").splitlines()
                 if ln.strip() and not ln.startswith(("#", "tensorboard", "bitsandbytes", "matplotlib", "scikit-learn"))]
        (out_dir / "requirements.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out_dir


def push(run: Run, repo_id: str, token: str | None = None, merged: bool = False, space: bool = False,
         private: bool = True, endpoint_url: str | None = None) -> str:
    """Prepare the adapter (or merged model, or demo Space) in a temporary folder and push it to the Hub."""
    from . import hub

    repo_id = hub.check_repo_id(repo_id)
    _check(run)
    with tempfile.TemporaryDirectory(prefix="tuner-push-") as tmp:
        folder = Path(tmp) / "out"
        if space:
            space_folder(run, folder)
        elif merged:
            merge(run, folder, repo_id=repo_id)
        else:
            adapter_folder(run, folder, repo_id=repo_id)
        return hub.push_folder(folder, repo_id, token=token, repo_type="space" if space else "model",
                               private=private, endpoint_url=endpoint_url,
                               message=f"Tuner run {run.id}: {'demo Space' if space else 'merged model' if merged else 'LoRA adapter'}")
