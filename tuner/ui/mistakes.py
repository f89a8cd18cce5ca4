"""Evaluate tab, "Mistakes and label errors": what the model gets wrong on its validation rows, in the view that fits
the run's task (tuner.analysis.mistakes): a classifier's wrong rows (most confident first, filterable by label) and
its most confused label pairs; a tagger's sentences with the most entity errors, missed / spurious / wrong-type spans
marked, and its most frequent error kinds; a chat model's answers with the lowest ROUGE-L beside their references.
For classifiers also: suspected label errors in the training rows with suggested labels, the person's decisions on
them, and "Train again with these corrections"."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import pandas as pd

from ..analysis import corrections, label_issues, mistakes
from ..skipped import where_zh
from .common import esc, friendly, owned_run, user_of
from .i18n import current_lang, say

SHOWN = 200  # rows of each table on the page (the CLI and the CSV have them all)
SHOWN_SENTENCES = 100  # sentences of an entity view drawn on the page (the CLI prints them all with --limit)
ANY = ""
ACTIONS = [("Accept the suggestion", "accept"), ("Relabel", "relabel"), ("Drop the row", "drop"),
           ("Keep as it is", "keep")]


def _table(rows: list[dict], columns: dict[str, str]) -> pd.DataFrame:
    """`rows` as a table with headers in the page's language; file rows counted from 1 as a spreadsheet does."""
    out = pd.DataFrame([{k: (r[k] + 1 if k == "row" else r[k]) for k in columns} for r in rows[:SHOWN]],
                       columns=list(columns))
    return out.rename(columns={k: say(v) for k, v in columns.items()})


# the text last: a long text column would push the labels out of sight (seen on the page)
MISTAKE_COLUMNS = {"row": "row", "true": "true label", "predicted": "predicted", "confidence": "confidence", "text": "text"}
PAIR_COLUMNS = {"true": "true label", "predicted": "predicted", "rows": "rows"}
ISSUE_COLUMNS = {"row": "row", "given": "given label", "suggestion": "suggestion", "quality": "label quality",
                 "decision": "decision", "text": "text"}
KIND_COLUMNS = {"error": "error", "spans": "spans"}


def labels_view(found: dict, true_label=ANY, predicted=ANY):
    """A classifier's view: (summary, mistakes table, confused pairs, true-label filter, predicted filter)."""
    rows = mistakes.filtered(found["rows"], true_label or None, predicted or None)
    summary = say("**{wrong} of {total} validation rows are wrong**; the most confident mistakes first.",
                  wrong=f"{found['n_wrong']:,}", total=f"{found['n_validation']:,}")
    if found.get("sets"):
        from ..tasks.multilabel.analysis import SETS_NOTE

        summary += " " + say(SETS_NOTE)
    if true_label or predicted:
        summary += " " + say("{n} rows match the filter.", n=f"{len(rows):,}")
    choices = [(say("any"), ANY), *[(n, n) for n in found["labels"]]]
    return (summary, _table(rows, MISTAKE_COLUMNS), _table(found["pairs"], PAIR_COLUMNS),
            gr.Dropdown(choices=choices, value=true_label or ANY), gr.Dropdown(choices=choices, value=predicted or ANY))


def error_words(kind: str, true: str | None, predicted: str | None) -> str:
    """One kind of entity error in the page's language ("ORG read as LOC")."""
    from ..tasks.ner.analysis import ERROR_WORDS

    return say(ERROR_WORDS[kind], true=true, predicted=predicted)


# a mark's look: missed red, wrong type amber, other boundaries violet, spurious blue (dashed), right green
MARK_STYLE = {
    "missed": "background:rgba(239,68,68,.16);border-bottom:2px solid #dc2626", "wrong_type":
    "background:rgba(245,158,11,.2);border-bottom:2px solid #d97706", "boundary":
    "background:rgba(168,85,247,.16);border-bottom:2px solid #9333ea", "spurious":
    "background:rgba(59,130,246,.14);border-bottom:2px dashed #2563eb", "correct": "border-bottom:2px solid #16a34a",
}
BADGE_COLOUR = {"missed": "#dc2626", "wrong_type": "#d97706", "boundary": "#9333ea", "spurious": "#2563eb",
                "correct": "#16a34a"}


