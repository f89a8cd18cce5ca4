"""Try it tab: pick a finished run, then (by the run's task) classify a sentence or tag its entities, or run a
whole file and download the predictions (CSV for a classifier, JSON Lines for a tagger).

Concurrency (issue #23, bench/concurrency.py): a Gradio concurrency group runs at its smallest member's limit, so
short and long work never share one. Classify and Tag (a sentence) share "try-text": batched (`batch=True`), each
call answers every sentence queued for it with one padded forward per run, and the model's short lane
(`Predictor.predict`) never waits for a file's rows. One batch at a time (TEXT_LIMIT): what queues meanwhile is the
next batch, and a second slot would only split it into two forwards (a small one costs nearly what a full one
does) on a CPU that has no core to spare. File prediction and file tagging share "try-file" (FILE_LIMIT at once,
so one huge file does not hold the next). Where runs are private (auth.mode() other than 'off': a login, or each
browser its own), a batch would be checked against its first request's user only (Gradio hands a batched function
one gr.Request), so there Classify and Tag answer one request per call, SINGLE_LIMIT calls at once.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from .. import auth
from .. import data as data_mod
from ..errors import RunError
from ..inference import MAX_TEXT_CHARS, SHORT_ROWS, get_predictor
from ..tasks import get_task
from .common import _as_page_error, esc, finished_run_choices, friendly, owned_run, visible_owner
from .i18n import current_lang, say, sentence, t

# Entity colours by type (cycled); the same type keeps its colour whatever its confidence label says.
PALETTE = ["#8ecae6", "#ffb703", "#90be6d", "#f28482", "#b8a1e3", "#f4a261", "#84a59d", "#e9c46a", "#a8dadc", "#cdb4db"]

MAX_BATCH = min(32, SHORT_ROWS - 1)  # sentences answered by one batched Classify/Tag call (the model's short lane)
TEXT_LIMIT = 1     # batched Classify/Tag calls at once ("try-text")
SINGLE_LIMIT = 4   # unbatched (runs private to a user): one-sentence calls at once; each model still computes one
FILE_LIMIT = 2     # file predictions/taggings at once ("try-file")


DEMOS = ("classifier", "tagger")  # the demos this tab shows (`Task.demo`); a run of another demo has its own tab


def demo_kind(run_id, request=None) -> tuple[str, str]:
    """(the run's demo: 'classifier' | 'tagger' | 'chat', its task's one-line description) for a run; the
    classifier when the run cannot be read (or is another user's)."""
    if not run_id:
        return "classifier", ""
    try:
        meta = owned_run(run_id, request).meta()
        task = get_task(meta["task"])
    except Exception:  # a missing or odd run simply shows the default demo
        return "classifier", ""
    note = sentence(task.demo_note(meta))
    if task.demo in DEMOS:
        return task.demo, note
    return task.demo, say("{note} · this run has its own tab ({tab})", note=note, tab=say(task.demo.title()))


def label_view(task, prediction):
    """The classifier demo's answer (`Task.demo_view`): the {label: score} mapping for the Label; where the task
    picks its own labels (e.g. every label over its threshold), the Label is titled with them."""
    view = task.demo_view(prediction)
    if view.get("chosen") is None:
        return view["scores"]
    chosen = ", ".join(map(str, view["chosen"])) or "–"
    return gr.Label(value=view["scores"], label=f"{t('Chosen labels', current_lang())}: {chosen}")


def highlighted(result: dict, types: list[str]) -> tuple[dict, dict]:
    """A HighlightedText value whose categories read 'TYPE 0.97' (type and confidence), and its colour map."""
    colours = {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(types)}
    entities, cmap = [], {}
    for e in result["entities"]:
        name = f"{e['label']} {e['score']:.2f}"
        cmap[name] = colours.get(e["label"], PALETTE[-1])
        entities.append({"entity": name, "start": e["start"], "end": e["end"]})
    return {"text": result["text"], "entities": entities}, cmap


def _predictor(run_id, demo: str, request):
    """The run's predictor, refused when its task's demo is not `demo` (or the run is another user's)."""
    if not run_id:
        raise RunError("Pick a finished run first.")
    predictor = get_predictor(owned_run(run_id, request))
    if predictor.task.demo != demo:
        what = predictor.task.noun or predictor.task.title
        raise RunError(f"Run {run_id} is {what} ({predictor.task.title}); use the demo for that task.")
    return predictor


def answers(run_ids, sentences, demo: str, empty: str, name: str, request) -> list[tuple]:
    """(predictor, answer) for each request of a batch (Gradio's batch=True hands one list per input), in order:
    one forward per run; a failure (a gr.Error: its sentence) only in the places it concerns."""
    out: list = [None] * len(run_ids)
    by_run: dict = {}
    for i, run_id in enumerate(run_ids):
        by_run.setdefault(run_id, []).append(i)
    for run_id, places in by_run.items():
        try:
            predictor = _predictor(run_id, demo, request)
            results = predictor.predict_each([sentences[i] for i in places], empty)
        except Exception as exc:  # this run's requests get the sentence; the others still run
            predictor, results = None, [_as_page_error(exc, name)] * len(places)
        for i, result in zip(places, results):
            out[i] = (predictor, _as_page_error(result, name) if isinstance(result, Exception) else result)
    return out


def failed(error: gr.Error, alone: bool) -> str:
    """A request's error: raised, as every handler's, when the request is alone in its batch; else its sentence
    in the answer's place ('⛔ ...'), since Gradio can fail only a whole batch."""
    if alone:
        raise error
    return f"⛔ {error.message}"


@friendly
def on_classify(run_ids, sentences, request: gr.Request = None):
    """Batched: a list of run ids and a list of sentences in, one list of label probabilities out."""
    results = answers(run_ids, sentences, "classifier", "Type some text to classify.", "on_classify", request)
    return [[failed(r, len(results) == 1) if isinstance(r, gr.Error) else label_view(p.task, r)
             for p, r in results]]


def classify_one(run_id, sentence, request: gr.Request = None):
    """Unbatched Classify (runs private to a user): one sentence in, its label probabilities out."""
    return on_classify([run_id], [sentence], request)[0][0]


@friendly
def on_file(run_id, path, request: gr.Request = None):
    """Predict a file: (the predictions CSV, a sentence with the label counts)."""
    if not path:
        return None, ""
    predictor = _predictor(run_id, "classifier", request)
    stored = data_mod.store_upload(path, "predict")
    out = Path(tempfile.mkdtemp(prefix="tuner-pred-")) / "predictions.csv"
    info = predictor.predict_file(stored, out)
    counts = ", ".join(f"{k}: {v}" for k, v in info["label_counts"].items())
    return str(out), say("Predicted {rows} rows ({counts}).", rows=f"{info['rows']:,}", counts=counts)


@friendly
def on_tag(run_ids, sentences, request: gr.Request = None):
    """Batched like `on_classify`: lists in, (highlighted texts, entity tables) out."""
    results = answers(run_ids, sentences, "tagger", "Type some text to find its entities.", "on_tag", request)
    marks, tables = [], []
    for predictor, result in results:
        if isinstance(result, gr.Error):
            marks.append(gr.HighlightedText(value=[(failed(result, len(results) == 1), None)], color_map={}))
            tables.append([])
            continue
        value, cmap = highlighted(result, predictor.meta.get("types", []))
        marks.append(gr.HighlightedText(value=value, color_map=cmap))
        tables.append([[e["text"], e["label"], e["score"], e["start"], e["end"]] for e in result["entities"]])
    return [marks, tables]


def tag_one(run_id, sentence, request: gr.Request = None):
    """Unbatched Tag (runs private to a user): one sentence in, (highlighted text, entity table) out."""
    (mark,), (rows,) = on_tag([run_id], [sentence], request)
    return mark, rows


@friendly
def on_tag_file(run_id, path, request: gr.Request = None):
    """Tag a file: (the entities as JSON Lines, a sentence with the entity counts)."""
    if not path:
        return None, ""
    predictor = _predictor(run_id, "tagger", request)
    stored = data_mod.store_upload(path, "predict")
    out = Path(tempfile.mkdtemp(prefix="tuner-tags-")) / "entities.jsonl"
    info = predictor.predict_file(stored, out)
    counts = ", ".join(f"{k}: {v}" for k, v in info["label_counts"].items()) or say("no entities")
    return str(out), say("Tagged {rows} rows ({counts}).", rows=f"{info['rows']:,}", counts=counts)


def on_run(run_id, request: gr.Request = None):
    """A run picked: show its demo (classifier or tagger) and its task's note."""
    kind, note = demo_kind(run_id, request)
    return gr.Column(visible=kind == "classifier"), gr.Column(visible=kind == "tagger"), esc(note)


def choices(selected=None, request: gr.Request = None):
    """The Run dropdown: this user's finished runs, keeping `selected` when it is still one of them."""
    ch = finished_run_choices(visible_owner(request))
    ids = [c[1] for c in ch]
    return gr.Dropdown(choices=ch, value=selected if selected in ids else (ids[0] if ids else None))


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

    refresh.click(choices, run, run, api_visibility="private")
    run.change(on_run, run, [classifier_box, tagger_box, demo_note], api_name="try_demo")
    run.change(lambda: gr.Label(label=t("Label probabilities", current_lang())), None, label,  # a title label_view set
               api_visibility="private", queue=False)
    # Short and long work in groups of their own (the module's docstring); a client still sends one sentence per call.
    batched = auth.mode() == "off"  # runs private to a user: each request's own user is checked, one per call
    text_kw = ({"concurrency_id": "try-text", "concurrency_limit": TEXT_LIMIT, "batch": True, "max_batch_size": MAX_BATCH}
               if batched else {"concurrency_id": "try-text", "concurrency_limit": SINGLE_LIMIT})
    file_kw = {"concurrency_id": "try-file", "concurrency_limit": FILE_LIMIT}
    gr.on([classify.click, text.submit], on_classify if batched else classify_one, [run, text], label,
          api_name="classify", **text_kw)
    file_in.upload(on_file, [run, file_in], [file_out, file_msg], api_name="predict_file", **file_kw)
    gr.on([tag.click, tag_text.submit], on_tag if batched else tag_one, [run, tag_text], [marked, entity_table],
          api_name="tag", **text_kw)
    tag_file_in.upload(on_tag_file, [run, tag_file_in], [tag_file_out, tag_file_msg], api_name="tag_file", **file_kw)
    return {"run": run, "choices": choices}
