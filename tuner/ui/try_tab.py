"""Try it tab: pick a finished run, classify a sentence, or predict a whole file and download the CSV."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from .. import data as data_mod
from .. import runs
from ..errors import DataError, RunError
from ..inference import MAX_TEXT_CHARS, get_predictor
from .common import finished_run_choices, friendly


def build(current_run: gr.BrowserState):
    with gr.Row():
        run = gr.Dropdown([], label="Run", info="Finished runs (completed or stopped) with a saved adapter.", scale=4,
                          allow_custom_value=True)
        refresh = gr.Button("↻ Refresh", scale=1, size="sm")
    with gr.Row():
        with gr.Column():
            text = gr.Textbox(label="Text", lines=4, max_length=MAX_TEXT_CHARS,
                              placeholder="Type a sentence, e.g. 'I was charged twice for order #A10482'")
            classify = gr.Button("Classify", variant="primary")
        label = gr.Label(label="Label probabilities", num_top_classes=5)
    with gr.Row():
        file_in = gr.File(label="Predict a file (same text columns as training)", type="filepath",
                          file_types=list(data_mod.TABLE_EXTENSIONS))
        file_out = gr.File(label="Predictions CSV", interactive=False)
    file_msg = gr.Markdown()

    def _predictor(run_id):
        if not run_id:
            raise RunError("Pick a finished run first.")
        return get_predictor(runs.get_run(run_id))

    @friendly
    def on_classify(run_id, sentence):
        if not (sentence or "").strip():
            raise DataError("Type some text to classify.")
        return _predictor(run_id).predict_one(sentence)

    @friendly
    def on_file(run_id, path):
        if not path:
            return None, ""
        stored = data_mod.store_upload(path, "predict")
        out = Path(tempfile.mkdtemp(prefix="tuner-pred-")) / "predictions.csv"
        info = _predictor(run_id).predict_file(stored, out)
        counts = ", ".join(f"{k}: {v}" for k, v in info["label_counts"].items())
        return str(out), f"Predicted {info['rows']:,} rows ({counts})."

    def choices(selected=None):
        ch = finished_run_choices()
        ids = [c[1] for c in ch]
        return gr.Dropdown(choices=ch, value=selected if selected in ids else (ids[0] if ids else None))

    refresh.click(choices, run, run)
    gr.on([classify.click, text.submit], on_classify, [run, text], label, api_name="classify",
          concurrency_limit=4, concurrency_id="inference")
    file_in.upload(on_file, [run, file_in], [file_out, file_msg], api_name="predict_file",
                   concurrency_limit=2, concurrency_id="inference")
    return {"run": run, "choices": choices}