def _mark_html(mark: dict, words: str) -> str:
    if mark["kind"] == "boundary":
        badge = say("{type}, predicted {spans}", type=mark["true"],
                    spans=", ".join(f"“{p['text']}” {p['type']}" for p in mark["predicted_spans"]))
    elif mark["kind"] == "correct":
        badge = mark["true"]
    else:
        badge = error_words(mark["kind"], mark["true"], mark["predicted"])
    return (f'<span style="{MARK_STYLE[mark["kind"]]};padding:0 2px;border-radius:3px">{esc(words)}'
            f'<span style="font-size:.72em;font-weight:600;color:{BADGE_COLOUR[mark["kind"]]};margin-left:3px;'
            f'white-space:nowrap">{esc(badge)}</span></span>')


def sentence_html(row: dict) -> str:
    """One sentence's words with its marks."""
    from ..tasks.ner.analysis import segments

    return " ".join(esc(text) if mark is None else _mark_html(mark, text) for text, mark in segments(row))


def sentences_html(rows: list[dict]) -> str:
    """The worst sentences as a list, each with its counts and marked words, under a legend of the marks."""
    if not rows:
        return ""
    legend = " ".join(f'<span style="{MARK_STYLE[k]};padding:0 3px;border-radius:3px;white-space:nowrap">{esc(say(w))}</span>'
                      for k, w in (("missed", "missed"), ("wrong_type", "wrong type"),
                                   ("boundary", "other boundaries"), ("spurious", "spurious"), ("correct", "right")))
    note = say("Missed: in the reference, not predicted with these words and type (wrong-type and boundary marks "
               "count here too). Spurious: predicted, not in the reference.")
    items = []
    for rank, r in enumerate(rows[:SHOWN_SENTENCES], 1):
        counts = say("{errors} errors · missed {missed} · spurious {spurious}", errors=r["errors"],
                     missed=len(r["missed"]), spurious=len(r["spurious"]))
        place = where_zh(r["place"]) if r.get("place") and current_lang() == "zh" else r.get("place", "")
        head = " · ".join(x for x in (f"#{rank}", place, counts) if x)
        items.append(f'<li style="margin:0 0 .7em 0"><div style="font-size:.85em;opacity:.75">{esc(head)}'
                     f'</div><div style="line-height:1.9;overflow-wrap:anywhere">{sentence_html(r)}</div></li>')
    more = ""
    if len(rows) > SHOWN_SENTENCES:
        words = say("The first {shown} of {n} sentences are shown; the command line prints them all:",
                    shown=SHOWN_SENTENCES, n=f"{len(rows):,}")
        more = (f'<p style="font-size:.85em;opacity:.75">{esc(words)} <code>python -m tuner mistakes &lt;run&gt; '
                f'--limit {len(rows)}</code></p>')
    return (f'<div class="tuner-entity-errors"><p style="margin:0 0 .4em 0">{legend}</p>'
            f'<p style="font-size:.85em;opacity:.75;margin:0 0 .8em 0">{esc(note)}</p>'
            f'<ol style="list-style:none;padding:0 4px 0 0;margin:0;max-height:720px;overflow-y:auto">{"".join(items)}'
            f'</ol>{more}</div>')  # a box that scrolls: 100 sentences would make the page as long as ten screens


def entities_view(found: dict, entity_type=ANY):
    """A tagger's view: (summary, error kinds table, marked sentences HTML, entity-type filter)."""
    rows = mistakes.with_type(found["rows"], entity_type or None)
    summary = say("**{wrong} of {total} validation sentences have entity errors**; the most errors first. Of "
                  "{entities} reference entities, {missed} were not found exactly (recall {recall}); of {predicted} "
                  "predicted entities, {spurious} are not in the reference (precision {precision}).",
                  wrong=f"{found['n_wrong']:,}", total=f"{found['n_validation']:,}",
                  entities=f"{found['n_entities']:,}", missed=f"{found['n_missed']:,}", recall=f"{found['recall']:.3f}",
                  predicted=f"{found['n_predicted']:,}", spurious=f"{found['n_spurious']:,}",
                  precision=f"{found['precision']:.3f}")
    if entity_type:
        summary += " " + say("{n} sentences have an error with {type}.", n=f"{len(rows):,}", type=entity_type)
    kinds = [{"error": error_words(k["kind"], k["true"], k["predicted"]), "spans": k["spans"]} for k in found["kinds"]]
    choices = [(say("any"), ANY), *[(t, t) for t in found.get("types", [])]]
    return (summary, _table(kinds, KIND_COLUMNS), sentences_html(rows),
            gr.Dropdown(choices=choices, value=entity_type or ANY))


