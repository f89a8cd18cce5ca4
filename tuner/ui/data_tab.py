"""Data tab: upload a table (and an optional validation file), pick columns, read the summary."""

from __future__ import annotations

import functools
from pathlib import Path

import gradio as gr
import pandas as pd

from .. import data as data_mod
from ..config import RunConfig
from ..errors import TunerError
from ..tasks import DEFAULT_TASK, get_task, task_names
from .charts import label_chart
from .common import check_state_owner, esc, log, user_of
from .i18n import current_lang, error_text, say, sentence, t

ASSETS = Path(__file__).resolve().parents[2] / "assets"
SAMPLE = ASSETS / "support_tickets.csv"



def _summary_md(info: dict, table_fmt: str, warnings: list[str], val_rows: int | None, task, left_out=()) -> str:
    lang = current_lang()
    roles = task.column_roles
    shape = info.get("shape_title") or (
        f"{say(roles.get('text_columns', 'Text column(s)'), lang).lower()}: {' + '.join(info['text_columns'])} · "
        f"{say(roles.get('label_column', 'Label column'), lang).lower()}: {info['label_column']}")
    shape = sentence(shape, lang)
    lines = [say("**{rows} rows** · format {fmt} · {shape} · {n} {what}", lang, rows=f"{info['rows']:,}",
                 fmt=esc(table_fmt), shape=esc(shape), n=len(info["label_counts"]), what=say(task.count_word, lang))]
    if left_out:  # what was left out comes first: it changes what the numbers below mean
        lines.append("\n".join(f"⚠️ <span class='tuner-warn'>{esc(w)}</span>" for w in left_out))
    lines.append(say("Validation: separate file, {rows} rows", lang, rows=f"{val_rows:,}") if val_rows is not None
                 else say("Validation: {share} of these rows is held out", lang, share=say(task.held_out, lang)))
    lc, lt = info["length_chars"], info["length_tokens_approx"]
    head = [say(w, lang) for w in ("length", "min", "median", "95th pct", "max", "characters", "tokens (approx.)")]
    lines.append(f"\n| {' | '.join(head[:5])} |\n|---|---|---|---|---|\n"
                 f"| {head[5]} | {lc['min']} | {lc['median']} | {lc['p95']} | {lc['max']} |\n"
                 f"| {head[6]} | {lt['min']} | {lt['median']} | {lt['p95']} | {lt['max']} |")
    if warnings:
        lines.append("\n" + "\n".join(f"- ⚠️ <span class='tuner-warn'>{esc(sentence(w, lang))}</span>" for w in warnings))
    return "\n\n".join(lines)


def _error_html(sentence: str) -> str:
    return f"⛔ {esc(sentence)}" if sentence else ""


def language_warning(df, text_columns: list[str]) -> str:
    """The language check against the bundled default model (the Train tab checks the model actually chosen)."""
    from .. import language
    from ..models import DEFAULT_MODEL

    found = language.check_table(df, text_columns, DEFAULT_MODEL)
    if not found:
        return ""
    return found["sentence_zh"] if current_lang() == "zh" else found["sentence"]


def inspect_files(train_path: str, val_path: str | None, task_name: str, text_columns, label_column, propose: bool,
                  check_language: bool = True):
    """Read + validate the upload: (state, columns, info, summary, preview, counts, skipped-rows file, problem).

    What could be read is always returned (columns, preview), so the person can see a problem; `problem` is the
    sentence that refuses the file (then `state["error"]` carries it to the Train tab), else ''."""
    task = get_task(task_name)
    table = task.read(train_path)
    df = table.df
    columns = [str(c) for c in df.columns]
    if propose or not text_columns or not label_column:
        p = task.propose(df)
        text_columns, label_column = p["text_columns"], p["label_column"]
    state = {"train_file": str(train_path), "validation_file": str(val_path or ""), "task": task_name,
             "text_columns": list(text_columns or []), "label_column": label_column or "", "rows": len(df)}
    cfg = RunConfig.from_dict({"task": task_name, "data": {"text_columns": list(text_columns or []), "label_column": label_column or ""}})
    try:
        info = task.inspect(df, cfg)
        val_rows, vskipped, vwarnings = None, None, []
        if val_path:
            vtable = task.read(val_path)
            vwarnings = vtable.warnings
            val_rows, vskipped = task.check_validation(vtable.df, info, cfg)
    except TunerError as exc:
        state["error"], state["error_zh"] = str(exc), error_text(exc, "zh")
        skipped = getattr(exc, "skipped", None)
        listed = _skipped_file(train_path, [skipped] if skipped else [])
        return state, columns, None, "", data_mod.preview(df), None, listed, error_text(exc, current_lang())
    state.update(text_columns=info["text_columns"], label_column=info["label_column"], rows=info["rows"])
    names = list(info["label_counts"])
    if task.generative:  # the counts are of what the task describes (conversation lengths), not of the file's labels
        names = [sentence(name) for name in names]
    counts = pd.DataFrame({"label": names, "rows": list(info["label_counts"].values())})
    lang = language_warning(df, info.get("text_columns") or []) if check_language else ""
    lists = [x for x in (info.get("skipped"), vskipped) if x]
    shown = [x.warning(current_lang()) for x in lists]
    rest = [w for w in info["warnings"] if not any(w == x.warning("en") for x in lists)]
    warnings = table.warnings + vwarnings + rest + ([lang] if lang else [])
    return (state, columns, info, _summary_md(info, table.format, warnings, val_rows, task, shown),
            data_mod.preview(df), counts, _skipped_file(train_path, lists), "")


