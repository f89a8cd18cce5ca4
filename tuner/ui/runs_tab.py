"""Runs tab: every run folder with its state and headline score; resume interrupted runs."""

from __future__ import annotations

import time

import gradio as gr
import pandas as pd

from .. import jobs, runs
from ..errors import RunError
from .common import all_run_choices, friendly, owned_run, visible_owner


def runs_table(owner: str | None = None) -> pd.DataFrame:
    rows = []
    for run in runs.list_runs(owner):
        st, m = run.status(), run.metrics() or {}
        rows.append({
            "run": run.id, "name": st.get("name", ""), "state": st.get("state", ""),
            "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(st.get("created", 0))),
            "accuracy": round(m["accuracy"], 4) if isinstance(m.get("accuracy"), float) else None,
            "macro_f1": round(m["macro_f1"], 4) if isinstance(m.get("macro_f1"), float) else None,
            "classical macro_f1": _classical(m, "macro_f1"),
            "verdict": (m.get("verdict") or {}).get("level", ""),
            "message": st.get("message", ""),
        })
    return pd.DataFrame(rows, columns=["run", "name", "state", "created", "accuracy", "macro_f1", "classical macro_f1",
                                       "verdict", "message"])


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
    except Exception:  # noqa: BLE001 - a run with an unreadable config still shows its metrics
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
        row = {"run": run.id, "name": st.get("name", ""), "state": st.get("state", "")}
        for key in COMPARE_METRICS:
            value = m.get(key)
            row[key] = round(float(value), 4) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        if m.get("classical"):
            row["classical accuracy"], row["classical macro_f1"] = _classical(m, "accuracy"), _classical(m, "macro_f1")
        row["verdict"] = (m.get("verdict") or {}).get("level", "")
        rows.append(row)
        if row[metric] is not None:
            chart.append({"run": f"{st.get('name') or ''} {run.id[-6:]}".strip(), metric: row[metric]})
    table = pd.DataFrame(rows, columns=["run", "name", "state", *COMPARE_METRICS])
    table = table.dropna(axis=1, how="all")
    return diff, table, pd.DataFrame(chart, columns=["run", metric])


def build(current_run: gr.BrowserState):
    table = gr.Dataframe(label="All runs", interactive=False, wrap=True)
    with gr.Row():
        pick = gr.Dropdown([], label="Run", scale=4, allow_custom_value=True)
        refresh = gr.Button("↻ Refresh", size="sm", scale=1)
        resume = gr.Button("Resume from newest checkpoint", scale=2)
    msg = gr.Markdown()

    def on_refresh(request: gr.Request = None):
        owner = visible_owner(request)
        return runs_table(owner), gr.Dropdown(choices=all_run_choices(owner))

    @friendly
    def on_resume(run_id, request: gr.Request = None):
        if not run_id:
            raise RunError("Pick a run to resume.")
        run = owned_run(run_id, request)
        if run.state not in ("interrupted", "stopped", "failed"):
            raise RunError(f"Run {run.id} is {run.state}; only interrupted, stopped or failed runs can be resumed.")
        pos = jobs.manager().submit(run, resume=True)
        return run.id, ("Resumed." if pos == 0 else f"Queued: position {pos}.")

    with gr.Accordion("Compare runs", open=True):
        with gr.Row():
            cmp_runs = gr.Dropdown([], multiselect=True, label="Runs to compare", scale=4, max_choices=MAX_COMPARE)
            cmp_metric = gr.Dropdown(COMPARE_METRICS, value="accuracy", label="Metric", scale=1)
            cmp_go = gr.Button("Compare", scale=1)
        cmp_plot = gr.BarPlot(x="run", y="accuracy", label="Metric across runs", height=260)
        cmp_table = gr.Dataframe(label="Metrics", interactive=False, wrap=True)
        cmp_diff = gr.Dataframe(label="Config differences", interactive=False, wrap=True)

    def compare_choices(request: gr.Request = None):
        return gr.Dropdown(choices=all_run_choices(visible_owner(request)))

    @friendly
    def on_compare(run_ids, metric, request: gr.Request = None):
        chosen = [owned_run(r, request) for r in (run_ids or [])[:MAX_COMPARE]]
        diff, metrics_table, chart = compare_runs(chosen, metric or "accuracy")
        return diff, metrics_table, gr.BarPlot(value=chart, x="run", y=metric or "accuracy")

    table.change(compare_choices, None, cmp_runs, api_visibility="private")
    cmp_go.click(on_compare, [cmp_runs, cmp_metric], [cmp_diff, cmp_table, cmp_plot], api_name="compare")
    refresh.click(on_refresh, None, [table, pick], api_name="runs")
    resume.click(on_resume, pick, [current_run, msg], api_name="resume")
    return {"refresh": on_refresh, "outputs": [table, pick]}
