"""Evaluate tab, "Mistakes and label errors": the validation rows the model gets wrong (most confident first,
filterable by label), the most confused label pairs, suspected label errors in the training rows with suggested
labels, the person's decisions on them, and "Train again with these corrections" (tuner.analysis)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import pandas as pd

from ..analysis import corrections, label_issues, mistakes
from .common import friendly, owned_run, user_of
from .i18n import say

SHOWN = 200  # rows of each table on the page (the CLI and the CSV have them all)
ANY = ""
ACTIONS = [("Accept the suggestion", "relabel"), ("Drop the row", "drop"), ("Keep as it is", "keep")]


def _table(rows: list[dict], columns: dict[str, str]) -> pd.DataFrame:
    """`rows` as a table with headers in the page's language; file rows counted from 1 as a spreadsheet does."""
    out = pd.DataFrame([{k: (r[k] + 1 if k == "row" else r[k]) for k in columns} for r in rows[:SHOWN]],
                       columns=list(columns))
    return out.rename(columns={k: say(v) for k, v in columns.items()})


# the text last: a long text column would push the labels out of sight (seen on the page)
MISTAKE_COLUMNS = {"row": "row", "true": "true label", "predicted": "predicted", "confidence": "confidence", "text": "text"}
PAIR_COLUMNS = {"true": "true label", "predicted": "predicted", "rows": "rows"}
ISSUE_COLUMNS = {"row": "row", "given": "given label", "suggested": "suggested label", "quality": "label quality",
                 "decision": "decision", "text": "text"}


def mistakes_view(run, true_label=ANY, predicted=ANY):
    """(summary, mistakes table, confused pairs, true-label filter, predicted filter) for a run."""
    found = mistakes.find(run)
    rows = mistakes.filtered(found["rows"], true_label or None, predicted or None)
    summary = say("**{wrong} of {total} validation rows are wrong**; the most confident mistakes first.",
                  wrong=f"{found['n_wrong']:,}", total=f"{found['n_validation']:,}")
    if true_label or predicted:
        summary += " " + say("{n} rows match the filter.", n=f"{len(rows):,}")
    choices = [(say("any"), ANY), *[(n, n) for n in found["labels"]]]
    return (summary, _table(rows, MISTAKE_COLUMNS), _table(found["pairs"], PAIR_COLUMNS),
            gr.Dropdown(choices=choices, value=true_label or ANY), gr.Dropdown(choices=choices, value=predicted or ANY))


def issues_view(run, found: dict | None = None):
    """(summary, suspected label errors with the decisions so far, corrections CSV)."""
    found = found or label_issues.find(run)
    saved = corrections.load(run)
    words = {"relabel": "relabel → {new}", "drop": "drop", "keep": "keep"}
    rows = []
    for r in found["rows"]:
        d = saved.get(str(r["row"]))
        rows.append({**r, "decision": say(words[d["action"]], new=d["new"]) if d else ""})
    n = corrections.counts(saved)
    summary = say("**{flagged} of {total} training rows look mislabelled** (evidence: {evidence}, {secs} s). "
                  "Decided so far: {relabelled} relabelled, {dropped} dropped, {kept} kept.",
                  flagged=f"{found['flagged']:,}", total=f"{found['rows_checked']:,}", evidence=found["evidence"],
                  secs=f"{found['seconds']:.0f}", relabelled=n["relabelled"], dropped=n["dropped"], kept=n["kept"])
    return summary, _table(rows, ISSUE_COLUMNS), _download(run, saved)


def _download(run, saved: dict):
    if not saved:
        return gr.File(value=None, visible=False)
    out = Path(tempfile.mkdtemp(prefix="tuner-corrections-")) / f"corrections-{run.id}.csv"
    return gr.File(value=str(corrections.write_csv(saved, out)), visible=True)


def work_line(run) -> str:
    """The run's data work (flagged / corrected rows) as a sentence in the page's language."""
    work = corrections.data_work(run)
    if not work:
        return ""
    if work.get("from_run"):
        return say("Trained on corrected data: {flagged} of {total} training rows were flagged as suspected label "
                   "errors in run {run}; {relabelled} were relabelled and {dropped} dropped.",
                   flagged=f"{work['flagged']:,}", total=f"{work.get('rows_checked', 0):,}", run=work["from_run"],
                   relabelled=work["relabelled"], dropped=work["dropped"])
    return say("{flagged} of {total} training rows were flagged as suspected label errors; {relabelled} relabelled "
               "and {dropped} dropped so far.", flagged=f"{work['flagged']:,}", total=f"{work.get('rows_checked', 0):,}",
               relabelled=work["relabelled"], dropped=work["dropped"])


@friendly
def on_work(run_id, request: gr.Request = None):
    """The picked run's data work line (empty when its labels were never checked)."""
    return work_line(owned_run(run_id, request)) if run_id else ""


@friendly
def on_mistakes(run_id, true_label=ANY, predicted=ANY, request: gr.Request = None):
    """Mistakes: (summary, mistakes table, confused pairs, true-label filter, predicted filter)."""
    if not run_id:
        return say("Pick a finished run."), None, None, gr.Dropdown(), gr.Dropdown()
    return mistakes_view(owned_run(run_id, request), true_label, predicted)


