"""The Gradio page. The only package (with app.py) that imports gradio."""

from __future__ import annotations

import gradio as gr

from . import chat_tab, data_tab, evaluate_tab, export_tab, i18n, runs_tab, train_tab, try_tab
from .common import CSS, demo_run_ids

TITLE = "Tuner — finetuning studio"
CLOSE_TOASTS = "() => { document.querySelectorAll('[data-testid=\"toast-close\"]').forEach((b) => b.click()); }"


def build_app() -> gr.Blocks:
    from .. import auth, cleanup

    age = max(int(cleanup.max_age_seconds()), 60)
    with gr.Blocks(title=TITLE, delete_cache=(min(age, 3600), age)) as demo:  # Gradio's upload cache, like ours
        with gr.Row(elem_classes=["tuner-header-row"]):  # classes: the phone-width CSS (common.CSS) shrinks it
            gr.Markdown(f"## 🎛️ {TITLE}\nUpload a dataset, train a LoRA adapter, read an honest evaluation, try the result. "
                        "Everything here can be reproduced with `python -m tuner`.", elem_classes=["tuner-header"])
            language = gr.Radio(i18n.LANGUAGES, value=i18n.DEFAULT, label="Language", scale=0, min_width=180,
                                elem_classes=["tuner-lang"])
        if auth.mode() == "oauth":  # a Space with `hf_oauth: true`: sign in with Hugging Face
            gr.LoginButton()
        upload_state = gr.State(data_tab.sample_state())  # the bundled sample, already inspected (data_tab.sample_view)
        current_run = gr.BrowserState(None, storage_key="tuner-current-run")
        demo_ids = demo_run_ids()  # TUNER_DEMO_RUNS: a stakeholder demo of chosen runs, no data/training tabs
        with gr.Tabs():
            if not demo_ids:
                with gr.Tab("1 · Data", id="data"):
                    data = data_tab.build(upload_state)
                with gr.Tab("2 · Train", id="train"):
                    train = train_tab.build(upload_state, current_run)
            with gr.Tab("3 · Evaluate", id="evaluate") as eval_tab:
                results = evaluate_tab.build(current_run)
            with gr.Tab("4 · Try it", id="try") as try_t:
                tryit = try_tab.build(current_run)
            with gr.Tab("Chat", id="chat") as chat_t:
                chat = chat_tab.build(current_run, upload_state)
            if not demo_ids:
                with gr.Tab("Runs", id="runs") as runs_t:
                    runs_view = runs_tab.build(current_run)
                with gr.Tab("Export", id="export") as export_t:
                    exporter = export_tab.build(current_run)
        # Opening a tab lists the finished runs and preselects this browser's current run when it is one.
        eval_tab.select(results["choices"], current_run, results["run"], api_visibility="private")
        try_t.select(tryit["choices"], current_run, tryit["run"], api_visibility="private")
        chat_t.select(chat["choices"], current_run, chat["run"], api_visibility="private")
        i18n.wire(demo, language)  # English / 中文: re-labels the page and translates error sentences
        # ... and the generated text already on the page is made again in the new language
        language.change(i18n.in_language(results["show"]), [language, results["run"]], results["outputs"],
                        api_visibility="private")
        # Opening another tab closes the toasts of the last one (an error there is not about this tab).
        tabs = [b for b in demo.blocks.values() if isinstance(b, gr.Tab)]
        gr.on([t.select for t in tabs], None, None, None, js=CLOSE_TOASTS, api_visibility="private", queue=False)
        if demo_ids:  # the demo opens on Try it with the first chosen run
            demo.load(tryit["choices"], current_run, tryit["run"], api_visibility="private")
            return demo
        runs_t.select(runs_view["refresh"], None, runs_view["outputs"], api_visibility="private")
        language.change(data["on_language"], [language, *data["inputs"]], data["outputs"], api_visibility="private",
                        concurrency_id="upload", concurrency_limit=4)
        export_t.select(exporter["choices"], current_run, exporter["run"], api_visibility="private")
        demo.load(train["on_model"], train["model"], train["targets"], api_visibility="private")
    return demo


def quiet_queue(demo: gr.Blocks) -> gr.Blocks:
    """Call after `demo.queue(...)`. Gradio's queue looks for new work every 1 ms while it has none (and for progress
    messages every 10 ms): ~5% of a core in an idle app, and hundreds of wake-ups a second, each taking a core
    from the model's threads for a moment. While a run trained, that made the chat's prompt pass 1.6x slower than
    idle, against 1.1x when the queue looks every 20 ms (bench/demo_latency.py); the app's /classify p50 stayed
    76 ms. TUNER_QUEUE_POLL_MS sets the interval (1 = Gradio's own); progress is checked 10x less often."""
    from .. import environment

    poll = max(1, min(1000, environment.get("TUNER_QUEUE_POLL_MS"))) / 1000
    queue = getattr(demo, "_queue", None)
    if queue is not None and hasattr(queue, "sleep_when_free"):
        queue.sleep_when_free = poll
        if hasattr(queue, "progress_update_sleep_when_free"):
            queue.progress_update_sleep_when_free = 10 * poll
    return demo


def launch_kwargs() -> dict:
    """Safe launch settings: unexpected errors show a generic sentence (show_error off), no /monitoring
    endpoint, strict CORS, the repository's own files blocked, and Gradio's login when TUNER_AUTH is set.
    `max_file_size` is Tuner's own upload limit (TUNER_MAX_UPLOAD_MB): Gradio refuses a larger upload while it
    streams in (HTTP 413, the partial file deleted) and the page says so before sending it, so an oversized
    file is never stored."""
    from pathlib import Path

    from .. import auth
    from ..data import max_upload_bytes

    repo = Path(__file__).resolve().parents[2]
    kwargs = {"css": CSS, "theme": gr.themes.Soft(primary_hue="indigo"), "show_error": False,
              "enable_monitoring": False, "strict_cors": True, "max_file_size": max_upload_bytes(),
              "blocked_paths": [str(repo / ".env"), str(repo / "tuner"), str(repo / "app.py"), str(repo / ".git")]}
    users = auth.password_users()
    if users:
        kwargs["auth"] = auth.check_password(users)
        kwargs["auth_message"] = "Log in to Tuner; your runs are visible only to you."
    return kwargs
