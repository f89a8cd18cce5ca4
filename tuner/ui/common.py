"""Helpers shared by the tabs: friendly errors, run choices, small HTML pieces."""

from __future__ import annotations

import functools
import html
import logging

import gradio as gr

from ..errors import TunerError, user_message

log = logging.getLogger("tuner.ui")


def _as_page_error(exc: Exception, name: str) -> gr.Error:
    """A TunerError keeps its sentence; anything else gets a generic one (the traceback goes to the log)."""
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, TunerError):
        return gr.Error(str(exc), print_exception=False)
    log.exception("handler %s failed", name)
    return gr.Error(user_message(exc), print_exception=False)


def friendly(fn):
    """Run a handler so every failure is one sentence on the page and the app keeps running."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise _as_page_error(exc, fn.__name__) from None

    return wrapper


def friendly_gen(fn):
    """`friendly` for generator handlers (streaming)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            yield from fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise _as_page_error(exc, fn.__name__) from None

    return wrapper


def esc(text) -> str:
    return html.escape(str(text), quote=True)


def run_label(run) -> str:
    st = run.status()
    name = st.get("name") or ""
    m = run.metrics() or {}
    score = f" · acc {m['accuracy']:.3f}" if isinstance(m.get("accuracy"), float) else ""
    return f"{name + ' · ' if name else ''}{run.id} · {st.get('state', '')}{score}"


def finished_run_choices(owner: str | None = None) -> list[tuple[str, str]]:
    """(label, run id) for runs whose adapter can be used: completed or stopped, not failed."""
    from ..runs import list_runs

    return [(run_label(r), r.id) for r in list_runs(owner) if r.state in ("completed", "stopped") and r.has_adapter()]


def all_run_choices(owner: str | None = None) -> list[tuple[str, str]]:
    from ..runs import list_runs

    return [(run_label(r), r.id) for r in list_runs(owner)]


def fmt_duration(seconds) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def progress_html(prog: dict) -> str:
    state = prog.get("state", "")
    total, step = prog.get("total_steps") or 0, prog.get("step") or 0
    pct = 100.0 if state in ("completed",) else (100.0 * step / total if total else 0.0)
    colour = {"failed": "#d9534f", "interrupted": "#f0ad4e", "stopped": "#f0ad4e"}.get(state, "#4f7cff")
    eta = fmt_duration(prog.get("eta")) if state == "running" and prog.get("eta") is not None else "–"
    return (
        f'<div class="tuner-progress"><div class="tuner-bar" style="width:{pct:.1f}%;background:{colour}"></div></div>'
        f'<div class="tuner-progress-text"><b>{esc(state or "idle")}</b> · step {step}/{total or "?"} · '
        f'elapsed {fmt_duration(prog.get("elapsed"))} · ETA {eta}</div>'
        f'<div class="tuner-progress-msg">{esc(prog.get("message", ""))}</div>'
    )


CSS = """
.tuner-progress {height: 14px; background: #e8ecf5; border-radius: 7px; overflow: hidden;}
.tuner-bar {height: 100%; transition: width .6s;}
.tuner-progress-text {margin-top: 6px; font-size: 0.95em;}
.tuner-progress-msg {color: #666; font-size: 0.9em;}
.tuner-error {color: #b3261e; font-weight: 600;}
.tuner-warn {color: #8a5a00;}
footer {display: none !important;}
"""
