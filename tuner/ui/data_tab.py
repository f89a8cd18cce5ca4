"""Data tab: upload a table (and an optional validation file), pick columns, read the summary."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from .. import data as data_mod
from ..config import RunConfig
from ..errors import TunerError
from ..tasks import get_task, task_names
from .i18n import current_lang, translate_error
from .common import esc, log

ASSETS = Path(__file__).resolve().parents[2] / "assets"
SAMPLE = ASSETS / "support_tickets.csv"


COUNT_WORDS = {"classification": "labels", "ner": "entity types", "chat": "conversation lengths"}


def _summary_md(info: dict, table_fmt: str, warnings: list[str], val_rows: int | None, task) -> str:
    roles = getattr(task, "column_roles", {})
    shape = info.get("shape_title") or (
        f"{roles.get('text_columns', 'text').lower()}: {' + '.join(info['text_columns'])} · "
        f"{roles.get('label_column', 'label').lower()}: {info['label_column']}")
    lines = [f"**{info['rows']:,} rows** · format {esc(table_fmt)} · {esc(shape)} · {len(info['label_counts'])} {COUNT_WORDS.get(task.name, 'groups')}"]
    held_out = "a stratified 10%" if task.name == "classification" else "a random 10%"
    lines.append("Validation: " + (f"separate file, {val_rows:,} rows" if val_rows is not None
                                    else f"{held_out} of these rows is held out"))
    lc, lt = info["length_chars"], info["length_tokens_approx"]
    lines.append("\n| length | min | median | 95th pct | max |\n|---|---|---|---|---|\n"
                 f"| characters | {lc['min']} | {lc['median']} | {lc['p95']} | {lc['max']} |\n"
                 f"| tokens (approx.) | {lt['min']} | {lt['median']} | {lt['p95']} | {lt['max']} |")
    if warnings:
        lines.append("\n" + "\n".join(f"- ⚠️ <span class='tuner-warn'>{esc(w)}</span>" for w in warnings))
    return "\n\n".join(lines)


def language_warning(df, text_columns: list[str]) -> str:
    """The language check against the bundled default model (the Train tab checks the model actually chosen)."""
    from .. import language
    from ..models import DEFAULT_MODEL

    found = language.check_table(df, text_columns, DEFAULT_MODEL)
    if not found:
        return ""
    return found["sentence_zh"] if current_lang() == "zh" else found["sentence"]


def inspect_files(train_path: str, val_path: str | None, task_name: str, text_columns, label_column, propose: bool):
    """Read + validate the upload; returns (state, text choices, label choices, summary, preview, counts, error)."""
    task = get_task(task_name)
    read = getattr(task, "read", data_mod.read_table)
    table = read(train_path)
    df = table.df
    columns = [str(c) for c in df.columns]
    if propose or not text_columns or not label_column:
        p = task.propose(df)
        text_columns, label_column = p["text_columns"], p["label_column"]
    cfg = RunConfig.from_dict({"task": task_name, "data": {"text_columns": list(text_columns), "label_column": label_column or ""}})
    info = task.inspect(df, cfg)
    val_rows = None
    if val_path:
        vdf = read(val_path).df
        if hasattr(task, "matching_columns"):
            vcols, vlabel = task.matching_columns(vdf, info["text_columns"], info["label_column"])
            task.extract(vdf, vcols, vlabel, source="validation file")
        val_rows = len(vdf)
    state = {"train_file": str(train_path), "validation_file": str(val_path or ""), "task": task_name,
             "text_columns": info["text_columns"], "label_column": info["label_column"], "rows": info["rows"]}
    counts = pd.DataFrame({"label": list(info["label_counts"]), "rows": list(info["label_counts"].values())})
    lang = language_warning(df, info.get("text_columns") or [])
    warnings = table.warnings + info["warnings"] + ([lang] if lang else [])
    return (state, columns, info, _summary_md(info, table.format, warnings, val_rows, task),
            data_mod.preview(df), counts)


def build(upload_state: gr.State):
    with gr.Row():
        with gr.Column(scale=1):
            train_file = gr.File(label="Training data (CSV, TSV, JSON, JSONL, Parquet)", type="filepath",
                                 file_types=list(data_mod.TABLE_EXTENSIONS), value=str(SAMPLE) if SAMPLE.is_file() else None)
            val_file = gr.File(label="Validation data (optional)", type="filepath", file_types=list(data_mod.TABLE_EXTENSIONS))
            task = gr.Dropdown(task_names(), value="classification", label="Task", info=RunConfig.__dataclass_fields__["task"].metadata["help"])
            text_cols = gr.Dropdown([], multiselect=True, label="Text column(s)", info="Two or more are joined, e.g. title + body.")
            label_col = gr.Dropdown([], label="Label column")
        with gr.Column(scale=2):
            error = gr.Markdown(elem_classes=["tuner-error"])
            summary = gr.Markdown()
            counts = gr.BarPlot(x="label", y="rows", title="Rows per label", height=260, sort="-y")
    preview = gr.Dataframe(label="Preview (first rows)", interactive=False, wrap=True, max_height=320)

    outputs = [upload_state, text_cols, label_col, summary, preview, counts, error]

    def _run(train_path, val_path, task_name, tcols, lcol, propose, store):
        if not train_path:
            return None, gr.Dropdown(choices=[], value=[]), gr.Dropdown(choices=[], value=None), "", None, None, "Upload a training file to begin."
        try:
            if store:
                train_path = str(data_mod.store_upload(train_path, "train")) if Path(train_path) != SAMPLE else str(SAMPLE)
                val_path = str(data_mod.store_upload(val_path, "validation")) if val_path else None
            state, columns, info, md, prev, cnt = inspect_files(train_path, val_path, task_name, tcols, lcol, propose)
        except TunerError as exc:
            return None, gr.Dropdown(), gr.Dropdown(), "", None, None, f"⛔ {esc(translate_error(str(exc), current_lang()))}"
        except Exception:  # noqa: BLE001
            log.exception("inspecting upload failed")
            return None, gr.Dropdown(), gr.Dropdown(), "", None, None, "⛔ The file could not be read; check that it is a CSV, TSV, JSON, JSONL or Parquet table."
        top = int(cnt["rows"].max()) if len(cnt) else 1
        return (state, gr.Dropdown(choices=columns, value=info["text_columns"]),
                gr.Dropdown(choices=columns, value=info["label_column"]), md, prev,
                gr.BarPlot(value=cnt, y_lim=[0, top * 1.1]), "")

    def on_upload(train_path, val_path, task_name):
        return _run(train_path, val_path, task_name, None, None, True, True)

    def on_columns(state, train_path, val_path, task_name, tcols, lcol):
        if not state:
            return _run(train_path, val_path, task_name, tcols, lcol, False, True)
        return _run(state["train_file"], state["validation_file"] or None, task_name, tcols, lcol, False, False)

    gr.on([train_file.change, val_file.change, task.change], on_upload, [train_file, val_file, task], outputs,
          api_name="upload")
    gr.on([text_cols.input, label_col.input], on_columns, [upload_state, train_file, val_file, task, text_cols, label_col],
          outputs, api_name="columns")
    return {"train_file": train_file, "val_file": val_file, "task": task, "on_upload": on_upload, "outputs": outputs}
