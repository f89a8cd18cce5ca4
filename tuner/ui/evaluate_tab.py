"""Evaluate tab: the verdict, headline metrics beside the classical and majority-class baselines, a per-label report
(or the rows the run's task shows instead: sample answers for chat), a confusion matrix."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from ..tasks import report_task
from .charts import confusion_figure
from .common import esc, finished_run_choices, friendly, owned_run, visible_owner
from .i18n import current_lang, say, sentence


def _floor(name: str, lang: str) -> str:
    from ..verdict import floor_name_zh

    return floor_name_zh(name) if lang == "zh" else name


def _headed(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    """A report table with its column titles in the page's language (metric ids stay as they are)."""
    if lang != "zh":
        return df
    return df.rename(columns={c: say(c, lang) if say(c, lang) != c else _floor(c, lang) for c in df.columns
                              if isinstance(c, str)})


HEADLINE = ["accuracy", "macro_f1", "micro_f1", "f1", "precision", "recall", "token_accuracy",
            "eval_loss", "perplexity", "rougeL", "rouge_l", "bleu"]


def report_views(report: dict):
    """(summary, headline table, per-label table, confusion figure) for any task's report; the task adds its own
    sentences (`Task.report_notes`) and picks the second table's rows (`Task.report_rows`)."""
    if not report or "evaluation_error" in report:  # a sentence where the scores would be, not an error box
        return no_report(report), None, None, None
    base = report.get("baseline", {})
    # column -> scores: the classical model's full name is in the summary line, so its column stays narrow
    floors = [(title, f) for title, f in (("classical baseline", report.get("classical")),
                                          (base.get("name", "baseline"), base)) if isinstance(f, dict) and f]
    rows = []
    for k in HEADLINE:
        if isinstance(report.get(k), (int, float)) and not isinstance(report.get(k), bool):
            row = {"metric": k, "finetuned": round(float(report[k]), 4)}
            for title, floor in floors:
                b = floor.get(k)
                row[title] = round(float(b), 4) if isinstance(b, (int, float)) else None
            rows.append(row)
    lang = current_lang()
    headline = _headed(pd.DataFrame(rows), lang)
    task = report_task(report)
    table = task.report_rows(report)
    per = _headed(pd.DataFrame(table).round(3), lang) if table else None  # 3 decimals: the number columns fit a phone
    summary = say("**{n} validation examples** · {steps} steps in {secs} s of training · trainable parameters {trainable} of "
                  "{total} · {precision}.", lang, n=f"{report.get('n_examples', 0):,}", steps=report.get("steps", "?"),
                  secs=f"{report.get('train_seconds', 0):.0f}", trainable=f"{report.get('trainable_params', 0):,}",
                  total=f"{report.get('total_params', 0):,}", precision=report.get("train_precision", ""))
    if base.get("name"):
        summary += say(" Baseline: {name}.", lang, name=_floor(base["name"], lang))
    if (report.get("classical") or {}).get("fit_seconds") is not None:
        summary += say(" The classical baseline ({name}) took {secs} s to fit.", lang,
                       name=_floor(report["classical"]["name"], lang), secs=f"{report['classical']['fit_seconds']:.1f}")
    verdict = report.get("verdict") or {}
    if verdict.get("sentence"):
        from ..verdict import sentence_for

        icon = {"good": "✅", "weak": "⚠️", "bad": "⛔"}.get(verdict.get("level"), "")
        summary = f"### {icon} {esc(sentence_for(verdict, current_lang()))}\n\n" + summary
    notes = task.report_notes(report)
    summary += sentence(_floor(notes.strip(), lang), lang) if lang == "zh" and notes.strip() else notes
    figure = (confusion_figure(report["confusion_matrix"], report.get("confusion_labels", report["labels"]), lang)
              if report.get("confusion_matrix") else None)
    return summary, headline, per, figure


def no_report(report: dict) -> str:
    """The summary of a run without scores: why, and that its adapter is still there."""
    lang = current_lang()
    if report.get("evaluation_error"):
        why = sentence(report["evaluation_error"], lang)
        return "### ⚠️ " + say("This run has no scores: its evaluation failed.", lang) + f"\n\n{esc(why)}"
    return "### " + say("This run has no scores: it ended before its evaluation. Its adapter can still be tried "
                        "(4 · Try it) and exported.", lang)


@friendly
def show(run_id, request: gr.Request = None):
    """The selected run's report views: (summary, headline table, per-label table, confusion figure); the figure's
    box is hidden where the task draws none (multi-label, chat), not left as an empty frame."""
    if not run_id:
        return say("Pick a finished run."), None, None, gr.update(value=None, visible=False)
    summary, headline, per_label, figure = report_views(owned_run(run_id, request).metrics() or {})
    return summary, headline, per_label, gr.update(value=figure, visible=figure is not None)


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
    summary = gr.Markdown()
    # Full width, the first column's share fixed (the others sized to their numbers), a fixed height that scrolls:
    # at 77 labels, and at 390 px, every column (precision, recall, F1, support) shows. Headers while empty, not 1 2 3.
    headline = gr.Dataframe(label="Headline metrics", interactive=False, wrap=True, elem_classes=["tuner-table"],
                            headers=["metric", "finetuned", "classical baseline", "baseline"],
                            column_widths=["28%", "24%", "24%", "24%"])
    per_label = gr.Dataframe(label="Per-label report", interactive=False, wrap=True,
                             headers=["label", "precision", "recall", "f1", "support"], max_height=420,
                             elem_classes=["tuner-table"], column_widths=["26%", "17%", "17%", "17%", "19%"])
    # the figure's own title names it (and says when it shows the most-confused labels only); no label on top
    confusion = gr.Plot(label="Confusion matrix", show_label=False, elem_classes=["tuner-confusion"])
    from . import mistakes  # the error analysis section (tuner.analysis): mistakes, label errors, train again

    mistakes.build(run, current_run)

    refresh.click(choices, run, run, api_visibility="private")
    run.change(show, run, [summary, headline, per_label, confusion], api_name="evaluation")
    return {"run": run, "choices": choices, "show": show, "outputs": [summary, headline, per_label, confusion]}
