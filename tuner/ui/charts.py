"""Chart builders for the tabs: label and run bars, training curves, the confusion view (issue #25: plots that scale).

The data of each chart is a plain function (tested in tests/test_charts.py); the tabs only hand it to a component.
Bars are HTML (sorted, from zero, one row per bar, so 100 labels never overprint and a phone shows them whole);
curves are Gradio line plots with integer step axes and a y-range with a margin; the confusion view keeps the
most-confused labels when there are many. Titles and axis names go through `i18n.say`."""

from __future__ import annotations

import math

import pandas as pd

from .common import esc
from .i18n import say

TOP_LABELS = 20        # bars of a label chart before the rest are summed into one "others" bar
CONFUSION_LABELS = 12  # labels of the confusion view before it keeps only the most-confused ones
MIN_STEP_SPAN = 10     # the step axis spans at least this many steps: Vega then picks whole-number ticks on a
                       # plot up to ~560 px wide (the page's half width; Vega asks for a tick every 40 px)
Y_MARGIN = 0.1         # share of the value range added above and below a curve


# ---- bars ------------------------------------------------------------------------------------------------
def label_bars(counts, top: int = TOP_LABELS, lang: str | None = None) -> pd.DataFrame:
    """Rows per label, largest first: the `top` largest labels, then one "others (k labels)" bar with the rest's
    rows. `counts`: {label: rows} or a DataFrame with columns label, rows. Columns: label, rows, others."""
    if isinstance(counts, pd.DataFrame):
        pairs = list(zip(counts["label"], counts["rows"])) if len(counts) else []
    else:
        pairs = list((counts or {}).items())
    pairs = sorted(((str(k), int(v)) for k, v in pairs), key=lambda kv: (-kv[1], kv[0]))
    rows = [{"label": k, "rows": v, "others": False} for k, v in pairs[:top]]
    rest = pairs[top:]
    if len(rest) == 1:  # one label left over: show it rather than an "others (1 label)" bar
        rows.append({"label": rest[0][0], "rows": rest[0][1], "others": False})
    elif rest:
        rows.append({"label": say("others ({k} labels)", lang, k=len(rest)), "rows": sum(v for _, v in rest),
                     "others": True})
    return pd.DataFrame(rows, columns=["label", "rows", "others"])


def bars_html(rows: list[dict], title: str, value_fmt=None) -> str:
    """Horizontal bars as HTML: one row per {"label", "value", "others"?}, each bar's length value / the largest
    value (bars start at zero; a negative value draws an empty bar). The "others" bar, a sum of many labels, is
    not the scale: longer than the largest label's bar, it is drawn full and marked as cut (its number says how
    long). The page's CSS (`common.CSS`) lays them out."""
    fmt = value_fmt or (lambda v: f"{v:,}" if isinstance(v, int) else f"{v:.4g}")
    scaled = [r for r in rows if r["value"] is not None and not r.get("others")] or rows
    peak = max((float(r["value"]) for r in scaled if r["value"] is not None), default=0.0)
    lines = [f'<div class="tuner-hbars" role="figure" aria-label="{esc(title)}">',
             f'<div class="tuner-hbars-title">{esc(title)}</div>']
    for r in rows:
        value = r["value"]
        width = 100.0 * max(float(value), 0.0) / peak if value is not None and peak > 0 else 0.0
        shown = "–" if value is None else fmt(value)
        kind = (" tuner-hbar-others" if r.get("others") else "") + (" tuner-hbar-cut" if width > 100.0 else "")
        width = min(width, 100.0)
        lines.append(
            f'<div class="tuner-hbar{kind}" data-label="{esc(r["label"])}" data-value="{esc(value)}">'
            f'<span class="tuner-hbar-name" title="{esc(r["label"])}">{esc(r["label"])}</span>'
            f'<span class="tuner-hbar-track"><span class="tuner-hbar-fill" style="width:{width:.1f}%"></span></span>'
            f'<span class="tuner-hbar-value">{esc(shown)}</span></div>')
    lines.append("</div>")
    return "".join(lines)