def answers_html(rows: list[dict]) -> str:
    """Each scored answer as a row of three boxes, prompt / reference / the model's answer, under its ROUGE-L. The
    boxes sit side by side where the page is wide and stack on a phone (a grid that fits 220 px columns)."""
    if not rows:
        return ""
    box = "border:1px solid rgba(128,128,128,.3);border-radius:6px;padding:6px 8px;overflow-wrap:anywhere"
    head = "font-size:.78em;font-weight:600;opacity:.7;margin-bottom:2px"
    items = []
    for rank, r in enumerate(rows[:SHOWN], 1):
        cells = "".join(f'<div style="{box}"><div style="{head}">{esc(say(name))}</div>'
                        f'<div style="white-space:pre-wrap">{esc(r[key])}</div></div>'
                        for key, name in (("prompt", "prompt"), ("reference", "reference"), ("answer", "model's answer")))
        items.append(f'<li style="margin:0 0 .9em 0"><div style="font-size:.85em;margin-bottom:3px">#{rank} · '
                     f'<b>ROUGE-L {r["rouge_l"]:.3f}</b></div><div style="display:grid;gap:6px;'
                     f'grid-template-columns:repeat(auto-fit,minmax(220px,1fr))">{cells}</div></li>')
    return (f'<ol class="tuner-answer-errors" style="list-style:none;padding:0 4px 0 0;margin:0;max-height:900px;'
            f'overflow-y:auto">{"".join(items)}</ol>')


def answers_view(found: dict):
    """A chat model's view: (summary, the answers lowest ROUGE-L first as HTML)."""
    summary = say("**{n} validation answers scored**, the lowest ROUGE-L first (mean {mean}). Only the first {cap} "
                  "validation prompts are answered: generation is slow on a CPU (greedy, up to {tokens} new tokens).",
                  n=found["n_scored"], mean="–" if found["mean_rouge_l"] is None else f"{found['mean_rouge_l']:.3f}",
                  cap=found["cap"], tokens=found["max_new_tokens"])
    return summary, answers_html(found["rows"])


def mistakes_view(run, true_label=ANY, predicted=ANY, entity_type=ANY):
    """The run's view, by its kind: (summary, mistakes, pairs, true filter, predicted filter, error kinds, sentences,
    type filter, answers); the parts of the other views are left as they are."""
    found = mistakes.find(run)
    kind, keep = mistakes.kind_of(found), gr.skip()
    if kind == "entities":
        summary, kinds, html, type_pick = entities_view(found, entity_type)
        return summary, keep, keep, keep, keep, kinds, html, type_pick, keep
    if kind == "answers":
        summary, answers = answers_view(found)
        return summary, keep, keep, keep, keep, keep, keep, keep, answers
    return (*labels_view(found, true_label, predicted), keep, keep, keep, keep)


def sections(run) -> tuple:
    """What the section shows for a run's task: (label view, entity view, answer view, label-issue controls, the
    sentence why label issues are hidden, the note above the answers) as visibility updates and text."""
    from ..tasks import get_task

    task = get_task(run.config().task)
    kind = task.mistakes_kind if "mistakes" in task.analyses else None
    issues = "label_issues" in task.analyses
    why = "" if issues else say("Suspected label errors and training again on corrected labels are for runs with "
                                "one label per row (sort texts into labels); this run's task does not have them yet.")
    note = ""
    if kind == "answers" and task.mistakes_cap:
        note = say("The model answers the first {cap} validation prompts; on a CPU this takes a minute or more.",
                   cap=task.mistakes_cap)
    return (gr.update(visible=kind in ("labels", None)), gr.update(visible=kind == "entities"),
            gr.update(visible=kind == "answers"), gr.update(visible=issues), why, note)


def issues_view(run, found: dict | None = None):
    """(summary, suspected label errors with the decisions so far, corrections CSV)."""
    found = found or label_issues.latest(run)
    saved = corrections.load(run)
    words = {"relabel": "relabel → {new}", "drop": "drop", "keep": "keep"}
    rows = []
    for r in found["rows"]:
        d = saved.get(str(r["row"]))
        rows.append({**r, "decision": say(words[d["action"]], new=d["new"]) if d else "",
                     "suggestion": suggestion_words(r)})
    n = corrections.counts(saved)
    parts = {"classical": say("classical"), "embeddings": say("embeddings"), "model": say("finetuned model")}
    to_relabel = found.get("to_relabel", found["flagged"])
    summary = say("**{flagged} of {total} training rows look mislabelled** (evidence: {evidence}, {secs} s). "
                  "Suggested: relabel {relabel}, drop {drop}. Decided so far: {relabelled} relabelled, {dropped} "
                  "dropped, {kept} kept.", flagged=f"{found['flagged']:,}", total=f"{found['rows_checked']:,}",
                  evidence=label_issues.describe(found, parts), secs=f"{found['seconds']:.0f}",
                  relabel=f"{to_relabel:,}", drop=f"{found['flagged'] - to_relabel:,}", relabelled=n["relabelled"],
                  dropped=n["dropped"], kept=n["kept"])
    if found.get("agreement") is not None:
        summary += " " + say(label_issues.AGREES, share=f"{found['agreement']:.0%}")
    for part in found.get("skipped") or []:
        summary += " " + say(label_issues.SKIPPED[part])
    return summary, _table(rows, ISSUE_COLUMNS), _download(run, saved)


