"""Train tab: recipe + settings -> `accelerate launch` child; live progress, curves, stop, CLI equivalent.

The handlers are module functions. Those that read the form take its values by name (`inputs_kwargs`): the upload
`state`, `recipe_name`, `model_name`, `target_list`, the run `name`, and every setting by its dotted config path
(`**settings`, e.g. settings["train.epochs"]); `form_config` turns them into the RunConfig. The order of the form
built in `build` is the positional order of the `train`, `estimate` and `show_command` API endpoints. Starting a
run (its checks, folder and queue) is tuner.start's, shared with `python -m tuner train`."""

from __future__ import annotations

import functools
import shlex

import gradio as gr

from .. import jobs, models
from ..config import RECIPES, RunConfig, field_meta, load_recipe, recipe_choices
from ..errors import ConfigError, DataError, RunError
from ..models import DEFAULT_MODEL
from ..start import start_run, train_device
from ..tasks import get_task, tasks
from .charts import curves
from .common import check_state_owner, esc, friendly, owned_run, progress_html, toast, user_of
from .i18n import current_lang, say, sentence

# (dotted config path, widget factory) for the settings shown on the page; help text comes from the metadata.
NUMERIC = [
    ("adapter.r", "slider", 1, 128, 1), ("adapter.alpha", "number", None, None, None),
    ("adapter.dropout", "slider", 0.0, 0.5, 0.01), ("train.learning_rate", "number", None, None, None),
    ("train.epochs", "number", None, None, None), ("train.batch_size", "slider", 1, 256, 1),
    ("model.max_length", "slider", 16, 512, 8), ("seed", "number", None, None, None),
    ("train.evals", "slider", 0, 20, 1), ("train.max_examples", "number", None, None, None),
    ("train.max_minutes", "number", None, None, None), ("train.max_batch_size", "number", None, None, None),
    ("train.early_stopping", "number", None, None, None),
]


# Settings only one task uses (`Task.settings_fields`), shown in that task's accordion; widgets come from the
# field metadata. Tasks by name: the order of these settings in the Train API's positional inputs (chat, ner).
TASK_FIELDS = {task.name: list(task.settings_fields) for task in sorted(tasks(), key=lambda t: t.name)
               if task.settings_fields}

# Method, quantization and hardware settings (the "Method and hardware" accordion); a method's own fields are
# shown only while that method is chosen (tuner.methods.METHODS lists them).
METHOD_FIELDS = ["adapter.method", "adapter.use_rslora", "adapter.use_dora", "adapter.loraplus_lr_ratio",
                 "adapter.adalora_init_r", "adapter.num_virtual_tokens", "adapter.freeze_layers"]
HARDWARE_FIELDS = ["train.quantization", "train.quant_type", "train.double_quant", "train.compute_dtype",
                   "train.gpus", "train.processes"]
EXTRA_FIELDS = METHOD_FIELDS + HARDWARE_FIELDS

# The page's layout of those settings (the API's positional order stays NUMERIC, task, EXTRA_FIELDS): the few choices
# a person makes first (how long), the training knobs under "More settings", the adapter, method, quantization and
# hardware under "Advanced". Fields that do not apply are hidden: the 4-bit options unless quantizing to 4 bit (8-bit
# reads none of them, tuner/quantize.py), the GPU choice and process count on a machine without GPUs.
BASIC = ["train.epochs", "train.max_minutes"]
TRAINING = ["train.learning_rate", "train.batch_size", "model.max_length", "train.evals", "train.early_stopping",
            "seed", "train.max_examples", "train.max_batch_size"]