def label_chart(counts, lang: str | None = None, top: int = TOP_LABELS) -> str:
    """The Data tab's rows-per-label chart (entity types for tagging); '' when there is nothing to show."""
    bars = label_bars(counts, top, lang)
    if bars.empty:
        return ""
    total = int(len(counts)) if isinstance(counts, pd.DataFrame) else len(counts or {})
    title = (say("Rows per label", lang) if total <= top + 1
             else say("Rows per label: the {top} largest of {n} labels", lang, top=top, n=total))
    rows = [{"label": r.label, "value": int(r.rows), "others": bool(r.others)} for r in bars.itertuples()]
    return bars_html(rows, title)


def runs_chart(chart: pd.DataFrame, metric: str, lang: str | None = None) -> str:
    """The Runs tab's metric-per-run bars (from zero, in the order the runs were picked)."""
    if chart is None or chart.empty:
        return ""
    rows = [{"label": str(run), "value": None if pd.isna(v) else float(v)} for run, v in zip(chart["run"], chart[metric])]
    return bars_html(rows, say("{metric} per run", lang, metric=metric))


# ---- curves ----------------------------------------------------------------------------------------------
def y_range(values, margin: float = Y_MARGIN, floor: float | None = None) -> list[float] | None:
    """[low, high] holding every value with `margin` of the range (or of the value, for a flat line) on each
    side, so a line on the edge stays visible; not below `floor` (e.g. 0 for a loss). None when empty."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return None
    lo, hi = min(vals), max(vals)
    pad = (hi - lo) * margin or max(abs(hi) * margin, 0.01)
    low = lo - pad
    if floor is not None and lo >= floor:
        low = max(low, floor)
    return [round(low, 6), round(hi + pad, 6)]


def step_range(steps, total: int | None = None) -> list[int]:
    """[0, end] of a step axis: the run's planned steps when known (the line grows towards its end), at least
    MIN_STEP_SPAN so the ticks are whole steps, and a step or 2% more so the last point is not cut by the edge."""
    last = max([int(s) for s in steps] or [0])
    span = max(last, int(total or 0), MIN_STEP_SPAN)
    return [0, span + max(1, round(span * 0.02))]


def loss_frame(prog: dict, lang: str | None = None) -> pd.DataFrame | None:
    """Training loss per step (integer steps)."""
    points = [e for e in prog.get("train") or [] if isinstance(e.get("loss"), (int, float))]
    if not points:
        return None
    return pd.DataFrame({"step": [int(e["step"]) for e in points], "loss": [float(e["loss"]) for e in points]})


EVAL_KEYS = ("accuracy", "f1", "macro_f1", "micro_f1")


def eval_frame(prog: dict, lang: str | None = None) -> pd.DataFrame | None:
    """Validation metrics per step, one row per (step, metric); chat runs: the validation loss."""
    events = prog.get("eval") or []
    keys = [k for k in EVAL_KEYS if any(isinstance(e.get(k), (int, float)) for e in events)] or ["loss"]
    rows = [{"step": int(e["step"]), "metric": say("validation loss", lang) if k == "loss" else k, "value": float(e[k])}
            for e in events for k in keys if isinstance(e.get(k), (int, float)) and e.get("step") is not None]
    return pd.DataFrame(rows, columns=["step", "metric", "value"]) if rows else None


def curve_plot(frame: pd.DataFrame | None, y: str, total: int | None, title: str, y_title: str, lang=None,
               floor: float | None = None) -> dict:
    """gr.LinePlot settings for a curve: integer step axis from 0, y-range with a margin, translated titles."""
    import gradio as gr

    steps = [] if frame is None else frame["step"]
    values = [] if frame is None else frame[y]
    return gr.update(value=frame, x_lim=step_range(steps, total), y_lim=y_range(values, floor=floor),
                     x_axis_format="d", title=title, x_title=say("step", lang), y_title=y_title)


def curves(prog: dict, lang: str | None = None) -> tuple[dict, dict]:
    """(training loss plot, validation metrics plot) updates for a run's progress."""
    total = prog.get("total_steps")
    loss = curve_plot(loss_frame(prog, lang), "loss", total, say("Training loss", lang), say("loss", lang), lang, floor=0)
    ev = eval_frame(prog, lang)
    bounded = ev is not None and set(ev["metric"]) <= set(EVAL_KEYS)
    metric = curve_plot(ev, "value", total, say("Validation metrics", lang), say("value", lang), lang, floor=0)
    if bounded and metric.get("y_lim"):  # scores live in [0, 1]: the margin may not push the axis past 1
        lo, hi = metric["y_lim"]
        metric["y_lim"] = [max(lo, 0.0), min(hi, 1.05)]
    return loss, metric


