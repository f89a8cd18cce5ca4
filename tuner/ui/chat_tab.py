"""Chat tab: talk to a finished chat run (streamed), optionally beside the base model; and the prompt format of the
current upload with the tokens that carry loss highlighted.

Concurrency (issue #23): a Gradio concurrency group runs at its smallest member's limit, so only the streamed answers
(Send, Retry) share concurrency_id="chat", CHAT_LIMIT at once; the chat answers while a training run is polled,
started or stopped through the other tabs. Clear (instant) has no limit; the prompt-format preview (reads the whole
upload, loads a tokenizer) has a group of its own, FORMAT_LIMIT at once, so it never holds an answer.
"""

from __future__ import annotations

import functools

import gradio as gr

from .. import models, runs
from ..config import field_meta
from ..errors import ConfigError, DataError, RunError, TunerError
from ..inference import MAX_NEW_TOKENS, MAX_TEXT_CHARS, get_predictor
from ..tasks import get_task
from ..tasks.chat import format as chat_format
from .common import friendly, friendly_gen, owned_run, run_label, visible_owner
from .i18n import say, sentence

CHAT_LIMIT = 2            # chat answers computed at once (each model also answers one message at a time)
FORMAT_LIMIT = 2          # prompt-format previews at once
PREVIEW_MODEL = "tiny:llama"


def chat_run_choices(owner: str | None = None) -> list[tuple[str, str]]:
    """(label, run id) for finished runs whose task's demo is this tab (`Task.demo == "chat"`) with a saved
    adapter (of `owner` when given)."""
    out = []
    for r in runs.list_runs(owner):
        if r.state not in ("completed", "stopped") or not r.has_adapter():
            continue
        try:
            if get_task(r.meta().get("task", "")).demo != "chat":
                continue
        except (RunError, ConfigError):
            continue
        out.append((run_label(r), r.id))
    return out


def _predictor(run_id):
    if not run_id:
        raise RunError("Pick a finished chat run first.")
    pred = get_predictor(runs.get_run(run_id))
    if not hasattr(pred, "template"):
        raise RunError(f"Run {run_id} is not a chat run; try it in the Try it tab.")
    return pred


def _text(content) -> str:
    from ..inference import _message_text

    return _message_text(content)


def _plain(history) -> list[dict]:
    return [{"role": m["role"], "content": _text(m["content"])} for m in (history or [])
            if isinstance(m, dict) and m.get("role") in ("user", "assistant")]


def stream_pair(run_id, message, history, history_base, system, temperature, top_p, max_new, stop, compare):
    """Stream the finetuned answer, then (side by side) the base model's answer to the same message."""
    message = (message or "").strip()
    if not message:
        raise DataError("Type a message first.")
    pred = _predictor(run_id)
    history, history_base = _plain(history), _plain(history_base)
    opts = {"system_prompt": system, "temperature": temperature, "top_p": top_p, "max_new_tokens": max_new, "stop": stop}
    tuned = history + [{"role": "user", "content": message}, {"role": "assistant", "content": ""}]
    base = history_base + [{"role": "user", "content": message}, {"role": "assistant", "content": ""}] if compare else history_base
    yield "", tuned, base
    for part in pred.chat_stream(history, message, **opts):
        tuned[-1]["content"] = part
        yield "", tuned, base
    if compare:
        for part in pred.chat_stream(history_base, message, base=True, **opts):
            base[-1]["content"] = part
            yield "", tuned, base


@functools.lru_cache(maxsize=4)
def _tokenizer(source: str):
    tok = models.load_tokenizer(source)
    chat_format.ensure_pad_token(tok)
    return tok