ADAPTER = ["adapter.r", "adapter.alpha", "adapter.dropout"]
QUANT_OPTIONS = ["train.quant_type", "train.double_quant", "train.compute_dtype"]
GPU_FIELDS = ["train.gpus", "train.processes"]
# Labels that say what a setting does (the others: the config path's last part, "tag scheme").
LABELS = {
    "train.epochs": "Epochs (passes over the data)", "train.max_minutes": "Time budget (minutes)",
    "train.learning_rate": "Learning rate", "train.batch_size": "Batch size", "model.max_length": "Max length (tokens)",
    "train.evals": "Checks during training", "train.early_stopping": "Early stopping (checks without gain)",
    "seed": "Seed", "train.max_examples": "Max rows read", "train.max_batch_size": "Max batch size",
    "adapter.r": "LoRA rank (r)", "adapter.alpha": "LoRA alpha", "adapter.dropout": "LoRA dropout",
    "adapter.method": "Method", "train.quantization": "Quantization", "train.quant_type": "4-bit format",
    "train.double_quant": "Double quantization", "train.compute_dtype": "Compute precision", "train.gpus": "GPUs",
    "train.processes": "Processes", "adapter.use_rslora": "Steadier at large r (rsLoRA)",
    "adapter.use_dora": "DoRA", "adapter.loraplus_lr_ratio": "LoRA+ learning-rate ratio",
    "adapter.adalora_init_r": "AdaLoRA starting rank", "adapter.num_virtual_tokens": "Virtual tokens",
    "adapter.freeze_layers": "Last layers to train",
}
MIN_WIDTH = 260  # px: a column never narrower, so a help text (in Chinese too) is not squeezed one word per line


def label_of(path: str) -> str:
    """The page's label of a setting."""
    return LABELS.get(path) or path.split(".")[-1].replace("_", " ")


def quant_visibility(quantization: str) -> dict:
    """{path: visible} for the 4-bit options: shown only while quantizing to 4 bit."""
    return {p: quantization == "4bit" for p in QUANT_OPTIONS}


def has_gpus() -> bool:
    """Whether this machine has a GPU (the GPU choice and process count are shown only then)."""
    return jobs.gpu_count() > 0


@functools.lru_cache(maxsize=64)
def recipe_task(name: str) -> str:
    """The task a recipe trains."""
    return load_recipe(RECIPES / f"{name}.yaml").task


def recipe_label(name: str, lang: str = "en") -> str:
    """A recipe as the list shows it: what it trains (the task's title), then its name."""
    task = get_task(recipe_task(name))
    return f"{task.title_zh}：{name}" if lang == "zh" and task.title_zh else f"{task.title}: {name}"


def recipe_options(task_name: str | None = None, lang: str = "en") -> list[tuple[str, str]]:
    """(label, recipe name) for the recipe list: `task_name`'s recipes first, then the others by task."""
    order = [t.name for t in tasks()]
    rank = {name: (recipe_task(name) != task_name, order.index(recipe_task(name)) if recipe_task(name) in order
                   else len(order), name) for name in recipe_choices()}
    return [(recipe_label(name, lang), name) for name in sorted(rank, key=rank.get)]


def task_recipe(task_name: str) -> str | None:
    """The recipe the page picks for a task: the one named after it, else one whose model needs no download."""
    names = [n for n in recipe_choices() if recipe_task(n) == task_name]
    if task_name in names:
        return task_name
    offline = [n for n in names if load_recipe(RECIPES / f"{n}.yaml").model.name.split(":")[0] in ("default", "tiny")]
    return (offline or names or [None])[0]


def _register_recipe_labels() -> None:
    """The recipe labels' Chinese join the page text, so the language switch re-labels the list."""
    from . import i18n

    for name in recipe_choices():
        i18n.ZH.setdefault(recipe_label(name), recipe_label(name, "zh"))


_register_recipe_labels()


def _meta_or_none(path):
    try:
        return field_meta(path)
    except ConfigError:
        return None