def suggestion_words(row: dict) -> str:
    """A flagged row's suggestion in the page's language: its suggested label, or "drop" where the evidence doubts
    the given label without being sure of another (tuner.analysis.label_issues.advice)."""
    if row.get("advice", "relabel") == "relabel":
        return row["suggested"]
    return say(label_issues.DROP_SUGGESTION, label=row["suggested"])


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
def on_mistakes(run_id, true_label=ANY, predicted=ANY, entity_type=ANY, request: gr.Request = None):
    """Mistakes in the run's view: (summary, mistakes table, confused pairs, true-label filter, predicted filter,
    entity error kinds, marked sentences, entity-type filter, answers table)."""
    if not run_id:
        return say("Pick a finished run."), None, None, gr.Dropdown(), gr.Dropdown(), None, "", gr.Dropdown(), ""
    return mistakes_view(owned_run(run_id, request), true_label, predicted, entity_type)


@friendly
def on_sections(run_id, request: gr.Request = None):
    """The section's parts for the picked run's task (see `sections`)."""
    if not run_id:
        return gr.update(), gr.update(), gr.update(), gr.update(), "", ""
    return sections(owned_run(run_id, request))


@friendly
def on_find(run_id, evidence=None, request: gr.Request = None):
    """Find suspected label errors: (summary, table, corrections CSV)."""
    run = owned_run(run_id, request)
    return issues_view(run, label_issues.find(run, evidence=evidence or label_issues.DEFAULT_EVIDENCE))


def picked_row(table, evt: gr.SelectData):
    """The file row of the clicked table row (the table's first column), for the Row field."""
    try:
        return int(pd.DataFrame(table).iloc[evt.index[0], 0])
    except (TypeError, ValueError, IndexError, KeyError):
        return gr.update()


@friendly
def on_decide(run_id, row, action, new_label="", request: gr.Request = None):
    """One row's decision (row as the table shows it, from 1): (summary, table, corrections CSV)."""
    run = owned_run(run_id, request)
    if not row or row < 1:
        from ..errors import DataError

        raise DataError("Pick a row first: click it in the table, or type its number in Row.",
                        zh="请先选择一行：在表格中点击它，或在“行号”中输入它的编号。")
    action = "relabel" if new_label and action in (None, "", "accept") else action or "accept"  # a typed label
    corrections.decide(run, [{"row": int(row) - 1, "action": action, "new": new_label or None}])
    return issues_view(run)


