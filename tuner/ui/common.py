"""Helpers shared by the tabs: friendly errors, run choices, small HTML pieces."""

from __future__ import annotations

import functools
import html
import logging

import gradio as gr

from .. import progress as progress_words
from ..errors import TunerError, user_message
from ..progress import fmt_duration
from ..tasks.registry import report_task
from ..verdict import metric_name

log = logging.getLogger("tuner.ui")


# An error toast stays this long (Gradio's own: 10 s), and switching tabs closes it (tuner/ui/__init__.py), so a
# toast from one tab does not sit over the next.
TOAST_SECONDS = 6


def _as_page_error(exc: Exception, name: str) -> gr.Error:
    """A TunerError keeps its sentence; anything else gets a generic one (the traceback goes to the log)."""
    from .i18n import current_lang, error_text, say, translate_error  # the sentence in this browser session's language

    lang = current_lang()
    if isinstance(exc, gr.Error):
        if lang == "zh" and exc.title == "Error":
            exc.title = say("Error", lang)
        return exc
    if isinstance(exc, TunerError):
        return gr.Error(error_text(exc, lang), duration=TOAST_SECONDS, print_exception=False,
                        title=say("Error", lang))
    log.exception("handler %s failed", name)
    return gr.Error(translate_error(user_message(exc), lang), duration=TOAST_SECONDS, print_exception=False,
                    title=say("Error", lang))


def toast(kind: str, template: str, **parts) -> None:
    """A toast ('info' or 'warning') whose title and sentence are in this browser session's language: the sentence
    is an English template of i18n.SAY_ZH (or a core sentence i18n.sentence knows), filled with `parts`."""
    from .i18n import say, sentence

    text = say(template, **parts) if parts else sentence(say(template))
    if kind == "warning":
        gr.Warning(text, title=say("Warning"), duration=TOAST_SECONDS)
    else:
        gr.Info(text, title=say("Info"), duration=TOAST_SECONDS)


def friendly(fn):
    """Run a handler so every failure is one sentence on the page and the app keeps running."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise _as_page_error(exc, fn.__name__) from None

    return wrapper


def friendly_gen(fn):
    """`friendly` for generator handlers (streaming)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            yield from fn(*args, **kwargs)
        except Exception as exc:
            raise _as_page_error(exc, fn.__name__) from None

    return wrapper


def user_of(request) -> str | None:
    """Who is asking, from a `gr.Request`: the logged-in user (TUNER_AUTH), the Hugging Face account (OAuth), this
    browser's id (private-by-default mode), or None (login off, or no request). tuner.ui.access resolves it the same
    way for the file downloads it guards."""
    from .access import request_identity

    return request_identity(request)


def check_state_owner(state, request) -> None:
    """Refuse a per-session value (an upload's `gr.State`) that was made for someone else: a reused session id must not
    hand one person's data to another. States carry `owner` from when they were made."""
    from ..errors import DataError

    if isinstance(state, dict) and "owner" in state and state["owner"] != user_of(request):
        raise DataError("This upload belongs to another session; upload the file again.")


def display_name(text) -> str:
    """A run name (or other one-line label) for the page: no ANSI escapes, newlines or other control characters."""
    from ..safe_text import clean_name

    return clean_name(text)


def visible_owner(request) -> str | None:
    """The owner filter for run lists: None = every run (login off, one local user), else the user's own runs."""
    from .. import auth

    return auth.visible_owner(user_of(request))


def owned_run(run_id, request):
    """The run `run_id` if this request's user may use it (the one server-side ownership check every handler
    that takes a run id goes through); another user's run reads as missing."""
    from .. import auth, runs
    from ..errors import RunError

    if not run_id:
        raise RunError("Pick a run from the list first.")
    shown = demo_run_ids()
    if shown and run_id not in shown:  # demo-only mode: other runs read as missing
        raise RunError(f"Run {run_id} does not exist; pick a run from the list.")
    return auth.check_owner(runs.get_run(run_id), user_of(request))


def esc(text) -> str:
    """Text made inert inside HTML/Markdown element content: <, > and & escaped. Quotes stay as they are, so a
    sentence reads the same on the page and through the API (no &#x27;); never use this inside an attribute."""
    return html.escape(str(text), quote=False)


def run_label(run) -> str:
    """'name · id · state · entity F1 0.380' for the run pickers: the task's headline metric (what the verdict
    judges the run by: entity F1 for tagging, not its token accuracy), whatever number type the report holds."""
    st = run.status()
    name = display_name(st.get("name") or "")
    m = run.metrics() or {}
    key = report_task(m).headline_metric
    value = m.get(key)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    score = f" · {metric_name(key)} {float(value):.3f}" if ok else ""
    return f"{name + ' · ' if name else ''}{run.id} · {st.get('state', '')}{score}"


