"""Export tab: download the adapter as a zip, merge it into the base model, publish a demo Space folder, or push
any of them to the Hugging Face Hub with a generated model card. The same code as `python -m tuner export`."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import gradio as gr

from .. import export, model_card
from ..errors import RunError
from .common import finished_run_choices, friendly, owned_run, visible_owner
from .i18n import say

PUSH_KINDS = [("adapter", "adapter"), ("merged model", "merged"), ("demo Space", "space")]


def _zip_folder(folder: Path, name: str) -> str:
    out = Path(tempfile.mkdtemp(prefix="tuner-export-")) / name
    return shutil.make_archive(str(out), "zip", root_dir=folder)


def _zipped_export(run, make_folder, kind: str) -> str:
    """`make_folder(run, dest)` writes an export into a temporary folder; the zip of it (tuner-<kind>-<run id>.zip)."""
    with tempfile.TemporaryDirectory(prefix=f"tuner-{kind}-") as tmp:
        folder = make_folder(run, Path(tmp) / kind)
        return _zip_folder(folder, f"tuner-{kind}-{run.id}")


@friendly
def on_zip(run_id, request: gr.Request = None):
    """Download: the run's adapter as a zip."""
    return str(export.zip_adapter(owned_run(run_id, request)))


@friendly
def on_merge(run_id, request: gr.Request = None):
    """Merge: the base model with the adapter merged in, as a zip."""
    return _zipped_export(owned_run(run_id, request), export.merge, "merged")


@friendly
def on_space(run_id, request: gr.Request = None):
    """Publish: a demo Space folder for the run, as a zip."""
    return _zipped_export(owned_run(run_id, request), export.space_folder, "space")


@friendly
def on_push(run_id, repo_id, hub_token, what, is_private, request: gr.Request = None):
    """Push the adapter, merged model or Space folder to the Hub: a sentence with its link."""
    r = owned_run(run_id, request)
    url = export.push(r, repo_id, token=hub_token or None, merged=what == "merged", space=what == "space",
                      private=bool(is_private))
    return say("Pushed to [{url}]({url}).", url=url)


def on_card(run_id, request: gr.Request = None):
    """The model card preview (empty when it cannot be made)."""
    if not run_id:
        return ""
    try:
        return model_card.render(owned_run(run_id, request), "your-name/model").split("---\n", 2)[-1]
    except (RunError, Exception):  # the preview is optional
        return ""


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
    with gr.Row():
        with gr.Column():
            zip_btn = gr.Button("Download adapter (zip)", variant="primary")
            zip_file = gr.File(label="Adapter zip", interactive=False)
        with gr.Column():
            merge_btn = gr.Button("Merge into the base model")
            merge_file = gr.File(label="Merged model (zip)", interactive=False)
        with gr.Column():
            space_btn = gr.Button("Publish a demo (Space folder)")
            space_file = gr.File(label="Space folder (zip)", interactive=False)
    with gr.Row():
        repo = gr.Textbox(label="Hub repository (user/name)", placeholder="your-name/ticket-classifier", scale=3)
        token = gr.Textbox(label="Hub token (write)", type="password", info="Used for this push only; never stored or logged.",
                           scale=3)
        kind = gr.Radio(PUSH_KINDS, value="adapter", label="What to push", scale=2)
        private = gr.Checkbox(value=True, label="Private repository", scale=1)
    push_btn = gr.Button("Push to the Hub")
    push_msg = gr.Markdown()
    with gr.Accordion("Model card", open=True):
        card = gr.Markdown()

    refresh.click(choices, run, run, api_visibility="private")
    run.change(on_card, run, card, api_name="model_card")
    zip_btn.click(on_zip, run, zip_file, api_name="export_zip", concurrency_id="export", concurrency_limit=2)
    merge_btn.click(on_merge, run, merge_file, api_name="export_merge", concurrency_id="export", concurrency_limit=2)
    space_btn.click(on_space, run, space_file, api_name="export_space", concurrency_id="export", concurrency_limit=2)
    push_btn.click(on_push, [run, repo, token, kind, private], push_msg, api_name="export_push",
                   concurrency_id="export", concurrency_limit=2)
    return {"run": run, "choices": choices}
