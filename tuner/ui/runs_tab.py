"""Runs tab: every run folder with its state and headline score; resume interrupted runs."""

from __future__ import annotations

import time

import gradio as gr
import pandas as pd

from .. import jobs, runs
from ..errors import RunError
from .common import all_run_choices, friendly


def runs_table() -> pd.DataFrame:
    rows = []
    for run in runs.list_runs():
        st, m = run.status(), run.metrics() or {}
        rows.append({
            "run": run.id, "name": st.get("name", ""), "state": st.get("state", ""),
            "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(st.get("created", 0))),
            "accuracy": round(m["accuracy"], 4) if isinstance(m.get("accuracy"), float) else None,
            "macro_f1": round(m["macro_f1"], 4) if isinstance(m.get("macro_f1"), float) else None,
            "message": st.get("message", ""),
        })
    return pd.DataFrame(rows, columns=["run", "name", "state", "created", "accuracy", "macro_f1", "message"])


def build(current_run: gr.BrowserState):
    table = gr.Dataframe(label="All runs", interactive=False, wrap=True)
    with gr.Row():
        pick = gr.Dropdown([], label="Run", scale=4, allow_custom_value=True)
        refresh = gr.Button("↻ Refresh", size="sm", scale=1)
        resume = gr.Button("Resume from newest checkpoint", scale=2)
    msg = gr.Markdown()

    def on_refresh():
        return runs_table(), gr.Dropdown(choices=all_run_choices())

    @friendly
    def on_resume(run_id):
        if not run_id:
            raise RunError("Pick a run to resume.")
        run = runs.get_run(run_id)
        if run.state not in ("interrupted", "stopped", "failed"):
            raise RunError(f"Run {run.id} is {run.state}; only interrupted, stopped or failed runs can be resumed.")
        pos = jobs.manager().submit(run, resume=True)
        return run.id, ("Resumed." if pos == 0 else f"Queued: position {pos}.")

    refresh.click(on_refresh, None, [table, pick], api_name="runs")
    resume.click(on_resume, pick, [current_run, msg], api_name="resume")
    return {"refresh": on_refresh, "outputs": [table, pick]}
