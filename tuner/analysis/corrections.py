"""The person's decisions on suspected label errors, saved with the run, and what they make: a corrected copy of
the training file and a new run with the same settings.

A decision is per training-file row: "relabel" (old -> new), "drop", or "keep" (looked at, left as it is); "accept"
takes the row's advice (tuner.analysis.label_issues.advice: relabel to the suggested label where the evidence is sure
of it, else drop) and is saved as that. The
uploaded file is never changed: `train_again` writes the corrected copy, which the new run stores as its own data
(tuner.runs.create_run). Where the old run held out part of its training file for validation, the new run gets
exactly those rows, with their labels as uploaded, as its validation file, so the two runs are scored on the same
rows and the Runs tab's comparison is fair.
"""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

from ..errors import DataError
from ..runs import Run
from . import store

ACTIONS = ("relabel", "drop", "keep")
CORRECTIONS_CSV = "corrections.csv"  # in the new run's folder (and downloadable from the old one)


def load(run: Run) -> dict:
    """{file row (str): {"action", "old", "new", "text"}} decided so far for this run's training file."""
    return (store.load(run, "corrections", stamped=False) or {}).get("rows", {})


def decide(run: Run, decisions: list[dict]) -> dict:
    """Merge decisions ({row, action, new?}; action "accept" = the row's advice) on flagged rows into the saved
    ones; returns the counts."""
    from .label_issues import latest

    found = latest(run)  # read once, not once per decision
    issues = {r["row"]: r for r in found.get("rows", [])}
    names = set(found.get("labels") or [])
    saved = load(run)
    for d in decisions:
        row, action = int(d["row"]), d.get("action")
        if action not in ACTIONS + ("accept",):
            raise DataError(f"Unknown action '{action}'; choose accept, relabel, drop or keep.",
                            zh=f"未知的操作“{action}”；请选择 accept、relabel、drop 或 keep。")
        issue = issues.get(row)
        if issue is None:
            raise DataError(f"Row {row + 1} is not among the suspected label errors of this run.",
                            zh=f"第 {row + 1} 行不在该运行的疑似标注错误中。")
        if action == "accept":
            action = issue.get("advice", "relabel")
        new = d.get("new") or issue["suggested"]
        if action == "relabel" and names and new not in names:
            raise DataError(f"'{new}' is not one of this run's labels.", zh=f"“{new}”不是该运行的标签之一。")
        saved[str(row)] = {"action": action, "old": issue["given"], "new": new if action == "relabel" else "",
                           "text": issue["text"][:500]}
    store.save(run, "corrections", {"rows": saved}, stamped=False)
    return counts(saved)


def decide_all(run: Run, action: str = "accept", rows: list[int] | None = None) -> dict:
    """One decision for every flagged row (or those in `rows`): "accept" its advice, "relabel" it to its suggested
    label, "drop" or "keep" it."""
    from .label_issues import latest

    issues = latest(run).get("rows", [])
    wanted = None if rows is None else {int(r) for r in rows}
    return decide(run, [{"row": r["row"], "action": action} for r in issues if wanted is None or r["row"] in wanted])


def clear(run: Run) -> None:
    store.save(run, "corrections", {"rows": {}}, stamped=False)


def counts(saved: dict) -> dict:
    n = {a: 0 for a in ACTIONS}
    for d in saved.values():
        n[d["action"]] += 1
    return {"relabelled": n["relabel"], "dropped": n["drop"], "kept": n["keep"]}


def write_csv(saved: dict, path: Path) -> Path:
    """The decisions as a CSV: file row (1 = first data row), action, old label, new label, text."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["row", "action", "old_label", "new_label", "text"])
        for row in sorted(saved, key=int):
            d = saved[row]
            w.writerow([int(row) + 1, d["action"], d["old"], d["new"], _cell(d.get("text", ""))])
    return path


def _cell(text: str) -> str:
    """A spreadsheet never runs a cell as a formula (as tuner.data.neutralise_formulas)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def csv_for(run: Run) -> Path:
    """This run's decisions as a CSV in its analysis/ folder (for the page's download)."""
    return write_csv(load(run), store.folder(run) / CORRECTIONS_CSV)