def format_preview(state, model_name, template_choice, system_prompt, index):
    """One conversation of the current upload in the chosen prompt format: (highlighted tokens, summary)."""
    if not state or not state.get("train_file"):
        raise DataError("Upload a chat dataset on the Data tab first.")
    task = get_task("chat")
    from ..config import RunConfig

    table = task.read(state["train_file"])
    same_task = state.get("task") == "chat"
    cfg = RunConfig.from_dict({"task": "chat", "data": {
        "text_columns": list(state.get("text_columns") or []) if same_task else [],
        "label_column": (state.get("label_column") or "") if same_task else ""}})
    shape, _, _, convs = task.conversations(table.df, cfg)
    i = max(0, min(int(index or 0), len(convs) - 1))
    conv = chat_format.with_system(convs[i], (system_prompt or "").strip())
    tok = _tokenizer(models.resolve(model_name or PREVIEW_MODEL, models.ui_model_roots()))
    template = chat_format.resolve_template(template_choice, tok)
    tokens = chat_format.highlighted_tokens(conv, template, tok)
    trained = sum(1 for _, lab in tokens if lab)
    summary = say("Conversation {i} of {n} · shape **{shape}** · template **{fmt}** · {tokens} tokens, {trained} of "
                  "them carry loss (highlighted).", i=i + 1, n=f"{len(convs):,}",
                  shape=sentence(chat_format.SHAPE_TITLES[shape]),
                  fmt=template if template != "model" else say("the model’s own"), tokens=f"{len(tokens):,}",
                  trained=f"{trained:,}")
    legend = say("trained (loss)")
    return [(t, legend if lab else None) for t, lab in tokens], summary


TINY_NOTE = ("This is a tiny test model: its answers are gibberish by design; train on a real model for useful "
             "answers.")


def model_note(run_id, request: gr.Request = None) -> str:
    """A plain warning when the chosen run's base model is a tiny test model (tuner.tiny_models), else ''."""
    from .. import tiny_models
    from .i18n import say

    if not run_id:
        return ""
    try:
        base = owned_run(run_id, request).meta().get("base_model")
    except (TunerError, OSError, ValueError):
        return ""
    return f"⚠️ <span class='tuner-warn'>{say(TINY_NOTE)}</span>" if tiny_models.is_tiny(base) else ""


def choices(selected=None, request: gr.Request = None):
    """The Chat run dropdown: this user's finished chat runs, keeping `selected` when it is still one of them."""
    ch = chat_run_choices(visible_owner(request))
    ids = [c[1] for c in ch]
    return gr.Dropdown(choices=ch, value=selected if selected in ids else (ids[0] if ids else None))


@friendly_gen
def on_send(run_id, msg, history, history_base, sys_prompt, temp, tp, mx, stops, cmp, request: gr.Request = None):
    """Send: stream the answer (and the base model's beside it) to the message."""
    owned_run(run_id, request) if run_id else None  # another user's run reads as missing
    yield from stream_pair(run_id, msg, history, history_base, sys_prompt or None, temp, tp, mx, stops, cmp)


@friendly_gen
def on_retry(run_id, history, history_base, sys_prompt, temp, tp, mx, stops, cmp, request: gr.Request = None):
    """Retry: answer the last user message again, dropping the answers it had."""
    owned_run(run_id, request) if run_id else None  # another user's run reads as missing
    history, history_base = _plain(history), _plain(history_base)
    users = [i for i, m in enumerate(history) if m["role"] == "user"]
    if not users:
        raise DataError("Nothing to retry yet; send a message first.")
    last = history[users[-1]]["content"]
    base_users = [i for i, m in enumerate(history_base) if m["role"] == "user"]
    history_base = history_base[:base_users[-1]] if base_users else history_base
    yield from stream_pair(run_id, last, history[:users[-1]], history_base, sys_prompt or None, temp, tp, mx, stops, cmp)


def on_clear():
    """Clear: empty both chats and the message box."""
    return [], [], ""


@friendly
def on_format(state, model_name, template_choice, sys_prompt, index):
    """Show the current upload's example in the chosen prompt format."""
    return format_preview(state, model_name, template_choice, sys_prompt, index)