def _skipped_file(train_path, lists) -> str | None:
    """The rows left out of the upload as a CSV beside it (None when there are none)."""
    from ..skipped import write_lists

    if not lists or Path(train_path) == SAMPLE:
        return None
    written = write_lists(lists, Path(train_path).parent / "skipped_rows.csv")
    return str(written) if written else None


@functools.lru_cache(maxsize=1)
def sample_view():
    """The Data tab's view of the bundled sample, computed once when the page is built: the page opens with it
    already shown, with no inspection racing the person's first upload. None when the sample is missing."""
    if not SAMPLE.is_file():
        return None
    try:
        # The bundled sample is English, like the bundled model: no language check (it would load a tokenizer).
        state, columns, info, md, prev, counts, _, problem = inspect_files(str(SAMPLE), None, DEFAULT_TASK, None,
                                                                           None, True, check_language=False)
    except Exception:  # the page still opens; the first upload shows the problem
        log.exception("the bundled sample could not be inspected")
        return None
    return None if problem else {"state": state, "columns": columns, "summary": md, "preview": prev, "counts": counts}


def sample_state():
    view = sample_view()
    return dict(view["state"]) if view else None


def _run(train_path, val_path, task_name, tcols, lcol, propose, store):
    """The tab's outputs for an upload (stored first with `store`) and its column picks (proposed with `propose`)."""
    if not train_path:
        return (None, gr.Dropdown(choices=[], value=[]), gr.Dropdown(choices=[], value=None), "", None, None,
                gr.File(value=None, visible=False), _error_html(say("Upload a training file to begin.")))
    try:
        if store:
            train_path = str(data_mod.store_upload(train_path, "train")) if Path(train_path) != SAMPLE else str(SAMPLE)
            val_path = str(data_mod.store_upload(val_path, "validation")) if val_path else None
        state, columns, info, md, prev, cnt, listed, problem = inspect_files(train_path, val_path, task_name, tcols, lcol, propose)
    except TunerError as exc:
        return (None, gr.Dropdown(), gr.Dropdown(), "", None, None, gr.File(value=None, visible=False),
                _error_html(error_text(exc, current_lang())))
    except Exception:
        log.exception("inspecting upload failed")
        return (None, gr.Dropdown(), gr.Dropdown(), "", None, None, gr.File(value=None, visible=False),
                _error_html(say("The file could not be read; check that it is a CSV, TSV, JSON, JSONL or Parquet table.")))
    listed_out = gr.File(value=listed, visible=bool(listed))
    roles, lang = get_task(task_name).column_roles, current_lang()  # the pickers say what this task reads
    text_dd = gr.Dropdown(choices=columns, value=state["text_columns"], label=t(roles["text_columns"], lang))
    label_dd = gr.Dropdown(choices=columns, value=state["label_column"] or None,
                           label=t(roles["label_column"], lang))
    if problem:  # refused: the columns and the preview still show what was read
        return state, text_dd, label_dd, "", prev, None, listed_out, _error_html(problem)
    return state, text_dd, label_dd, md, prev, label_chart(cnt, lang), listed_out, ""


# ---- issue #23: an upload's state belongs to whoever made it (tuner/ui/common.py check_state_owner) ----
def _owned(result, request):
    """`_run`'s outputs with the state stamped with its owner (this request's user)."""
    return (dict(result[0], owner=user_of(request)), *result[1:]) if isinstance(result[0], dict) else result