def _task_widget(path, value, **kw):
    meta = field_meta(path)
    label, kw = label_of(path), {"min_width": MIN_WIDTH, **kw}
    if path == "adapter.method":  # the methods by their titles ("Full finetuning (baseline)"); the value is the name
        from ..methods import METHODS

        return gr.Dropdown([(METHODS[m].title, m) for m in meta["choices"]], value=value, label=label,
                           info=meta["help"], **kw)
    if meta.get("choices"):
        return gr.Dropdown(meta["choices"], value=value, label=label, info=meta["help"], **kw)
    if isinstance(value, bool):
        return gr.Checkbox(value=value, label=label, info=meta["help"], **kw)
    if isinstance(value, (int, float)):
        return gr.Number(value=value, label=label, info=meta["help"], minimum=meta.get("min"), maximum=meta.get("max"),
                         **kw)
    return gr.Textbox(value=value, label=label, info=meta["help"], max_length=2000, **kw)


def _get(cfg, path):
    obj = cfg
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _widget(path, kind, lo, hi, step, value):
    meta = field_meta(path)
    label = label_of(path)
    if kind == "slider":
        return gr.Slider(lo, hi, value=value, step=step, label=label, info=meta["help"], min_width=MIN_WIDTH)
    return gr.Number(value=value, label=label, info=meta["help"], minimum=meta.get("min"), maximum=meta.get("max"),
                     min_width=MIN_WIDTH)


def build_config(state: dict | None, recipe: str, model_name: str, targets: list[str], values: list,
                 task_values: dict | None = None, extra_values: dict | None = None) -> RunConfig:
    """The RunConfig for the page's current choices; every value is validated server-side."""
    if recipe not in recipe_choices():
        raise ConfigError(f"Unknown recipe '{recipe}'; choose one from the list.")
    if not state:
        raise ConfigError("Upload a training file on the Data tab first (or keep the bundled sample).")
    if state.get("error"):  # the Data tab refused the file: say why, not 'upload a file'
        raise DataError(f"Fix the training data on the Data tab first: {state['error']}",
                        zh=f"请先在数据页修正训练数据：{state.get('error_zh') or state['error']}")
    cfg = load_recipe(RECIPES / f"{recipe}.yaml")
    if state.get("task") and state["task"] != cfg.task:  # the tasks by their titles, in both languages
        ours, theirs = get_task(cfg.task), get_task(state["task"])
        raise ConfigError(f"The recipe '{recipe}' is for “{ours.title}”, but the Data tab's task is “{theirs.title}”; "
                          f"pick a recipe for “{theirs.title}”.",
                          zh=f"配方“{recipe}”用于“{ours.title_zh or ours.title}”，但数据页的任务是“{theirs.title_zh or theirs.title}”；"
                             f"请选一个用于“{theirs.title_zh or theirs.title}”的配方。")
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
    for path, value in (extra_values or {}).items():  # method / quantization / GPU settings (None = recipe's)
        if path in EXTRA_FIELDS and value is not None and value != "":
            section, key = path.split(".")
            overrides.setdefault(section, {})[key] = value
    return RunConfig.from_dict(overrides, base=cfg)


def task_paths() -> list[str]:
    """The task settings the page shows (those the config has), in TASK_FIELDS order."""
    return [p for paths in TASK_FIELDS.values() for p in paths if _meta_or_none(p)]


def form_config(state: dict | None, recipe_name: str, model_name: str, target_list: list[str], settings: dict) -> RunConfig:
    """The RunConfig for the form's values; `settings`: {dotted config path: value} of the page's setting widgets."""
    return build_config(state, recipe_name, model_name, target_list, [settings.get(p) for p, *_ in NUMERIC],
                        {p: settings.get(p) for p in task_paths()}, {p: settings.get(p) for p in EXTRA_FIELDS})


def method_visibility(method: str) -> dict:
    """{dotted path: visible} for the method-specific widgets."""
    from .. import methods

    try:
        fields = set(methods.get_method(method).fields)
    except ConfigError:
        fields = set()
    shown = {p: p in fields for p in methods.ALL_FIELDS}
    return shown