def demo_run_ids() -> list[str]:
    """TUNER_DEMO_RUNS=<id>,<id>: demo-only mode (no data, training, runs or export tabs; only these runs)."""
    from .. import environment

    return [r.strip() for r in environment.get("TUNER_DEMO_RUNS").split(",") if r.strip()]


def finished_run_choices(owner: str | None = None) -> list[tuple[str, str]]:
    """(label, run id) for runs whose adapter can be used: completed or stopped, not failed (in demo-only mode,
    only the chosen runs)."""
    from ..runs import list_runs

    shown = demo_run_ids()
    return [(run_label(r), r.id) for r in list_runs(owner) if r.state in ("completed", "stopped") and r.has_adapter()
            and (not shown or r.id in shown)]


def all_run_choices(owner: str | None = None) -> list[tuple[str, str]]:
    from ..runs import list_runs

    return [(run_label(r), r.id) for r in list_runs(owner)]


def progress_html(prog: dict) -> str:
    """The Train tab's status line, worded in `prog["lang"]`: the state (bold), step of total, the run's clock,
    the ETA (counted down between steps), tokens/s and MFU (never above 100%), then what the run is doing now or
    how it ended. Times come from `Run.progress`, computed when the page asks."""
    from .i18n import say, sentence

    lang = prog.get("lang") or "en"
    state = prog.get("state") or "idle"
    total, step = prog.get("total_steps") or 0, prog.get("step") or 0
    pct = 100.0 if state == "completed" else (100.0 * step / total if total else 0.0)
    pct = min(100.0, max(0.0, pct))
    colour = {"failed": "#d9534f", "interrupted": "#f0ad4e", "stopped": "#f0ad4e"}.get(state, "#4f7cff")
    shown = "stopping" if prog.get("stopping") and state in ("running", "queued") else state
    word = say(progress_words.STATES.get(shown, shown), lang)
    verdict = prog.get("verdict") or ""
    badge = ""
    if state == "completed" and verdict in VERDICT_LABELS:
        words, colour = VERDICT_LABELS[verdict]
        words = VERDICT_LABELS_ZH[verdict] if lang == "zh" else words
        badge = f' · <b class="tuner-verdict" style="color:{colour}">{esc(words)}</b>'
    parts = []
    trained = total and (step or prog.get("phase") in ("training", "evaluating") or state not in ("queued", "running"))
    if trained:
        parts.append(say("step {step}/{total}", lang, step=step, total=total))
    if prog.get("elapsed") is not None and state not in ("idle", "checking", "created"):
        parts.append(say("elapsed {time}", lang, time=fmt_duration(prog["elapsed"])))
    if state == "running" and prog.get("eta") is not None and not prog.get("stopping"):
        parts.append(say("ETA {time}", lang, time=fmt_duration(prog["eta"])))
    speed = prog.get("speed") or {} if state == "running" else {}
    if speed.get("tokens_per_s"):
        parts.append(say("{n} tokens/s", lang, n=f'{speed["tokens_per_s"]:,.0f}'))
    mfu = speed.get("mfu")
    if isinstance(mfu, (int, float)) and 0 < mfu <= 1:  # above 100% the probe missed the peak: not shown
        parts.append(say("MFU {pct}", lang, pct=f"{mfu:.0%}"))
    template, fill_parts = progress_words.message(prog)
    if template:
        message = say(template, lang, **fill_parts) if fill_parts else say(template, lang)
        extra = [prog.get("evaluation_error"), prog.get("verdict_sentence")] if state in ("completed", "stopped") else []
        message = " ".join([message] + [sentence(x, lang) for x in extra if x])
    else:
        message = sentence(prog.get("message", ""), lang)
    line = "".join(" · " + esc(p) for p in parts)
    warnings = "".join(f'<div class="tuner-warn">⚠️ {esc(warning_text(w, lang))}</div>'
                       for w in prog.get("warnings") or [] if state in ("queued", "running"))
    return (
        f'<div class="tuner-progress"><div class="tuner-bar" style="width:{pct:.1f}%;background:{colour}"></div></div>'
        f'<div class="tuner-progress-text"><b>{esc(word)}</b>{badge}{line}</div>'
        f'<div class="tuner-progress-msg">{esc(message)}</div>{warnings}'
    )


def warning_text(warning, lang: str) -> str:
    """A run's warning event (or sentence) in `lang`: its own Chinese when it carries one."""
    from .i18n import sentence

    if isinstance(warning, dict):
        return warning.get("message_zh") if lang == "zh" and warning.get("message_zh") else sentence(warning.get("message", ""), lang)
    return sentence(str(warning), lang)