def corrected_files(run: Run, saved: dict, out: Path) -> dict:
    """Write the corrected training file (and the held-out validation rows, as uploaded) into `out`:
    {"train_file", "validation_file" (or None)}. Only the copies are written; the run's data is read."""
    from ..tasks import get_task

    cfg = run.config()
    task = get_task(cfg.task)
    df = task.read(cfg.data.train_file).df.copy()
    splits = task.analysis_splits(cfg)
    label_column = splits.meta["label_column"]
    drop = {int(r) for r, d in saved.items() if d["action"] == "drop"}
    df[label_column] = df[label_column].astype(object)
    for r, d in saved.items():
        if d["action"] == "relabel":
            df.iloc[int(r), df.columns.get_loc(label_column)] = d["new"]
    out.mkdir(parents=True, exist_ok=True)
    files = {"validation_file": None}
    held_out = set()
    if not cfg.data.validation_file:
        held_out = set(int(r) for r in splits.validation["row"])
        original = task.read(cfg.data.train_file).df
        validation = original.iloc[sorted(held_out)]
        files["validation_file"] = str(out / "validation.csv")
        validation.to_csv(files["validation_file"], index=False)
    keep = [i for i in range(len(df)) if i not in drop and i not in held_out]
    files["train_file"] = str(out / "train.csv")
    df.iloc[keep].to_csv(files["train_file"], index=False)  # data for training: its text exactly as uploaded
    return files


def train_again(run: Run, owner: str | None = None, model_roots=None):
    """Start a run with the same settings on the corrected copy of the training file (tuner.start.start_run);
    the decisions go with it as corrections.csv and in its status. Returns the StartedRun."""
    import dataclasses

    from ..start import start_run
    from .label_issues import latest

    saved = load(run)
    n = counts(saved)
    if not n["relabelled"] and not n["dropped"]:
        raise DataError("There are no corrections yet; relabel or drop at least one row first.",
                        zh="还没有任何更正；请先至少改正或删除一行。")
    issues = latest(run)
    staging = store.folder(run) / f"corrected-{time.time_ns()}"
    try:
        files = corrected_files(run, saved, staging)
        cfg = run.config()
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **files))
        source = (run.status().get("source_files") or {}).get("train_file") or "train.csv"
        names = {"train_file": f"{Path(source).stem} (corrected).csv"}
        if files["validation_file"]:
            names["validation_file"] = f"{Path(source).stem} (validation rows of run {run.id}).csv"
        name = f"{run.status().get('name') or cfg.name} (corrected)"
        started = start_run(cfg, name=name, owner=owner, source_files=names, model_roots=model_roots)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    new = started.run
    write_csv(saved, new.path / CORRECTIONS_CSV)
    new.set_status(corrections={"from_run": run.id, "flagged": int(issues.get("flagged", 0)),
                                "rows_checked": int(issues.get("rows_checked", 0)), **n})
    return started


def data_work(run: Run) -> dict | None:
    """What was done to this run's data, for its report and model card: {"flagged", "relabelled", "dropped",
    "from_run"} for a run trained on corrections, or {"flagged"} for a run whose labels were checked; else None."""
    done = run.status().get("corrections")
    if done:
        return done
    issues = store.load(run, "label_issues", stamped=False)
    if issues:
        return {"flagged": int(issues.get("flagged", 0)), "rows_checked": int(issues.get("rows_checked", 0)),
                **counts(load(run))}
    return None


def data_work_sentence(work: dict | None) -> str:
    """The English sentence for `data_work` (the page words it through tuner.ui.i18n.say)."""
    if not work:
        return ""
    if work.get("from_run"):
        return (f"Trained on corrected data: {work['flagged']:,} of {work.get('rows_checked', 0):,} training rows were "
                f"flagged as suspected label errors in run {work['from_run']}; {work['relabelled']:,} were relabelled "
                f"and {work['dropped']:,} dropped.")
    return (f"{work['flagged']:,} of {work.get('rows_checked', 0):,} training rows were flagged as suspected label "
            f"errors; {work['relabelled']:,} relabelled and {work['dropped']:,} dropped so far.")
