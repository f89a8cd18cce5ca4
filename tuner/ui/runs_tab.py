"""Runs tab: the newest run folders with their state, headline score and size; resume or delete a run."""

from __future__ import annotations

import time

import gradio as gr
import pandas as pd

from .. import jobs, runs
from ..errors import RunError
from .common import display_name, friendly, owned_run, run_label, visible_owner
from .i18n import current_lang, say, sentence

MAX_SHOWN = 200  # rows of the table and choices of the dropdowns: the newest runs (an older id can be typed in Run)


def runs_table(owner: str | None = None, listed: list | None = None) -> pd.DataFrame:
    """The newest MAX_SHOWN runs (of `listed`, or of every run of `owner`)."""
    listed = runs.list_runs(owner) if listed is None else listed
    rows = []
    for run in listed[:MAX_SHOWN]:
        st, m = run.status(), run.metrics() or {}
        rows.append({
            "run": run.id, "name": display_name(st.get("name", "")), "state": st.get("state", ""),
            "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(st.get("created", 0))),
            "accuracy": round(m["accuracy"], 4) if isinstance(m.get("accuracy"), float) else None,
            "macro_f1": round(m["macro_f1"], 4) if isinstance(m.get("macro_f1"), float) else None,
            "classical macro_f1": _classical(m, "macro_f1"),
            "verdict": (m.get("verdict") or {}).get("level", ""),
            "size": _size(run, st),
            "message": _message(st, m),
        })
    runs.save_disk_index()
    table = pd.DataFrame(rows, columns=["run", "name", "state", "created", "accuracy", "macro_f1", "classical macro_f1",
                                        "verdict", "size", "message"])
    return _in_language(table, ("state", "verdict"))


def _in_language(table: pd.DataFrame, worded: tuple = ()) -> pd.DataFrame:
    """A table with its column titles (and the `worded` columns' values: states, verdict levels) in the page's
    language; metric ids stay as they are."""
    if current_lang() != "zh":
        return table
    table = table.copy()
    for col in worded:
        if col in table.columns:
            table[col] = [say(v) if isinstance(v, str) and v else v for v in table[col]]
    return table.rename(columns={c: say(c) for c in table.columns if isinstance(c, str)})


def _message(status: dict, report: dict) -> str:
    """A run's status message in the page's language: the verdict's own Chinese sentence in place of its English one."""
    text = status.get("message", "")
    if current_lang() != "zh" or not text:
        return text
    verdict = report.get("verdict") or {}
    tail = ""
    if verdict.get("sentence") and verdict.get("sentence_zh") and verdict["sentence"] in text:
        text, tail = text.replace(verdict["sentence"], "").strip(), verdict["sentence_zh"]
    return sentence(text) + tail


def _size(run, status) -> str:
    try:
        disk = runs.measure(run, status, save=False)
    except OSError:
        return ""
    return runs.fmt_bytes(disk["bytes"] + sum(size for _, _, size in disk["data"]))


def refresh(owner: str | None = None, clear: bool = False):
    """What the tab shows on open / Refresh: the table and the Run dropdown (emptied with `clear`), from one
    listing."""
    shown, _ = runs.newest_runs(owner, MAX_SHOWN)
    choices = [(run_label(r), r.id) for r in shown]
    return runs_table(owner, shown), (gr.Dropdown(choices=choices, value=None) if clear else gr.Dropdown(choices=choices))


def overview(owner: str | None = None) -> tuple[list, str]:
    """(the compare dropdown's choices, a note: how many runs are not shown, what the user's runs store)."""
    from .i18n import translate_error

    shown, total = runs.newest_runs(owner, MAX_SHOWN)
    notes = []
    if total > len(shown):
        notes.append(f"The newest {len(shown):,} of {total:,} runs are shown; type an older run's id in Run to pick it.")
    limit = runs.max_user_bytes()
    if limit:
        used = runs.user_bytes("" if owner is None else owner)
        notes.append(f"Your runs store {runs.fmt_bytes(used)} of the {runs.fmt_bytes(limit)} each user may store; "
                     "delete runs you no longer need to free space.")
    lang = current_lang()
    return [(run_label(r), r.id) for r in shown], " ".join(translate_error(n, lang) for n in notes)