def build(current_run: gr.BrowserState, upload_state: gr.State | None = None):
    with gr.Row():
        run = gr.Dropdown([], label="Chat run", info="Finished chat runs (completed or stopped) with a saved adapter.",
                          scale=4, allow_custom_value=True)
        refresh = gr.Button("↻ Refresh", scale=1, size="sm")
    note = gr.Markdown("")  # the tiny-test-model warning of the chosen run
    with gr.Row():
        with gr.Column(scale=3):
            with gr.Row():
                chatbot = gr.Chatbot(label="Finetuned", height=420, scale=1)
                chatbot_base = gr.Chatbot(label="Base model (adapter off)", height=420, scale=1, visible=False)
            message = gr.Textbox(label="Message", lines=2, max_length=MAX_TEXT_CHARS,
                                 placeholder="Ask what a customer would ask, e.g. 'How do I cancel my order?'")
            with gr.Row():
                send = gr.Button("Send", variant="primary")
                retry = gr.Button("↻ Retry")
                clear = gr.Button("🗑 Clear")
        with gr.Column(scale=1):
            compare = gr.Checkbox(False, label="Side by side with the base model",
                                  info="The same message is answered with the adapter disabled.")
            system = gr.Textbox(label="System prompt", lines=3, max_length=MAX_TEXT_CHARS,
                                info="Empty = the one the run was trained with.")
            temperature = gr.Slider(0.0, 2.0, value=0.7, step=0.05, label="Temperature", info="0 = always the most likely token.")
            top_p = gr.Slider(0.05, 1.0, value=0.9, step=0.05, label="Top-p", info="Sample from the smallest set of tokens with this total probability.")
            max_new = gr.Slider(1, MAX_NEW_TOKENS, value=128, step=1, label="Max new tokens", info="Longest answer in tokens.")
            stop = gr.Textbox(label="Stop strings", max_length=200, placeholder="comma-separated, e.g. ###, \\n\\n",
                              info="The answer ends where one of these appears (\\n = newline).")
    with gr.Accordion("Prompt format (the current upload, as the model will see it)", open=False):
        with gr.Row():
            fmt_model = gr.Textbox(PREVIEW_MODEL, label="Model (for its tokenizer and chat template)", max_length=200,
                                   info="tiny:llama, tiny:qwen2 and tiny:gpt2 are built offline; Hub ids need a network.")
            fmt_template = gr.Dropdown(list(chat_format.TEMPLATE_CHOICES), value="auto", label="Template",
                                       info=field_meta("chat.template")["help"])
            fmt_system = gr.Textbox(label="System prompt", max_length=MAX_TEXT_CHARS, info=field_meta("chat.system_prompt")["help"])
            fmt_index = gr.Number(0, label="Example (0 = first)", precision=0, minimum=0)
        show_fmt = gr.Button("Show formatted example", size="sm")
        fmt_summary = gr.Markdown()
        fmt_tokens = gr.HighlightedText(label="Tokens (highlighted = trained on)", combine_adjacent=False,
                                        show_legend=True, color_map={"trained (loss)": "#7ee0a1",
                                                                              say("trained (loss)", "zh"): "#7ee0a1"})

    refresh.click(choices, run, run, api_visibility="private")
    run.change(on_clear, None, [chatbot, chatbot_base, message], api_visibility="private")
    run.change(model_note, run, note, api_visibility="private", show_progress="hidden")
    compare.change(lambda c: gr.Chatbot(visible=bool(c)), compare, chatbot_base, api_visibility="private")
    settings = [system, temperature, top_p, max_new, stop, compare]
    gr.on([send.click, message.submit], on_send, [run, message, chatbot, chatbot_base, *settings],
          [message, chatbot, chatbot_base], api_name="chat", concurrency_id="chat", concurrency_limit=CHAT_LIMIT)
    retry.click(on_retry, [run, chatbot, chatbot_base, *settings], [message, chatbot, chatbot_base],
                api_name="chat_retry", concurrency_id="chat", concurrency_limit=CHAT_LIMIT)
    clear.click(on_clear, None, [chatbot, chatbot_base, message], api_name="chat_clear", concurrency_limit=None)
    if upload_state is not None:
        show_fmt.click(on_format, [upload_state, fmt_model, fmt_template, fmt_system, fmt_index],
                       [fmt_tokens, fmt_summary], api_name="prompt_format", concurrency_id="chat-format",
                       concurrency_limit=FORMAT_LIMIT)
    return {"run": run, "choices": choices}
