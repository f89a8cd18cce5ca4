"""Train tab: recipe + settings -> `accelerate launch` child; live progress, curves, stop, CLI equivalent."""

from __future__ import annotations

import shlex
from pathlib import Path

import gradio as gr
import pandas as pd

from .. import jobs, models, runs
from ..cli import RECIPES
from ..config import RunConfig, field_meta, load_recipe
from ..errors import ConfigError, RunError
from ..models import DEFAULT_MODEL
from .common import friendly, progress_html

# (dotted config path, widget factory) for the settings shown on the page; help text comes from the metadata.
NUMERIC = [
    ("adapter.r", "slider", 1, 128, 1), ("adapter.alpha", "number", None, None, None),
    ("adapter.dropout", "slider", 0.0, 0.5, 0.01), ("train.learning_rate", "number", None, None, None),
    ("train.epochs", "number", None, None, None), ("train.batch_size", "slider", 1, 256, 1),
    ("model.max_length", "slider", 16, 512, 8), ("seed", "number", None, None, None),
    ("train.evals", "slider", 0, 20, 1), ("train.max_examples", "number", None, None, None),
]


# Settings only one task uses, shown in that task's accordion; widgets come from the field metadata.
TASK_FIELDS = {
    "chat": ["chat.shape", "chat.template", "chat.system_prompt", "chat.packing", "chat.eval_samples", "chat.max_new_tokens"],
    "ner": ["data.tag_scheme", "data.repair_tags", "data.case_feature"],
}
TASK_FIELD_PATHS = [p for paths in TASK_FIELDS.values() for p in paths]


def _meta_or_none(path):
    try:
        return field_meta(path)
    except ConfigError:
        return None


def _task_widget(path, value):
    meta = field_meta(path)
    label = path.split(".")[-1].replace("_", " ")
    if meta.get("choices"):
        return gr.Dropdown(meta["choices"], value=value, label=label, info=meta["help"])
    if isinstance(value, bool):
        return gr.Checkbox(value=value, label=label, info=meta["help"])
    if isinstance(value, (int, float)):
        return gr.Number(value=value, label=label, info=meta["help"], minimum=meta.get("min"), maximum=meta.get("max"))
    return gr.Textbox(value=value, label=label, info=meta["help"], max_length=2000)


def recipe_choices() -> list[str]:
    return sorted(p.stem for p in RECIPES.glob("*.yaml"))


def _get(cfg, path):
    obj = cfg
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _widget(path, kind, lo, hi, step, value):
    meta = field_meta(path)
    label = path.split(".")[-1].replace("_", " ")
    if kind == "slider":
        return gr.Slider(lo, hi, value=value, step=step, label=label, info=meta["help"])
    return gr.Number(value=value, label=label, info=meta["help"], minimum=meta.get("min"), maximum=meta.get("max"))


def build_config(state: dict | None, recipe: str, model_name: str, targets: list[str], values: list,
                 task_values: dict | None = None) -> RunConfig:
    """The RunConfig for the page's current choices; every value is validated server-side."""
    if recipe not in recipe_choices():
        raise ConfigError(f"Unknown recipe '{recipe}'; choose one from the list.")
    if not state:
        raise ConfigError("Upload a training file on the Data tab first (or keep the bundled sample).")
    cfg = load_recipe(RECIPES / f"{recipe}.yaml")
    if state.get("task") and state["task"] != cfg.task:
        raise ConfigError(f"The recipe '{recipe}' is for {cfg.task}, but the data tab is set to {state['task']}; pick a matching recipe.")
    overrides: dict = {"data": {"train_file": state["train_file"], "validation_file": state.get("validation_file", ""),
                                "text_columns": state["text_columns"], "label_column": state["label_column"]},
                       "model": {"name": model_name or DEFAULT_MODEL}, "adapter": {"target_modules": list(targets or [])}}
    for (path, *_), value in zip(NUMERIC, values):
        node = overrides
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if value is None:
            raise ConfigError(f"'{path}' is empty; enter a value.")
        node[parts[-1]] = value
    for path in TASK_FIELDS.get(cfg.task, []):  # only the recipe's own task settings apply
        value = (task_values or {}).get(path)
        if value is None:
            continue
        section, key = path.split(".")
        overrides.setdefault(section, {})[key] = value
    return RunConfig.from_dict(overrides, base=cfg)


