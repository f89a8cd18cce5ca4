"""Try it tab: pick a finished run, then (by the run's task) classify a sentence or tag its entities, or run a
whole file and download the predictions (CSV for a classifier, JSON Lines for a tagger)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from .. import data as data_mod
from ..errors import DataError, RunError
from ..inference import MAX_TEXT_CHARS, get_predictor
from ..tasks import get_task
from .common import esc, finished_run_choices, friendly, owned_run, visible_owner

# Entity colours by type (cycled); the same type keeps its colour whatever its confidence label says.
PALETTE = ["#8ecae6", "#ffb703", "#90be6d", "#f28482", "#b8a1e3", "#f4a261", "#84a59d", "#e9c46a", "#a8dadc", "#cdb4db"]


def demo_kind(run_id, request=None) -> tuple[str, str]:
    """('classifier' | 'tagger' | 'chat', a one-line description) for a run; the classifier when the run
    cannot be read (or is another user's)."""
    if not run_id:
        return "classifier", ""
    try:
        meta = owned_run(run_id, request).meta()
        task = get_task(meta["task"])
    except Exception:  # noqa: BLE001 - a missing or odd run simply shows the default demo
        return "classifier", ""

    def listed(names) -> str:
        names = [str(n) for n in names]
        return ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")

    if task.demo == "tagger":
        return "tagger", f"Entity tagger · types: {listed(meta.get('types', []))}"
    if task.demo == "classifier":
        return "classifier", f"Classifier · labels: {listed(meta.get('labels', []))}"
    return task.demo, f"{task.title} · this run has its own tab ({task.demo.title()})"


def highlighted(result: dict, types: list[str]) -> tuple[dict, dict]:
    """A HighlightedText value whose categories read 'TYPE 0.97' (type and confidence), and its colour map."""
    colours = {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(types)}
    entities, cmap = [], {}
    for e in result["entities"]:
        name = f"{e['label']} {e['score']:.2f}"
        cmap[name] = colours.get(e["label"], PALETTE[-1])
        entities.append({"entity": name, "start": e["start"], "end": e["end"]})
    return {"text": result["text"], "entities": entities}, cmap


def build(current_run: gr.BrowserState):
    with gr.Row():
        run = gr.Dropdown([], label="Run", info="Finished runs (completed or stopped) with a saved adapter.", scale=4,
                          allow_custom_value=True)
        refresh = gr.Button("↻ Refresh", scale=1, size="sm")
    demo_note = gr.Markdown()
    with gr.Column(visible=True) as classifier_box:
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
    with gr.Column(visible=False) as tagger_box:
        with gr.Row():
            with gr.Column():
                tag_text = gr.Textbox(label="Text", lines=4, max_length=MAX_TEXT_CHARS,
                                      placeholder="Type a sentence, e.g. 'Angela Merkel met Tim Cook in Berlin on Monday.'")
                tag = gr.Button("Find entities", variant="primary")
            with gr.Column():
                marked = gr.HighlightedText(label="Entities (type and confidence)", combine_adjacent=False,
                                            show_legend=False)
                entity_table = gr.Dataframe(headers=["entity", "type", "confidence", "start", "end"],
                                            label="Entities found", interactive=False, wrap=True)
        with gr.Row():
            tag_file_in = gr.File(label="Tag a file: CoNLL, JSONL/CSV with a text or tokens column, or one text per line",
                                  type="filepath", file_types=[*data_mod.TABLE_EXTENSIONS, *data_mod.CONLL_EXTENSIONS])
            tag_file_out = gr.File(label="Entities (JSON Lines)", interactive=False)
        tag_file_msg = gr.Markdown()

    def _predictor(run_id, demo: str, request):
        if not run_id:
            raise RunError("Pick a finished run first.")
        predictor = get_predictor(owned_run(run_id, request))
        if predictor.task.demo != demo:
            what = {"classifier": "a classifier", "tagger": "an entity tagger"}.get(predictor.task.demo, predictor.task.title)
            raise RunError(f"Run {run_id} is {what} ({predictor.task.title}); use the demo for that task.")
        return predictor

    @friendly
    def on_classify(run_id, sentence, request: gr.Request = None):
        if not (sentence or "").strip():
            raise DataError("Type some text to classify.")
        return _predictor(run_id, "classifier", request).predict_one(sentence)

    @friendly
    def on_file(run_id, path, request: gr.Request = None):
        if not path:
            return None, ""
        predictor = _predictor(run_id, "classifier", request)
        stored = data_mod.store_upload(path, "predict")
        out = Path(tempfile.mkdtemp(prefix="tuner-pred-")) / "predictions.csv"
        info = predictor.predict_file(stored, out)
        counts = ", ".join(f"{k}: {v}" for k, v in info["label_counts"].items())
        return str(out), f"Predicted {info['rows']:,} rows ({counts})."

    @friendly
    def on_tag(run_id, sentence, request: gr.Request = None):
        if not (sentence or "").strip():
            raise DataError("Type some text to find its entities.")
        predictor = _predictor(run_id, "tagger", request)
        result = predictor.predict([sentence])[0]
        value, cmap = highlighted(result, predictor.meta.get("types", []))
        rows = [[e["text"], e["label"], e["score"], e["start"], e["end"]] for e in result["entities"]]
        return gr.HighlightedText(value=value, color_map=cmap), rows

    @friendly
    def on_tag_file(run_id, path, request: gr.Request = None):
        if not path:
            return None, ""
        predictor = _predictor(run_id, "tagger", request)
        stored = data_mod.store_upload(path, "predict")
        out = Path(tempfile.mkdtemp(prefix="tuner-tags-")) / "entities.jsonl"
        info = predictor.predict_file(stored, out)
        counts = ", ".join(f"{k}: {v}" for k, v in info["label_counts"].items()) or "no entities"
        return str(out), f"Tagged {info['rows']:,} rows ({counts})."

    def on_run(run_id, request: gr.Request = None):
        kind, note = demo_kind(run_id, request)
        return gr.Column(visible=kind == "classifier"), gr.Column(visible=kind == "tagger"), esc(note)

    def choices(selected=None, request: gr.Request = None):
        ch = finished_run_choices(visible_owner(request))
        ids = [c[1] for c in ch]
        return gr.Dropdown(choices=ch, value=selected if selected in ids else (ids[0] if ids else None))

    refresh.click(choices, run, run, api_visibility="private")
    run.change(on_run, run, [classifier_box, tagger_box, demo_note], api_name="try_demo")
    gr.on([classify.click, text.submit], on_classify, [run, text], label, api_name="classify",
          concurrency_limit=4, concurrency_id="inference")
    file_in.upload(on_file, [run, file_in], [file_out, file_msg], api_name="predict_file",
                   concurrency_limit=2, concurrency_id="inference")
    gr.on([tag.click, tag_text.submit], on_tag, [run, tag_text], [marked, entity_table], api_name="tag",
          concurrency_limit=4, concurrency_id="inference")
    tag_file_in.upload(on_tag_file, [run, tag_file_in], [tag_file_out, tag_file_msg], api_name="tag_file",
                       concurrency_limit=2, concurrency_id="inference")
    return {"run": run, "choices": choices}