# verdict level (tuner.verdict) -> what a finished run's status line says, and the bar's colour
VERDICT_LABELS = {"good": ("worth using", "#2e7d32"), "weak": ("no better than a simple model", "#f0ad4e"),
                  "bad": ("not usable", "#d9534f")}
VERDICT_LABELS_ZH = {"good": "值得使用", "weak": "不比简单模型好", "bad": "不可用"}


CSS = """
.tuner-progress {height: 14px; background: #e8ecf5; border-radius: 7px; overflow: hidden;}
.tuner-bar {height: 100%; transition: width .6s;}
.tuner-progress-text {margin-top: 6px; font-size: 0.95em;}
.tuner-progress-msg {color: #666; font-size: 0.9em;}
.tuner-error {color: #b3261e; font-weight: 600;}
.tuner-warn {color: #8a5a00;}
.tuner-hint {font-size: 0.9em; opacity: 0.8;}
footer {display: none !important;}
/* charts (tuner/ui/charts.py): horizontal bars, one row each, from zero */
.tuner-hbars {display: flex; flex-direction: column; gap: 3px; font-size: 0.9em; margin: 4px 0;}
.tuner-hbars-title {font-weight: 600; margin-bottom: 4px;}
.tuner-hbar {display: grid; grid-template-columns: minmax(5em, 14em) minmax(3em, 1fr) auto; gap: 8px;
             align-items: center; min-height: 20px;}
.tuner-hbar-name {overflow: hidden; text-overflow: ellipsis; white-space: nowrap; text-align: right;}
.tuner-hbar-track {height: 14px; background: #eef1f8; border-radius: 3px; overflow: hidden;}
.tuner-hbar-fill {display: block; height: 100%; background: #4f7cff; border-radius: 3px;}
.tuner-hbar-others .tuner-hbar-name {font-style: italic;}
.tuner-hbar-others .tuner-hbar-fill {background: #9aa7c7;}
.tuner-hbar-cut .tuner-hbar-fill {background: repeating-linear-gradient(135deg, #9aa7c7 0 8px, #c3cbe0 8px 12px);}
.tuner-hbar-value {font-variant-numeric: tabular-nums; white-space: nowrap; min-width: 3.5em; text-align: right;}
/* tables in Markdown (the length table): numbers never break across lines; a wide table scrolls */
.prose table {display: block; overflow-x: auto; width: max-content; max-width: 100%;}
.prose td, .prose th {white-space: nowrap;}
.prose td:first-child {white-space: normal; word-break: normal; overflow-wrap: normal;}
/* a component's label tag stops short of its top-right buttons (clear, copy, fullscreen) instead of running under */
label[data-testid="block-label"] {max-width: calc(100% - 48px);}
/* the confusion figure keeps a readable size and scrolls sideways on a narrow screen */
.tuner-confusion .matplotlib {overflow-x: auto !important; display: block !important; text-align: center;}
.tuner-confusion .matplotlib img {min-width: 560px; height: auto; display: block; margin: 0 auto;}
/* phone width (issue #25): a short header, bars and tables that fit 390 px */
@media (max-width: 640px) {
  .gradio-container {padding-left: 6px !important; padding-right: 6px !important;}
  .tuner-header-row {flex-wrap: wrap !important; gap: 2px !important;}
  .tuner-header-row > .tuner-header, .tuner-header-row > .form:has(.tuner-lang) {min-width: 100% !important;
    flex-basis: 100% !important;}
  .tuner-header h2 {font-size: 1.15rem !important; margin: 0 !important;}
  .tuner-header p {font-size: 0.8rem !important; line-height: 1.3 !important; margin: 2px 0 0 0 !important;}
  fieldset.tuner-lang {min-width: 100% !important; flex-grow: 1 !important; padding: 4px 8px !important;}
  .tuner-lang [data-testid="block-info"] {display: none;}  /* "English · 中文" says what it is */
  .tuner-lang .wrap {flex-wrap: nowrap !important; gap: 6px !important;}
  .tuner-lang label {white-space: nowrap;}
  .prose table td, .prose table th {padding: 4px 6px !important; font-size: 0.85rem;}
  .tuner-hbar {grid-template-columns: minmax(4em, 38%) minmax(2em, 1fr) auto; gap: 5px;}
  .tuner-table .cell-wrap, .tuner-table .header {font-size: 12px !important;}
  .tuner-table th, .tuner-table td {padding-left: 3px !important; padding-right: 3px !important;}
  .tuner-table .header {word-break: normal !important; overflow-wrap: anywhere;}
  .tuner-progress-text {font-size: 0.85em;}
}
"""