def cli_command(cfg: RunConfig, recipe: str) -> str:
    """`python -m tuner train` with only the settings that differ from the recipe."""
    base = load_recipe(RECIPES / f"{recipe}.yaml")
    from ..config import iter_fields

    base_vals = {p: v for p, _, v in iter_fields(base)}
    parts = ["python", "-m", "tuner", "train", f"recipes/{recipe}.yaml"]
    for path, _, value in iter_fields(cfg):
        if value != base_vals[path]:
            text = ",".join(value) if isinstance(value, list) else str(value)
            parts += ["--set", f"{path}={text}"]
    return " ".join(shlex.quote(p) for p in parts)


def detect_targets(model_name: str) -> list[str]:
    """Projection layers of a model, read from its config on the meta device (no weights loaded)."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModel

    from .. import models

    source = models.resolve(model_name, models.ui_model_roots())
    config = AutoConfig.from_pretrained(source, trust_remote_code=False)
    with init_empty_weights():
        model = AutoModel.from_config(config)
    return models.detect_target_modules(model)


def poll(run_id: str | None):
    if not run_id:
        return progress_html({"state": "idle"}), None, None, gr.Button(interactive=False)
    try:
        run = runs.get_run(run_id)
    except RunError:
        return progress_html({"state": "idle"}), None, None, gr.Button(interactive=False)
    prog = run.progress()
    if prog["state"] == "queued":
        pos = jobs.manager().position(run)
        prog["message"] = f"Queued: position {pos} of the training queue." if pos else prog["message"]
    loss = pd.DataFrame([{"step": e["step"], "loss": e["loss"]} for e in prog["train"]]) if prog["train"] else None
    keys = [k for k in ("accuracy", "macro_f1", "micro_f1") if any(isinstance(e.get(k), (int, float)) for e in prog["eval"])]
    keys = keys or ["loss"]  # chat runs: held-out loss
    rows = [{"step": e["step"], "metric": k if k != "loss" else "validation loss", "value": e[k]} for e in prog["eval"]
            for k in keys if isinstance(e.get(k), (int, float))]
    ev = pd.DataFrame(rows) if rows else None
    return progress_html(prog), loss, ev, gr.Button(interactive=prog["state"] in ("running", "queued"))


def build(upload_state: gr.State, current_run: gr.BrowserState):
    defaults = load_recipe(RECIPES / "classification.yaml")
    with gr.Row():
        recipe = gr.Dropdown(recipe_choices(), value="classification", label="Recipe",
                             info="A recipe is a small YAML file of settings in recipes/.")
        model = gr.Dropdown([DEFAULT_MODEL, "tiny:llama", "tiny:qwen2", "tiny:gpt2"], value=DEFAULT_MODEL,
                            allow_custom_value=True, label="Model",
                            info=field_meta("model.name")["help"])
        run_name = gr.Textbox(label="Run name (optional)", max_length=200, placeholder="e.g. tickets-r16")
    with gr.Row():
        widgets = [_widget(p, k, lo, hi, st, _get(defaults, p)) for p, k, lo, hi, st in NUMERIC[:7]]
    with gr.Accordion("More settings", open=False):
        with gr.Row():
            widgets += [_widget(p, k, lo, hi, st, _get(defaults, p)) for p, k, lo, hi, st in NUMERIC[7:]]
            targets = gr.Dropdown([], value=[], multiselect=True, label="LoRA target modules",
                                  info=field_meta("adapter.target_modules")["help"])
    task_widgets, task_groups = {}, {}
    for task_name, paths in TASK_FIELDS.items():
        available = [p for p in paths if _meta_or_none(p)]
        with gr.Accordion(f"{task_name} settings", open=True, visible=defaults.task == task_name) as group:
            with gr.Row():
                for path in available:
                    task_widgets[path] = _task_widget(path, _get(defaults, path))
        task_groups[task_name] = group
    task_paths = list(task_widgets)
    with gr.Row():
        start = gr.Button("Train", variant="primary")
        stop = gr.Button("Stop", variant="stop", interactive=False)
    progress = gr.HTML(progress_html({"state": "idle"}))
    with gr.Row():
        loss_plot = gr.LinePlot(x="step", y="loss", title="Training loss", height=260)
        eval_plot = gr.LinePlot(x="step", y="value", color="metric", title="Validation metrics", height=260)
    with gr.Accordion("Show command (CLI + YAML for this run)", open=False):
        show = gr.Button("Show command", size="sm")
        command = gr.Code(language="shell", label="Command line", interactive=False)
        yaml_box = gr.Code(language="yaml", label="config.yaml", interactive=False)
    timer = gr.Timer(1.5)

    @friendly
    def on_recipe(name):
        cfg = load_recipe(RECIPES / f"{name}.yaml") if name in recipe_choices() else defaults
        return ([gr.update(value=_get(cfg, p)) for p, *_ in NUMERIC] + [gr.update(value=cfg.model.name)]
                + [gr.update(value=_get(cfg, p)) for p in task_paths]
                + [gr.update(visible=cfg.task == t) for t in task_groups])

    @friendly
    def on_model(name):
        found = detect_targets(name or DEFAULT_MODEL)
        return gr.Dropdown(choices=found, value=[])

    @friendly
    def on_start(state, recipe_name, model_name, target_list, name, r, alpha, dropout, learning_rate, epochs,
                 batch_size, max_length, seed, evals, max_examples, *task_settings):
        values = [r, alpha, dropout, learning_rate, epochs, batch_size, max_length, seed, evals, max_examples]
        cfg = build_config(state, recipe_name, model_name, target_list, values, dict(zip(task_paths, task_settings)))
        models.check_available(cfg.model.name, models.ui_model_roots())  # refuse bad names / unreachable Hub ids before a run folder exists
        run = runs.create_run(cfg, name=name or "")
        pos = jobs.manager().submit(run)
        msg = "Training started." if pos == 0 else f"Queued: position {pos}."
        gr.Info(msg)
        return run.id, cli_command(cfg, recipe_name), cfg.to_yaml()

    @friendly
    def on_show(state, recipe_name, model_name, target_list, name, r, alpha, dropout, learning_rate, epochs,
                batch_size, max_length, seed, evals, max_examples, *task_settings):
        values = [r, alpha, dropout, learning_rate, epochs, batch_size, max_length, seed, evals, max_examples]
        cfg = build_config(state, recipe_name, model_name, target_list, values, dict(zip(task_paths, task_settings)))
        return cli_command(cfg, recipe_name), cfg.to_yaml()

    @friendly
    def on_stop(run_id):
        if not run_id:
            raise RunError("No run is selected.")
        return jobs.manager().stop(runs.get_run(run_id))

    inputs = [upload_state, recipe, model, targets, run_name, *widgets, *(task_widgets[p] for p in task_paths)]
    recipe.change(on_recipe, recipe, [*widgets, model, *(task_widgets[p] for p in task_paths), *task_groups.values()],
                  api_visibility="private")
    model.change(on_model, model, targets, api_visibility="private")
    start.click(on_start, inputs, [current_run, command, yaml_box], api_name="train", concurrency_id="control")
    show.click(on_show, inputs, [command, yaml_box], api_name="show_command")
    stop_msg = gr.Markdown(visible=False)
    stop.click(on_stop, current_run, stop_msg, api_name="stop", concurrency_id="control")
    poll_outputs = [progress, loss_plot, eval_plot, stop]
    timer.tick(poll, current_run, poll_outputs, show_progress="hidden", concurrency_limit=None, api_name="progress")
    return {"model": model, "on_model": on_model, "targets": targets}