@friendly
def on_all(run_id, action, request: gr.Request = None):
    """The same decision for every flagged row: (summary, table, corrections CSV)."""
    run = owned_run(run_id, request)
    if action == "clear":
        corrections.clear(run)
    else:
        corrections.decide_all(run, action)
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
        answers_note = gr.Markdown()  # full width: beside the button a phone squeezes it to a column of words
        with gr.Row():
            with gr.Column(scale=2) as labels_box:  # a classifier: filters by label
                with gr.Row():
                    true_pick = gr.Dropdown([], label="True label", allow_custom_value=True)
                    pred_pick = gr.Dropdown([], label="Predicted label", allow_custom_value=True)
            with gr.Column(scale=2, visible=False) as type_box:  # a tagger: filter by entity type
                type_pick = gr.Dropdown([], label="Entity type", allow_custom_value=True)
            show_btn = gr.Button("Show mistakes", scale=1)
        with gr.Row() as labels_views:
            wrong = gr.Dataframe(label="Validation rows the model gets wrong (most confident first)", interactive=False,
                                 wrap=True, scale=3, headers=list(MISTAKE_COLUMNS.values()),  # not 1 2 3 while empty
                                 elem_classes=["tuner-table"],  # the page's small type on a phone
                                 column_widths=["12%", "16%", "16%", "13%", "43%"])  # the text wraps, not cut off
            pairs = gr.Dataframe(label="Most confused label pairs", interactive=False, scale=2,
                                 headers=list(PAIR_COLUMNS.values()), elem_classes=["tuner-table"])
        with gr.Column(visible=False) as entities_views:
            kinds = gr.Dataframe(label="Most frequent entity errors", interactive=False, wrap=True, max_height=300,
                                 headers=list(KIND_COLUMNS.values()), column_widths=["75%", "25%"],
                                 elem_classes=["tuner-table"])
            sentences = gr.HTML(label="Sentences with the most entity errors")
        answers = gr.HTML(label="Validation answers with the lowest ROUGE-L", visible=False)
        issues_why = gr.Markdown()
        with gr.Column() as issues_box:
            gr.Markdown("#### Suspected label errors in the training data")
            with gr.Row():
                evidence = gr.Radio([("classical + embeddings + finetuned model (measured best)",
                                      "classical+embeddings+model"), ("classical + embeddings", "classical+embeddings"),
                                     ("classical model only", "classical"), ("classical + finetuned model", "both"),
                                     ("finetuned model only", "model")], value=label_issues.DEFAULT_EVIDENCE,
                                    label="Evidence", scale=3)
                find_btn = gr.Button("Find suspected label errors", variant="primary", scale=1)
            issues_md = gr.Markdown()
            issues = gr.Dataframe(label="Suspected label errors (lowest label quality first)", interactive=False,
                                  wrap=True, headers=list(ISSUE_COLUMNS.values()), elem_classes=["tuner-table"],
                                  column_widths=["12%", "13%", "13%", "11%", "11%", "40%"])  # the text wraps, not cut off
            with gr.Row():
                row = gr.Number(None, label="Row", info="Click a row in the table, or type its number.", precision=0,
                                minimum=1, scale=1)
                action = gr.Radio(ACTIONS, value="accept", label="Decision", scale=2)
                new_label = gr.Textbox(label="New label (empty = the most likely one)", scale=2)
                apply_btn = gr.Button("Apply to row", scale=1)
            with gr.Row():
                accept_all = gr.Button("Accept all suggestions")
                drop_all = gr.Button("Drop all flagged rows")
                keep_all = gr.Button("Keep all as they are")
                clear_all = gr.Button("Clear decisions")
            gr.Markdown("A suggestion is a new label where the evidence is as sure of it as it usually is of the "
                        "labels it agrees with, and “drop” where it doubts the given label without being sure of "
                        "another: a row dropped by mistake costs one example, a row relabelled by mistake teaches the "
                        "model a wrong label.", elem_classes=["tuner-hint"])
            download = gr.File(label="Corrections (CSV)", visible=False, interactive=False)
            again = gr.Button("Train again with these corrections", variant="primary")
            again_msg = gr.Markdown()

    run.change(on_work, run, work, api_visibility="private")

    def show_parts(run_id, request: gr.Request = None):  # the label view's filters and tables go together
        labels, entities, answers_vis, issues_vis, why, note = on_sections(run_id, request)
        said = [gr.update(value=text, visible=bool(text)) for text in (why, note)]  # no empty gap where not said
        return labels, labels, entities, entities, answers_vis, issues_vis, *said

    run.change(show_parts, run, [labels_box, labels_views, type_box, entities_views, answers, issues_box, issues_why,
                                 answers_note], api_visibility="private")
    shown = [summary, wrong, pairs, true_pick, pred_pick, kinds, sentences, type_pick, answers]
    show_btn.click(on_mistakes, [run, true_pick, pred_pick, type_pick], shown, api_name="mistakes")
    decided = [issues_md, issues, download]
    find_btn.click(on_find, [run, evidence], decided, api_name="label_issues")
    issues.select(picked_row, issues, row, api_visibility="private")
    # each decision also renews the data-work line above the section ("… 267 relabelled and 228 dropped so far")
    apply_btn.click(on_decide, [run, row, action, new_label], decided, api_name="decide").then(
        on_work, run, work, api_visibility="private")
    for button, what in ((accept_all, "accept"), (drop_all, "drop"), (keep_all, "keep"), (clear_all, "clear")):
        button.click(on_all, [run, gr.State(what)], decided,
                     **({"api_name": "accept_all"} if what == "accept" else {"api_visibility": "private"})).then(
            on_work, run, work, api_visibility="private")
    again.click(on_train_again, run, [current_run, again_msg], api_name="train_corrected")