def _classical(report: dict, key: str):
    value = (report.get("classical") or {}).get(key)
    return round(float(value), 4) if isinstance(value, (int, float)) else None


COMPARE_METRICS = ["accuracy", "macro_f1", "micro_f1", "precision", "recall", "eval_loss", "perplexity",
                   "rouge_l", "bleu", "train_seconds"]
MAX_COMPARE = 12


def _flatten(data, prefix: str = "") -> dict:
    out = {}
    for key, value in (data or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = ", ".join(map(str, value)) if isinstance(value, list) else value
    return out


def run_settings(run) -> dict:
    """A run's config as dotted settings; data files are shown by their uploaded names, not server paths."""
    try:
        flat = _flatten(run.config().to_dict())
    except Exception:  # a run with an unreadable config still shows its metrics
        flat = {}
    sources = run.status().get("source_files") or {}
    for key in ("data.train_file", "data.validation_file"):
        if key in flat:
            flat[key] = sources.get(key.split(".", 1)[1]) or ("" if not flat[key] else "(uploaded)")
    return flat


def compare_runs(run_list, metric: str = "accuracy") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(settings that differ between the runs, a metrics table, the chosen metric per run for a chart)."""
    if metric not in COMPARE_METRICS:
        raise RunError(f"Unknown metric '{metric}'; choose one of: {', '.join(COMPARE_METRICS)}.")
    if len(run_list) < 2:
        raise RunError("Pick at least two runs to compare.")
    settings = {r.id: run_settings(r) for r in run_list}
    keys = sorted({k for s in settings.values() for k in s})
    diff_rows = []
    for key in keys:
        values = [settings[r.id].get(key) for r in run_list]
        if len({repr(v) for v in values}) > 1:
            diff_rows.append({"setting": key, **{r.id: ("" if v is None else str(v)) for r, v in zip(run_list, values)}})
    diff = pd.DataFrame(diff_rows, columns=["setting", *[r.id for r in run_list]])
    rows, chart = [], []
    for run in run_list:
        m, st = run.metrics() or {}, run.status()
        row = {"run": run.id, "name": display_name(st.get("name", "")), "state": st.get("state", "")}
        for key in COMPARE_METRICS:
            value = m.get(key)
            row[key] = round(float(value), 4) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        if m.get("classical"):
            row["classical accuracy"], row["classical macro_f1"] = _classical(m, "accuracy"), _classical(m, "macro_f1")
        row["verdict"] = (m.get("verdict") or {}).get("level", "")
        work = st.get("corrections") or {}  # a run trained on corrected labels (tuner.analysis.corrections)
        row["label corrections"] = (f"{work.get('relabelled', 0)} relabelled, {work.get('dropped', 0)} dropped "
                                    f"(run {work.get('from_run', '')})" if work else None)
        rows.append(row)
        if row[metric] is not None:
            chart.append({"run": f"{st.get('name') or ''} {run.id[-6:]}".strip(), metric: row[metric]})
    table = pd.DataFrame(rows, columns=["run", "name", "state", *COMPARE_METRICS, "label corrections"])
    table = table.dropna(axis=1, how="all")
    return _in_language(diff), _in_language(table, ("state", "verdict")), pd.DataFrame(chart, columns=["run", metric])


def on_refresh(request: gr.Request = None):
    """Refresh: this user's runs table and Run dropdown."""
    return refresh(visible_owner(request))


@friendly
def on_resume(run_id, request: gr.Request = None):
    """Resume the picked run from its newest checkpoint (or queue it): (current run, message)."""
    if not run_id:
        raise RunError("Pick a run to resume.")
    run = owned_run(run_id, request)
    runs.check_resumable(run)  # a run whose process died is recovered first
    pos = jobs.manager().submit(run, resume=True)
    return run.id, (say("Resumed.") if pos == 0 else say("Queued: position {n}.", n=pos))


@friendly
def on_delete(run_id, request: gr.Request = None):
    """Delete the picked run after the browser's question: (message, table, Run dropdown)."""
    if run_id is None:  # the browser's question was cancelled
        return gr.skip(), gr.skip(), gr.skip()
    if not run_id:
        raise RunError("Pick a run to delete.")
    run = owned_run(run_id, request)
    if jobs.manager().is_active(run):
        raise RunError(f"Run {run.id} is training or queued; stop it first, then delete it.")
    freed = runs.delete_run(run)
    from .i18n import translate_error

    done = translate_error(f"Deleted run {run.id} ({runs.fmt_bytes(freed)} freed).", current_lang())
    return (done, *refresh(visible_owner(request), clear=True))


def compare_choices(request: gr.Request = None):
    """The compare dropdown's choices and the note under the table."""
    choices, text = overview(visible_owner(request))
    return gr.Dropdown(choices=choices), text


@friendly
def on_compare(run_ids, metric, request: gr.Request = None):
    """Compare the picked runs: (config differences, metrics table, chart)."""
    chosen = [owned_run(r, request) for r in (run_ids or [])[:MAX_COMPARE]]
    diff, metrics_table, chart = compare_runs(chosen, metric or "accuracy")
    from .charts import runs_chart
    from .i18n import current_lang

    return diff, metrics_table, runs_chart(chart, metric or "accuracy", current_lang())  # bars from zero


def build(current_run: gr.BrowserState):
    table = gr.Dataframe(label="All runs", interactive=False, wrap=True,  # headers while empty, not 1 2 3
                         headers=["run", "name", "state", "created", "verdict", "size", "message"])
    note = gr.Markdown()
    with gr.Row():
        pick = gr.Dropdown([], label="Run", scale=4, allow_custom_value=True)
        refresh_btn = gr.Button("↻ Refresh", size="sm", scale=1)
        resume = gr.Button("Resume from newest checkpoint", scale=2)
        delete = gr.Button("Delete run", variant="stop", scale=1)
    msg = gr.Markdown()

    with gr.Accordion("Compare runs", open=True):
        with gr.Row():
            cmp_runs = gr.Dropdown([], multiselect=True, label="Runs to compare", scale=4, max_choices=MAX_COMPARE)
            cmp_metric = gr.Dropdown(COMPARE_METRICS, value="accuracy", label="Metric", scale=1)
            cmp_go = gr.Button("Compare", scale=1)
        cmp_plot = gr.HTML(label="Metric across runs")  # HTML bars (tuner/ui/charts.py): they start at zero
        cmp_table = gr.Dataframe(label="Metrics", interactive=False, wrap=True, headers=["run", "name", "state"])
        cmp_diff = gr.Dataframe(label="Config differences", interactive=False, wrap=True, headers=["setting"])

    table.change(compare_choices, None, [cmp_runs, note], api_visibility="private")
    cmp_go.click(on_compare, [cmp_runs, cmp_metric], [cmp_diff, cmp_table, cmp_plot], api_name="compare")
    refresh_btn.click(on_refresh, None, [table, pick], api_name="runs")
    resume.click(on_resume, pick, [current_run, msg], api_name="resume")
    # The browser asks first; a cancelled question sends null, and nothing is deleted.
    delete.click(on_delete, pick, [msg, table, pick], api_name="delete",
                 js="(run) => !run ? '' : (confirm('Delete run ' + run + ' and all its files? This cannot be undone.') ? run : null)")
    return {"refresh": on_refresh, "outputs": [table, pick]}