def params_line(status: dict) -> str:
    """'Trainable 1.2M of 22.7M parameters (5.3%) · adapter 4.6 MB on disk · batch 16 x 1' for the run page."""
    trainable, total = status.get("trainable_params"), status.get("total_params")
    if not trainable or not total:
        return ""
    parts = [say("Trainable {trainable} of {total} parameters ({pct}%)", trainable=_count(trainable), total=_count(total),
                 pct=f"{100 * trainable / total:.2f}")]
    if status.get("method"):
        parts.append(say("method {method}", method=status["method"]))
    if status.get("adapter_bytes"):
        parts.append(say("adapter {mb} MB on disk", mb=f"{status['adapter_bytes'] / 2 ** 20:.2f}"))
    if status.get("batch_size"):
        parts.append(say("batch {batch} x accumulation {accum}", batch=status["batch_size"],
                         accum=status.get("grad_accum", 1)))
    return " · ".join(parts)


def _count(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(n)


def gpu_choices() -> list[str]:
    n = jobs.gpu_count()
    return ["all", "none"] + [str(i) for i in range(n)] + ([",".join(map(str, range(n)))] if n > 1 else [])


def cli_command(cfg: RunConfig, recipe: str) -> str:
    """`python -m tuner train` with only the settings that differ from the recipe; file and model paths as
    `public_path`s (runs/..., assets/..., a folder's name), never the server's own folders."""
    from ..safe_text import public_config

    base, cfg = load_recipe(RECIPES / f"{recipe}.yaml"), public_config(cfg)
    from ..config import iter_fields

    base_vals = {p: v for p, _, v in iter_fields(base)}
    parts = ["python", "-m", "tuner", "train", f"recipes/{recipe}.yaml"]
    for path, _, value in iter_fields(cfg):
        if value != base_vals[path]:
            text = ",".join(value) if isinstance(value, list) else str(value)
            parts += ["--set", f"{path}={text}"]
    return " ".join(shlex.quote(p) for p in parts)


def shown_yaml(cfg: RunConfig) -> str:
    """The run's YAML for the Show command box, with paths as in `cli_command`."""
    from ..safe_text import public_config

    return public_config(cfg).to_yaml()


def next_action(run) -> dict | None:
    """The verdict's action for a finished run when the page can do it in one click: start the same run without
    the time limit, or with twice the epochs; None otherwise."""
    if run.state not in ("completed", "stopped"):
        return None
    action = ((run.metrics() or {}).get("verdict") or {}).get("action") or {}
    if action.get("kind") in ("no_time_limit", "longer"):
        return action
    return None


def retrain_config(run, action: dict) -> RunConfig:
    """The run's own config with the action applied (the same data, model and settings)."""
    from ..config import apply_overrides

    cfg = run.config()
    if action.get("kind") == "longer":
        return apply_overrides(cfg, [f"train.epochs={cfg.train.epochs * 2}", "train.max_minutes=0"])
    return apply_overrides(cfg, [f"{k}={v}" for k, v in (action.get("overrides") or {}).items()])


def language_note(state: dict | None, model_name: str):
    """(warning markdown, suggestion radio) when the uploaded text's language is not the model's."""
    from .. import data as data_mod
    from .. import language

    hidden = "", gr.Radio(choices=[], value=None, visible=False)
    if not state or not state.get("train_file") or not state.get("text_columns"):
        return hidden
    try:
        df = data_mod.read_table(state["train_file"]).df
    except Exception:  # the Data tab reports unreadable files
        return hidden
    found = language.check_table(df, state["text_columns"], model_name or DEFAULT_MODEL)
    if not found:
        return hidden
    choices = [(f"{hub_id} — {about}", hub_id) for hub_id, about in found["suggestions"]]
    sentence = found["sentence_zh"] if current_lang() == "zh" else found["sentence"]
    return (f"⚠️ <span class='tuner-warn'>{esc(sentence)}</span>",
            gr.Radio(choices=choices, value=None, visible=True))


CHECK_SECONDS = 120  # how long a pressed Train button may say "checking" with no answer yet


def status_of(run, lang: str) -> dict:
    """`Run.progress` with what the status line needs besides: the queue position, the evaluation and verdict
    sentences in `lang`, the language."""
    prog = run.progress()
    prog["lang"] = lang
    if prog["state"] == "queued" and prog.get("phase") in ("", "queued"):
        prog["position"] = jobs.manager().position(run) or None
    if prog["state"] in ("completed", "stopped"):
        report = run.metrics() or {}
        verdict = report.get("verdict") or {}
        prog["verdict_sentence"] = verdict.get("sentence_zh" if lang == "zh" else "sentence") or verdict.get("sentence")
        prog["evaluation_error"] = report.get("evaluation_error")
    return prog


def poll(run_id: str | None, request: gr.Request = None, pressed=None):
    """The status line, curves, Stop button, parameter line and Train again button of the selected run, timed
    now (the timer calls it about every second). `pressed`: when Train was pressed and its checks have not
    answered yet (the line says "checking" meanwhile)."""
    import time

    hidden = gr.Button(visible=False)
    lang = current_lang()
    if not run_id:
        waiting = isinstance(pressed, (int, float)) and time.time() - pressed < CHECK_SECONDS
        idle = progress_html({"state": "checking" if waiting else "idle", "lang": lang})
        return idle, None, None, gr.Button(interactive=False), "", hidden
    try:
        run = owned_run(run_id, request)
    except RunError:
        return progress_html({"state": "idle", "lang": lang}), None, None, gr.Button(interactive=False), "", hidden
    prog = status_of(run, lang)
    loss, ev = curves(prog, lang)  # tuner/ui/charts.py: integer steps, y-range with a margin
    action = next_action(run)
    button = gr.Button(visible=True, value=action["label_zh" if lang == "zh" else "label"]) if action else hidden
    active = prog["state"] in ("running", "queued") and not prog["stopping"]
    return (progress_html(prog), loss, ev, gr.Button(interactive=active), params_line(run.status()), button)


def on_pressed():
    """Train pressed: at once (no queue), the line says the settings are being checked and no longer shows the
    previous run; `on_start` then names the new run, or refuses it with a sentence (the line goes back to idle)."""
    import time

    return None, time.time(), progress_html({"state": "checking", "lang": current_lang()})


def on_checked():
    """The Train checks answered (a run started or a refusal): the line stops saying "checking"."""
    return None


# ---- handlers -----------------------------------------------------------------------------------------------
@friendly
def on_recipe(name):
    """A recipe's values for the form: the NUMERIC widgets, the model, the task settings (`task_paths()`), then
    each task's accordion shown or hidden (TASK_FIELDS order)."""
    cfg = load_recipe(RECIPES / f"{name if name in recipe_choices() else 'classification'}.yaml")
    return ([gr.update(value=_get(cfg, p)) for p, *_ in NUMERIC] + [gr.update(value=cfg.model.name)]
            + [gr.update(value=_get(cfg, p)) for p in task_paths()]
            + [gr.update(visible=cfg.task == t) for t in TASK_FIELDS])


@friendly
def on_method(method):
    """The method's own fields shown, the others hidden: r, alpha, dropout, the target modules, then
    METHOD_FIELDS after adapter.method."""
    shown = method_visibility(method)
    return ([gr.update(visible=shown.get(p, False)) for p in ("adapter.r", "adapter.alpha", "adapter.dropout")]
            + [gr.update(visible=shown.get("adapter.target_modules", False))]
            + [gr.update(visible=shown.get(p, False)) for p in METHOD_FIELDS[1:]])


def on_quantization(quantization):
    """The 4-bit options (QUANT_OPTIONS) shown only while quantizing to 4 bit."""
    shown = quant_visibility(quantization)
    return [gr.update(visible=shown[p]) for p in QUANT_OPTIONS]


def on_data_task(state, recipe_name):
    """The recipe follows the Data tab's task: its recipes first in the list, and one of them chosen when the
    current recipe trains another task."""
    task = (state or {}).get("task")
    if not task or task not in [t.name for t in tasks()]:
        return gr.update()
    keep = recipe_name in recipe_choices() and recipe_task(recipe_name) == task
    return gr.Dropdown(choices=recipe_options(task, current_lang()),
                       value=recipe_name if keep else (task_recipe(task) or recipe_name))


def clear_estimate():
    """An estimate is of one recipe, model and upload: when one changes, the old lines go (press Estimate again)."""
    return "", ""


@friendly
def on_estimate(state, recipe_name, model_name, target_list, name, **settings):
    """(memory sentence, time sentence) for the form's run."""
    from .. import estimate, memory

    cfg = form_config(state, recipe_name, model_name, target_list, settings)
    source = models.check_available(cfg.model.name, models.ui_model_roots())
    lang = current_lang()
    mem = memory.estimate(cfg, source=source, device=train_device(cfg)).sentence(cfg, lang)
    timing = estimate.estimate(cfg, source=source).sentence(lang)
    return mem, timing


@friendly
def on_model(name):
    """The target-module choices for a model (its projection layers)."""
    found = models.detect_targets(models.resolve(name or DEFAULT_MODEL, models.ui_model_roots()))
    return gr.Dropdown(choices=found, value=[])


@friendly
def on_start(state, recipe_name, model_name, target_list, name, request: gr.Request = None, **settings):
    """Train: the form's run, checked, made and queued by tuner.start, as `python -m tuner train` does.
    Returns (run id, CLI command, YAML)."""
    from .. import auth

    check_state_owner(state, request)  # a reused session id never trains on another person's upload
    cfg = form_config(state, recipe_name, model_name, target_list, settings)
    # The Data tab checked the upload by the same rules when it was read (build_config refuses a file it refused).
    started = start_run(cfg, name=name or "", owner=auth.owner_for(user_of(request)),  # login on: this user's run
                        model_roots=models.ui_model_roots(), data_checked=True, memory_later=True)
    for warning in (started.warnings_zh if current_lang() == "zh" and started.warnings_zh else started.warnings):
        toast("warning", sentence(warning))
    toast("info", sentence(started.message))
    return started.run.id, cli_command(cfg, recipe_name), shown_yaml(cfg)


@friendly
def on_action(run_id, request: gr.Request = None):
    """Train again: the finished run's verdict action as a new run (`retrain_config`), started as Train does."""
    from .. import auth

    if not run_id:
        raise RunError("No run is selected.")
    run = owned_run(run_id, request)
    action = next_action(run)
    if not action:
        raise RunError("This run has nothing to train again for.")
    # The run's own config.yaml: its model folder was allowed and its data (the run's copy) checked when it started.
    started = start_run(retrain_config(run, action), name=(run.display_name() + " (again)")[:200],
                        owner=auth.owner_for(user_of(request)), source_files=run.status().get("source_files"),
                        data_checked=True)
    for warning in (started.warnings_zh if current_lang() == "zh" and started.warnings_zh else started.warnings):
        toast("warning", sentence(warning))
    toast("info", sentence(started.message))
    return started.run.id


@friendly
def on_show(state, recipe_name, model_name, target_list, name, **settings):
    """(CLI command, YAML) for the form's run."""
    cfg = form_config(state, recipe_name, model_name, target_list, settings)
    return cli_command(cfg, recipe_name), shown_yaml(cfg)


@friendly
def on_stop(run_id, request: gr.Request = None):
    """Stop: a queued run leaves the queue, one not yet training ends at once (nothing to save), a training run
    stops at its next step with the adapter saved. The status line says so at once (`poll` right after)."""
    if not run_id:
        raise RunError("No run is selected.")
    return jobs.manager().stop(owned_run(run_id, request))


# ---- layout --------------------------------------------------------------------------------------------------
def build(upload_state: gr.State, current_run: gr.BrowserState):
    defaults = load_recipe(RECIPES / "classification.yaml")
    form_widgets = {}  # dotted path -> widget, laid out below; the API's order is NUMERIC / task / EXTRA_FIELDS
    with gr.Row():
        recipe = gr.Dropdown(recipe_options(defaults.task), value="classification", label="What to train (recipe)",
                             info="A ready-made set of settings for one task; the choices below change it. "
                                  "(The recipes are YAML files in recipes/.)", scale=2, min_width=MIN_WIDTH)
        model = gr.Dropdown([DEFAULT_MODEL, "tiny:llama", "tiny:qwen2", "tiny:gpt2"], value=DEFAULT_MODEL,
                            allow_custom_value=True, label="Model to start from",
                            info=field_meta("model.name")["help"], scale=2, min_width=MIN_WIDTH)
    with gr.Row():
        for path, kind, lo, hi, st in (n for n in NUMERIC if n[0] in BASIC):
            form_widgets[path] = _widget(path, kind, lo, hi, st, _get(defaults, path))
        run_name = gr.Textbox(label="Run name (optional)", max_length=200, placeholder="e.g. tickets-r16",
                              min_width=MIN_WIDTH)
    lang_md = gr.Markdown("")
    suggest = gr.Radio([], label="Models made for this language (one click picks it; downloads need a network)",
                       visible=False)
    with gr.Accordion("More settings", open=False):
        with gr.Row():
            for path, kind, lo, hi, st in sorted((n for n in NUMERIC if n[0] in TRAINING),
                                                 key=lambda n: TRAINING.index(n[0])):
                form_widgets[path] = _widget(path, kind, lo, hi, st, _get(defaults, path))
    task_widgets, task_groups = {}, {}
    for task_name, paths in TASK_FIELDS.items():
        available = [p for p in paths if _meta_or_none(p)]
        with gr.Accordion(f"{get_task(task_name).title} — settings", open=False,
                          visible=defaults.task == task_name) as group:
            with gr.Row():
                for path in available:
                    task_widgets[path] = _task_widget(path, _get(defaults, path))
        task_groups[task_name] = group
    with gr.Accordion("Advanced: adapter, method, quantization, hardware", open=False):
        extra_widgets = {}
        shown = method_visibility(defaults.adapter.method)
        with gr.Row():
            for path in METHOD_FIELDS:
                extra_widgets[path] = _task_widget(path, _get(defaults, path),
                                                   visible=path == "adapter.method" or shown.get(path, False))
        with gr.Row():
            for path, kind, lo, hi, st in (n for n in NUMERIC if n[0] in ADAPTER):
                form_widgets[path] = _widget(path, kind, lo, hi, st, _get(defaults, path))
            targets = gr.Dropdown([], value=[], multiselect=True, label="LoRA target modules",
                                  info=field_meta("adapter.target_modules")["help"], min_width=MIN_WIDTH)
        quant_shown, gpus_shown = quant_visibility(defaults.train.quantization), has_gpus()
        with gr.Row():
            for path in HARDWARE_FIELDS:
                visible = quant_shown.get(path, True) and (gpus_shown or path not in GPU_FIELDS)
                if path == "train.gpus":
                    extra_widgets[path] = gr.Dropdown(gpu_choices(), value=defaults.train.gpus, allow_custom_value=True,
                                                      label=label_of(path), info=field_meta(path)["help"],
                                                      visible=visible, min_width=MIN_WIDTH)
                else:
                    extra_widgets[path] = _task_widget(path, _get(defaults, path), visible=visible)
    with gr.Row():
        start = gr.Button("Train", variant="primary")
        stop = gr.Button("Stop", variant="stop", interactive=False)
        estimate_btn = gr.Button("Estimate time and memory")
    time_md = gr.Markdown("")
    estimate_md = gr.Markdown("")
    progress = gr.HTML(progress_html({"state": "idle"}))
    action_btn = gr.Button("Train again", visible=False, variant="secondary")
    params_md = gr.Markdown("")
    with gr.Row():
        loss_plot = gr.LinePlot(x="step", y="loss", title="Training loss", height=260, x_axis_format="d")
        # points, not lines: each is one evaluation, and the first (often the only one) shows on its own
        eval_plot = gr.ScatterPlot(x="step", y="value", color="metric", title="Validation metrics", height=260,
                                   x_axis_format="d")
    with gr.Accordion("Show command (CLI + YAML for this run)", open=False):
        show = gr.Button("Show command", size="sm")
        command = gr.Code(language="shell", label="Command line", interactive=False)
        yaml_box = gr.Code(language="yaml", label="config.yaml", interactive=False)
    timer = gr.Timer(1.0)  # the status line's clock ticks every second

    numeric = {p: form_widgets[p] for p, *_ in NUMERIC}
    widgets = list(numeric.values())
    task_list = [task_widgets[p] for p in task_paths()]
    # The form by name; this order is the API's positional order (the settings after the run name were appended in
    # turn: an older API call that omits the last ones still works).
    form = {"state": upload_state, "recipe_name": recipe, "model_name": model, "target_list": targets, "name": run_name,
            **numeric, **{p: task_widgets[p] for p in task_paths()}, **{p: extra_widgets[p] for p in EXTRA_FIELDS}}
    extra_widgets["adapter.method"].change(
        on_method, extra_widgets["adapter.method"],
        [numeric["adapter.r"], numeric["adapter.alpha"], numeric["adapter.dropout"], targets,
         *(extra_widgets[p] for p in METHOD_FIELDS[1:])],
        api_visibility="private")
    estimate_btn.click(on_estimate, inputs_kwargs=form, outputs=[estimate_md, time_md], api_name="estimate")
    gr.on([upload_state.change, model.change], language_note, [upload_state, model], [lang_md, suggest],
          api_name="language_check", show_progress="hidden")
    suggest.input(lambda choice: gr.update(value=choice) if choice else gr.update(), suggest, model,
                  api_visibility="private")
    recipe.change(on_recipe, recipe, [*widgets, model, *task_list, *(task_groups[t] for t in TASK_FIELDS)],
                  api_visibility="private")
    upload_state.change(on_data_task, [upload_state, recipe], recipe, api_visibility="private",
                        show_progress="hidden")  # Task = ner on the Data tab: a tagging recipe here
    gr.on([recipe.change, model.change, upload_state.change], clear_estimate, None, [estimate_md, time_md],
          api_visibility="private", show_progress="hidden")
    extra_widgets["train.quantization"].change(on_quantization, extra_widgets["train.quantization"],
                                               [extra_widgets[p] for p in QUANT_OPTIONS], api_visibility="private",
                                               show_progress="hidden")
    model.change(on_model, model, targets, api_visibility="private")
    pressed = gr.State(None)  # when Train was pressed, until its checks answer
    poll_outputs = [progress, loss_plot, eval_plot, stop, params_md, action_btn]
    start.click(on_pressed, None, [current_run, pressed, progress], queue=False, show_progress="hidden",
                api_visibility="private")
    start.click(on_start, inputs_kwargs=form, outputs=[current_run, command, yaml_box], api_name="train",
                concurrency_id="control").then(on_checked, None, pressed, queue=False, api_visibility="private").then(
        poll, [current_run, pressed], poll_outputs, queue=False, show_progress="hidden", api_visibility="private")
    show.click(on_show, inputs_kwargs=form, outputs=[command, yaml_box], api_name="show_command")
    stop_msg = gr.Markdown(visible=False)
    stop.click(on_stop, current_run, stop_msg, api_name="stop", concurrency_id="control").then(
        poll, [current_run, pressed], poll_outputs, queue=False, show_progress="hidden", api_visibility="private")
    action_btn.click(on_action, current_run, current_run, api_name="train_again", concurrency_id="control")
    timer.tick(poll, [current_run, pressed], poll_outputs, show_progress="hidden", concurrency_limit=None,
               api_name="progress")
    return {"model": model, "on_model": on_model, "targets": targets}