@friendly
def on_find(run_id, evidence="classical", request: gr.Request = None):
    """Find suspected label errors: (summary, table, corrections CSV)."""
    run = owned_run(run_id, request)
    return issues_view(run, label_issues.find(run, evidence=evidence or label_issues.DEFAULT_EVIDENCE))


@friendly
def on_decide(run_id, row, action, new_label="", request: gr.Request = None):
    """One row's decision (row as the table shows it, from 1): (summary, table, corrections CSV)."""
    run = owned_run(run_id, request)
    corrections.decide(run, [{"row": int(row) - 1, "action": action or "relabel", "new": new_label or None}])
    return issues_view(run)


@friendly
def on_all(run_id, action, request: gr.Request = None):
    """The same decision for every flagged row: (summary, table, corrections CSV)."""
    run = owned_run(run_id, request)
    found = label_issues.find(run)
    if action == "relabel":
        corrections.accept_all(run)
    elif action == "clear":
        corrections.clear(run)
    else:
        corrections.decide(run, [{"row": r["row"], "action": action} for r in found["rows"]])
    return issues_view(run)


@friendly
def on_train_again(run_id, request: gr.Request = None):
    """Train again with these corrections: (current run = the new run, message naming the two runs to compare)."""
    from .. import auth, models

    run = owned_run(run_id, request)
    started = corrections.train_again(run, owner=auth.owner_for(user_of(request)), model_roots=models.ui_model_roots())
    for warning in started.warnings:
        gr.Warning(warning)
    gr.Info(say(started.message))
    return started.run.id, say("Started run {new} on the corrected data. When it finishes, compare it with run {old} "
                               "on the Runs tab.", new=started.run.id, old=run.id)


def build(run: gr.Dropdown, current_run: gr.BrowserState) -> None:
    """The section, under the tab's report; `run` is the tab's Run dropdown."""
    work = gr.Markdown()  # the run's data work, visible with the report
    with gr.Accordion("Mistakes and label errors", open=False):
        summary = gr.Markdown()
        with gr.Row():
            true_pick = gr.Dropdown([], label="True label", allow_custom_value=True, scale=1)
            pred_pick = gr.Dropdown([], label="Predicted label", allow_custom_value=True, scale=1)
            show_btn = gr.Button("Show mistakes", scale=1)
        with gr.Row():
            wrong = gr.Dataframe(label="Validation rows the model gets wrong (most confident first)", interactive=False,
                                 wrap=True, scale=3, headers=list(MISTAKE_COLUMNS.values()))  # not 1 2 3 while empty
            pairs = gr.Dataframe(label="Most confused label pairs", interactive=False, scale=2,
                                 headers=list(PAIR_COLUMNS.values()))
        gr.Markdown("#### Suspected label errors in the training data")
        with gr.Row():
            evidence = gr.Radio([("classical model only", "classical"), ("classical + finetuned model", "both"),
                                 ("finetuned model only", "model")], value=label_issues.DEFAULT_EVIDENCE,
                                label="Evidence", scale=3)
            find_btn = gr.Button("Find suspected label errors", variant="primary", scale=1)
        issues_md = gr.Markdown()
        issues = gr.Dataframe(label="Suspected label errors (lowest label quality first)", interactive=False, wrap=True,
                              headers=list(ISSUE_COLUMNS.values()))
        with gr.Row():
            row = gr.Number(label="Row", precision=0, minimum=1, scale=1)
            action = gr.Radio(ACTIONS, value="relabel", label="Decision", scale=2)
            new_label = gr.Textbox(label="New label (empty = the suggestion)", scale=2)
            apply_btn = gr.Button("Apply to row", scale=1)
        with gr.Row():
            accept_all = gr.Button("Accept all suggestions")
            drop_all = gr.Button("Drop all shown rows")
            keep_all = gr.Button("Keep all as they are")
            clear_all = gr.Button("Clear decisions")
        download = gr.File(label="Corrections (CSV)", visible=False, interactive=False)
        again = gr.Button("Train again with these corrections", variant="primary")
        again_msg = gr.Markdown()

    run.change(on_work, run, work, api_visibility="private")
    shown = [summary, wrong, pairs, true_pick, pred_pick]
    show_btn.click(on_mistakes, [run, true_pick, pred_pick], shown, api_name="mistakes")
    decided = [issues_md, issues, download]
    find_btn.click(on_find, [run, evidence], decided, api_name="label_issues")
    apply_btn.click(on_decide, [run, row, action, new_label], decided, api_name="decide")
    for button, what in ((accept_all, "relabel"), (drop_all, "drop"), (keep_all, "keep"), (clear_all, "clear")):
        button.click(on_all, [run, gr.State(what)], decided,
                     **({"api_name": "accept_all"} if what == "relabel" else {"api_visibility": "private"}))
    again.click(on_train_again, run, [current_run, again_msg], api_name="train_corrected")
