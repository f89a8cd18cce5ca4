"""The Gradio page. The only package (with app.py) that imports gradio."""

from __future__ import annotations

import gradio as gr

from . import chat_tab, data_tab, results_tab, runs_tab, train_tab, try_tab
from .common import CSS

TITLE = "Tuner — finetuning studio"


def build_app() -> gr.Blocks:
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"## 🎛️ {TITLE}\nUpload a dataset, train a LoRA adapter, read an honest evaluation, try the result. "
                    "Everything here can be reproduced with `python -m tuner`.")
        upload_state = gr.State(None)
        current_run = gr.BrowserState(None, storage_key="tuner-current-run")
        with gr.Tabs():
            with gr.Tab("1 · Data", id="data"):
                data = data_tab.build(upload_state)
            with gr.Tab("2 · Train", id="train"):
                train = train_tab.build(upload_state, current_run)
            with gr.Tab("3 · Evaluate", id="evaluate") as eval_tab:
                results = results_tab.build(current_run)
            with gr.Tab("4 · Try it", id="try") as try_t:
                tryit = try_tab.build(current_run)
            with gr.Tab("Chat", id="chat") as chat_t:
                chat = chat_tab.build(current_run, upload_state)
            with gr.Tab("Runs", id="runs") as runs_t:
                runs_view = runs_tab.build(current_run)
        # Opening a tab lists the finished runs and preselects this browser's current run when it is one.
        eval_tab.select(results["choices"], current_run, results["run"], api_visibility="private")
        try_t.select(tryit["choices"], current_run, tryit["run"], api_visibility="private")
        chat_t.select(chat["choices"], current_run, chat["run"], api_visibility="private")
        runs_t.select(runs_view["refresh"], None, runs_view["outputs"], api_visibility="private")
        demo.load(data["on_upload"], [data["train_file"], data["val_file"], data["task"]], data["outputs"],
                  api_visibility="private")
        demo.load(train["on_model"], train["model"], train["targets"], api_visibility="private")
    return demo


def launch_kwargs() -> dict:
    return {"css": CSS, "theme": gr.themes.Soft(primary_hue="indigo"), "show_error": False, "enable_monitoring": False}