def on_upload(train_path, val_path, task_name, request: gr.Request = None):
    """A new upload (or task): store it, propose its columns, show its summary."""
    return _owned(_run(train_path, val_path, task_name, None, None, True, True), request)


def on_columns(state, train_path, val_path, task_name, tcols, lcol, request: gr.Request = None):
    """Columns picked by hand: inspect the stored upload again with them."""
    try:
        check_state_owner(state, request)  # a reused session id must not read another person's rows
    except TunerError as exc:
        raise gr.Error(error_text(exc, current_lang()), print_exception=False) from None
    if not state:
        return _owned(_run(train_path, val_path, task_name, tcols, lcol, False, True), request)
    return _owned(_run(state["train_file"], state["validation_file"] or None, task_name, tcols, lcol, False, False),
                  request)
# ---- end issue #23 ----


def on_language(lang, state, train_path, val_path, task_name, tcols, lcol, request: gr.Request = None):
    """The language changed: the upload's summary again, in that language (the page opens with it in English)."""
    from .i18n import remember

    remember(getattr(request, "session_hash", None), lang)
    if not state or not train_path:
        return tuple(gr.skip() for _ in range(8))
    return on_columns(state, train_path, val_path, task_name, tcols, lcol, request)


def task_choices() -> list[tuple[str, str]]:
    """(title, task name) for the Task list: tasks named by what they do, their names as the values."""
    return [(task.title, task.name) for task in (get_task(n) for n in task_names())]


def column_labels(task_name):
    """The two column pickers' labels for a task (`Task.column_roles`), in the page's language."""
    try:
        roles = get_task(task_name).column_roles
    except TunerError:
        return gr.update(), gr.update()
    lang = current_lang()
    return gr.update(label=t(roles["text_columns"], lang)), gr.update(label=t(roles["label_column"], lang))


def build(upload_state: gr.State):
    view = sample_view() or {}
    with gr.Row():
        with gr.Column(scale=1):
            train_file = gr.File(label="Training data (CSV, TSV, JSON, JSONL, Parquet)", type="filepath",
                                 file_types=list(data_mod.TABLE_EXTENSIONS), value=str(SAMPLE) if SAMPLE.is_file() else None)
            val_file = gr.File(label="Validation data (optional)", type="filepath", file_types=list(data_mod.TABLE_EXTENSIONS))
            task = gr.Dropdown(task_choices(), value=DEFAULT_TASK, label="Task",
                               info=RunConfig.__dataclass_fields__["task"].metadata["help"])
            columns, first = view.get("columns", []), view.get("state") or {}
            text_cols = gr.Dropdown(columns, value=first.get("text_columns", []), multiselect=True, label="Text column(s)",
                                    info="Two or more are joined, e.g. title + body.")
            label_col = gr.Dropdown(columns, value=first.get("label_column") or None, label="Label column")
        with gr.Column(scale=2):
            error = gr.HTML(elem_classes=["tuner-error"])  # HTML: the sentence is escaped once, by esc()
            summary = gr.Markdown(view.get("summary", ""))
            skipped_file = gr.File(label="Rows left out (CSV)", visible=False, interactive=False)
            # HTML bars: sorted, the 20 largest plus "others", one row each (readable at 100+ labels and on a phone)
            counts = gr.HTML(label_chart(view["counts"]) if view.get("counts") is not None else "")
    preview = gr.Dataframe(view.get("preview"), label="Preview (first rows)", interactive=False, wrap=True, max_height=320)

    outputs = [upload_state, text_cols, label_col, summary, preview, counts, skipped_file, error]
    # The column pickers are named for the chosen task at once ("Tags column"), even when its upload is refused.
    task.change(column_labels, task, [text_cols, label_col], api_visibility="private", show_progress="hidden")

    # Uploads have a group of their own, 4 at once (issue #23): a huge file being read does not hold a small one.
    gr.on([train_file.change, val_file.change, task.change], on_upload, [train_file, val_file, task], outputs,
          api_name="upload", concurrency_id="upload", concurrency_limit=4)
    gr.on([text_cols.input, label_col.input], on_columns, [upload_state, train_file, val_file, task, text_cols, label_col],
          outputs, api_name="columns", concurrency_id="upload", concurrency_limit=4)
    return {"train_file": train_file, "val_file": val_file, "task": task, "on_upload": on_upload, "outputs": outputs,
            "on_language": on_language, "inputs": [upload_state, train_file, val_file, task, text_cols, label_col]}
