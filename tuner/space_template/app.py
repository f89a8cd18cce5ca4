"""{{TITLE}} — a demo of one finetuned model (Tuner run {{RUN_ID}}, task {{TASK}}, base {{BASE}}).

`python app.py` serves it on http://127.0.0.1:7860 (a Hugging Face Space runs this file). The page is the
Try it tab (or the Chat tab for a chat run) of Tuner, for this run only; `predict(text)` answers in Python.
"""

from __future__ import annotations

import os
from pathlib import Path

from tuner import environment

HERE = Path(__file__).resolve().parent
RUN_ID = "{{RUN_ID}}"
TITLE = "{{TITLE}}"
environment.put("TUNER_RUNS_DIR", HERE / "runs")  # the run shipped with this folder, not /data
environment.put("TUNER_DEMO_RUNS", RUN_ID)
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def predictor():
    from tuner.inference import get_predictor
    from tuner.runs import get_run

    return get_predictor(get_run(RUN_ID))


def predict(text: str):
    """A classifier returns {label: probability}, a tagger its entities, a chat run its reply."""
    return predictor().predict([text])[0]


def build():
    import gradio as gr

    from tuner.runs import get_run
    from tuner.tasks import get_task
    from tuner.ui import chat_tab, try_tab

    task = get_run(RUN_ID).meta().get("task", "")
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"## {TITLE}\nA model finetuned with Tuner (run `{RUN_ID}`, task {task}).")
        current = gr.State(RUN_ID)
        if get_task(task).demo == "chat":  # the task's demo: the Chat tab, else Try it
            tab = chat_tab.build(current)
        else:
            tab = try_tab.build(current)
        demo.load(tab["choices"], current, tab["run"], api_visibility="private")
    return demo


if __name__ == "__main__":
    from tuner.ui import launch_kwargs, quiet_queue

    quiet_queue(build().queue(default_concurrency_limit=1)).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), **launch_kwargs())