# ---- confusion -------------------------------------------------------------------------------------------
def most_confused(matrix, labels, top: int = CONFUSION_LABELS) -> tuple[list[list[int]], list[str], bool]:
    """(matrix, labels, subset?) of the confusion view: every label when there are at most `top`, else the `top`
    labels with the most off-diagonal errors (as the true label plus as the prediction), in their original order."""
    n = len(labels)
    if n <= top:
        return [list(map(int, r)) for r in matrix], [str(x) for x in labels], False
    errors = [sum(matrix[i]) + sum(row[i] for row in matrix) - 2 * matrix[i][i] for i in range(n)]
    keep = sorted(sorted(range(n), key=lambda i: (-errors[i], i))[:top])
    return [[int(matrix[i][j]) for j in keep] for i in keep], [str(labels[i]) for i in keep], True


def confusion_figure(matrix, labels, lang: str | None = None, top: int = CONFUSION_LABELS):
    """The confusion view as a matplotlib figure (at most `top` labels, the title says when it is a subset)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    total = len(labels)
    matrix, labels, subset = most_confused(matrix, labels, top)
    n = len(labels)
    size = min(3.0 + 0.55 * n, 9.5)
    fig, ax = plt.subplots(figsize=(size, size * 0.85), dpi=100)
    _draw_confusion(ax, matrix, labels, subset, total, lang)
    fig.tight_layout()
    plt.close(fig)
    return fig


def _fonts() -> list[str]:
    """DejaVu Sans, then the CJK fonts installed here (matplotlib falls back glyph by glyph)."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    wanted = ["Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Source Han Sans SC",
              "Microsoft YaHei", "SimHei", "PingFang SC"]
    return ["DejaVu Sans"] + [f for f in wanted if f in installed]


def _draw_confusion(ax, matrix, labels, subset: bool, total: int, lang) -> None:
    n, font = len(labels), {"fontfamily": _fonts()}  # Chinese titles and labels need a CJK font
    ax.imshow(matrix, cmap="Blues")
    short = [x if len(x) <= 22 else x[:21] + "…" for x in labels]
    ax.set_xticks(range(n), short, rotation=45, ha="right", fontsize=9, **font)
    ax.set_yticks(range(n), short, fontsize=9, **font)
    ax.set_xlabel(say("predicted", lang), **font)
    ax.set_ylabel(say("true", lang), **font)
    peak = max((max(r) for r in matrix), default=0) or 1
    for i in range(n):
        for j in range(n):
            if matrix[i][j]:
                ax.text(j, i, matrix[i][j], ha="center", va="center", fontsize=8,
                        color="white" if matrix[i][j] > peak / 2 else "black")
    title = (say("The {n} most-confused of {total} labels (validation)", lang, n=n, total=total) if subset
             else say("Confusion matrix (validation)", lang))
    ax.set_title(title, fontsize=11, **font)
