"""A model card (README.md) for an exported run: base model, task, data summary, metrics with the before/after
comparison, the training config and how to load the result in three lines of Python."""

from __future__ import annotations

import json

import yaml

from .runs import Run
from .safe_text import code_span, fence, md_text, public_path

HEADLINE = ("accuracy", "macro_f1", "micro_f1", "precision", "recall", "eval_loss", "perplexity", "rouge_l", "bleu")


def _task(meta: dict):
    """The run's task (tuner.tasks), or None when the registry does not know it."""
    from .errors import ConfigError
    from .tasks import get_task

    try:
        return get_task(str(meta.get("task", "")))
    except ConfigError:
        return None


def base_model_id(meta: dict) -> str:
    """The base model as a Hub id a reader can load: the bundled default is sentence-transformers/all-MiniLM-L6-v2."""
    name = str(meta.get("base_model", "") or "")
    if name in ("", "default") or name.startswith("sentence-transformers/all-MiniLM-L6-v2"):
        return "sentence-transformers/all-MiniLM-L6-v2"
    return public_path(name)  # a local folder by its name only, never the server's path


def _md(text) -> str:
    """User text for a Markdown table cell or line: no HTML, links, images or pipes (safe_text.md_text)."""
    return md_text(text)


def _num(value) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "–"


def metrics_table(report: dict) -> str:
    """Markdown rows: each headline metric for the finetuned model beside the baseline (the majority class for
    a classifier or tagger, the base model with the adapter disabled for chat)."""
    if not report:
        return "No evaluation report was saved for this run."
    if "evaluation_error" in report:
        return _md(report["evaluation_error"])
    base = report.get("baseline") or {}
    keys = [k for k in HEADLINE if isinstance(report.get(k), (int, float))]
    if not keys:
        return "No evaluation report was saved for this run."
    base_name = base.get("name") or "base model (adapter disabled)"
    classical = report.get("classical") or {}
    if classical:
        lines = [f"| metric | finetuned | classical baseline: {_md(classical.get('name', ''))} | {_md(base_name)} |",
                 "|---|---|---|---|"]
        lines += [f"| {k} | {_num(report.get(k))} | {_num(classical.get(k))} | {_num(base.get(k))} |" for k in keys]
    else:
        lines = [f"| metric | finetuned | before: {_md(base_name)} |", "|---|---|---|"]
        lines += [f"| {k} | {_num(report.get(k))} | {_num(base.get(k))} |" for k in keys]
    verdict = (report.get("verdict") or {}).get("sentence")
    if verdict:
        lines.append(f"\n**Verdict:** {_md(verdict)}")
    if report.get("n_examples"):
        lines.append(f"\nScored on {report['n_examples']:,} held-out examples.")
    return "\n".join(lines)


def load_snippet(meta: dict, repo_id: str, merged: bool) -> str:
    """Three lines of Python that load the published weights."""
    task = _task(meta)
    auto = task.auto_class if task else "AutoModel"
    if merged:
        return (f"from transformers import {auto}, AutoTokenizer\n"
                f"model = {auto}.from_pretrained(\"{repo_id}\")\n"
                f"tokenizer = AutoTokenizer.from_pretrained(\"{repo_id}\")")
    n = len(meta.get("labels", []) or [])
    extra = f", num_labels={n}" if task and task.label_head and n else ""
    extra += "".join(f', {k}="{v}"' for k, v in (task.head_kwargs if task else {}).items())
    return (f"from peft import PeftModel; from transformers import {auto}, AutoTokenizer\n"
            f"model = PeftModel.from_pretrained({auto}.from_pretrained(\"{base_model_id(meta)}\"{extra}), \"{repo_id}\")\n"
            f"tokenizer = AutoTokenizer.from_pretrained(\"{repo_id}\")")


def data_summary(run: Run, meta: dict, report: dict) -> str:
    info = next((e for e in reversed(run.events()) if e.get("type") == "start"), {})
    parts = []
    if info.get("train_rows") is not None:
        parts.append(f"{info['train_rows']:,} training rows")
    if info.get("validation_rows") is not None:
        parts.append(f"{info['validation_rows']:,} validation rows")
    names = meta.get("labels") or []
    if meta.get("types"):  # a tagger's entity types, not its B-/I- tags
        parts.append(f"entity types: {', '.join(map(_md, meta['types'][:30]))}")
    elif names:
        parts.append(f"{len(names)} labels: {', '.join(map(_md, names[:30]))}" + (" …" if len(names) > 30 else ""))
    src = (run.status().get("source_files") or {}).get("train_file")
    if src:
        parts.append(f"from the file `{code_span(public_path(src))}`")
    text = "; ".join(parts) + "." if parts else "Not recorded."
    from .analysis.corrections import data_work, data_work_sentence  # rows flagged / corrected (issue #26)

    work = data_work_sentence(data_work(run))
    return f"{text} {_md(work)}" if work else text


def training_config(run: Run) -> str:
    try:
        data = run.config().to_dict()
    except Exception:  # the card is still useful without it
        data = None
    if data is None:
        try:
            data = yaml.safe_load(run.config_path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            return "Not recorded."
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        data = dict(data, data={k: v for k, v in data["data"].items() if not str(k).endswith("_file")})
    return yaml.safe_dump(_public(data), sort_keys=False, allow_unicode=True).strip()


def _public(obj):
    """Config values with every absolute path shortened by `public_path` (no server folders in a card)."""
    if isinstance(obj, dict):
        return {k: _public(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_public(v) for v in obj]
    return public_path(obj) if isinstance(obj, str) else obj


def render(run: Run, repo_id: str, merged: bool = False, quantization: str = "") -> str:
    """The README.md text, Hub metadata block first."""
    meta = run.meta()
    report = run.metrics() or {}
    task = meta.get("task", "")
    hub_tag = _task(meta).hub_tag if _task(meta) else ""
    base = base_model_id(meta)
    front = {"library_name": "transformers" if merged else "peft", "base_model": base,
             "pipeline_tag": hub_tag or "text-classification",
             "tags": ["tuner", "lora", task or "finetune"] + ([] if merged else ["peft"])}
    what = "the base model with the LoRA adapter merged in (full precision, safetensors)" if merged \
        else "a LoRA adapter (PEFT, safetensors)"
    quant = quantization
    quant_note = (f"\nThe adapter was trained on a {quant} quantized base; the merge used the base reloaded in full "
                  "precision.\n" if quant and merged else "")
    name = run.status().get("name") or run.id
    return (
        "---\n" + yaml.safe_dump(front, sort_keys=False).strip() + "\n---\n\n"
        f"# {_md(repo_id.split('/')[-1])}\n\n"
        f"Finetuned with Tuner (a no-code LoRA finetuning studio) from run `{code_span(run.id)}` ({_md(name)}). "
        f"This repository holds {what}.\n"
        f"{quant_note}\n"
        f"- **Base model:** `{code_span(base)}`\n- **Task:** {_md(task)} ({_md(hub_tag or task)})\n"
        f"- **Method:** {_md(meta.get('method', 'lora'))}\n\n"
        f"## Data\n\n{data_summary(run, meta, report)}\n\n"
        f"## Evaluation (before vs. after)\n\n{metrics_table(report)}\n\n"
        f"## Training config\n\n{fence(training_config(run), 'yaml')}\n\n"
        f"## How to load it\n\n{fence(load_snippet(meta, repo_id, merged), 'python')}\n\n"
        f"Label names are in `tuner_meta.json`" + (" and `label_names.json`.\n" if not merged else ".\n")
        + ("\n<!-- tuner: " + json.dumps({"run": run.id, "task": task}) + " -->\n")
    )
