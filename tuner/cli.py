"""`python -m tuner train|predict|eval|mistakes|label-issues|chat|runs|stop|resume|delete|serve ...` — the same code paths as the page."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .config import recipe_path
from .errors import TunerError


def find_run(ref: str):
    from .runs import Run, get_run

    p = Path(ref)
    if p.is_dir() and (p / "config.yaml").is_file():
        return Run(p.resolve())
    return get_run(ref)


def status_line(prog: dict) -> str:
    """One line of a run's progress, in the page's words (tuner.progress): the clock, the phase or the step with
    loss, ETA and tokens/s."""
    from .progress import fill, fmt_duration, message

    parts = [f"[{fmt_duration(prog.get('elapsed'))}]", "stopping" if prog.get("stopping") else prog.get("state", "")]
    training = prog.get("phase") in ("training", "evaluating") and prog.get("total_steps")
    if training:
        parts.append(f"step {prog.get('step', 0)}/{prog['total_steps']}")
        if prog.get("train"):
            parts.append(f"loss {prog['train'][-1]['loss']:.4f}")
        if prog.get("eta") is not None and not prog.get("stopping"):
            parts.append(f"ETA {fmt_duration(prog['eta'])}")
        speed = (prog.get("speed") or {}).get("tokens_per_s")
        if speed:
            parts.append(f"{speed:,.0f} tokens/s")
    template, words = message(prog)
    if template and not (training and prog.get("phase") == "training" and not prog.get("stopping")):
        parts.append(fill(template, words))
    return " · ".join(p for p in parts if p)


def follow(run, manager, out=sys.stderr, every: float = 10.0, tick: float = 0.5) -> dict:
    """Print the run's progress until the process ends: a line whenever the phase, state or step count's tenth
    changes, and every `every` seconds otherwise (the clock and ETA tick); on a terminal the line is rewritten in
    place every second. Ctrl-C stops cleanly."""
    tty = hasattr(out, "isatty") and out.isatty()
    said, last_key, last_time = "", None, 0.0
    try:
        while manager.is_active(run) or run.state in ("queued", "running"):
            prog = run.progress()
            total = prog.get("total_steps") or 0
            key = (prog["state"], prog.get("phase"), prog.get("stopping"), prog.get("position"),
                   10 * prog.get("step", 0) // total if total else 0,
                   prog.get("phase_parts", {}).get("done_rows") or prog.get("phase_parts", {}).get("tokens"))
            now = time.time()
            if key != last_key or now - last_time >= (1.0 if tty else every):
                line = status_line(prog)
                if tty:  # a new phase starts a new line; the clock rewrites the current one
                    fresh = last_key is not None and key[:3] != last_key[:3]
                    print(("\n" if fresh else "\r") + line.ljust(0 if fresh else len(said)), end="", file=out, flush=True)
                else:
                    print(line, file=out, flush=True)
                said, last_key, last_time = line, key, now
            if not manager.is_active(run) and run.state in ("queued", "running"):
                break
            time.sleep(tick)
    except KeyboardInterrupt:
        print("\nStopping cleanly (the adapter will be saved)…", file=out)
        manager.stop(run)
        manager.wait(run)
    prog = run.progress()
    line = status_line(prog)
    if line != said:
        print(("\n" if tty else "") + line, file=out, flush=True)
    elif tty:
        print(file=out)
    return prog


def summarize(report: dict) -> str:
    """The text the CLI prints for a report: the task's own (`Task.summarize`), else headline metrics beside
    each floor, the per-label rows and the verdict."""
    from .tasks import report_task

    if not report:
        return "No evaluation report."
    if "evaluation_error" in report:
        return report["evaluation_error"]
    task = report_task(report)
    own = task.summarize(report)
    if own is not None:
        return own
    keys = [k for k in ("micro_f1", "accuracy", "macro_f1", "precision", "recall") if k in report]
    floors = [(k, report[k]) for k in ("classical", "baseline") if isinstance(report.get(k), dict)]
    titles = {"classical": "classical", "baseline": task.baseline_title}
    lines = [f"{'':>16}  {'finetuned':>10}" + "".join(f"  {titles.get(k, k):>10}" for k, _ in floors)]
    for k in keys:
        row = f"{k:>16}  {report[k]:>10.4f}"
        for _, floor in floors:
            value = floor.get(k)
            row += f"  {value:>10.4f}" if isinstance(value, (int, float)) else f"  {'–':>10}"
        lines.append(row)
    for key, floor in floors:
        what = {"classical": "classical baseline", "baseline": "baseline"}[key]
        took = f", fitted in {floor['fit_seconds']:.1f} s" if floor.get("fit_seconds") is not None else ""
        lines.append(f"{what}: {floor.get('name', '')}{took}")
    for row in report.get("per_label", []):
        lines.append(f"  {row['label'][:24]:>24}  P {row['precision']:.3f}  R {row['recall']:.3f}  F1 {row['f1']:.3f}  n={row['support']}")
    verdict = (report.get("verdict") or {}).get("sentence")
    if verdict:
        lines.append(f"verdict: {verdict}")
    return "\n".join(lines)


def cmd_train(args) -> int:
    """Check the run as the page's Train button does (tuner.start), estimate its time, start it and follow it."""
    from . import jobs
    from .config import load_recipe
    from .start import check_run, start_run

    overrides = list(args.set)
    if getattr(args, "gpus", None):
        overrides.append(f"train.gpus={args.gpus}")
    if getattr(args, "processes", None):
        overrides.append(f"train.processes={args.processes}")
    if getattr(args, "accelerate_config", None):
        # multi-node / DeepSpeed ZeRO-2/3 / FSDP: the file is passed to `accelerate launch --config_file` as is
        overrides.append(f"train.accelerate_config={Path(args.accelerate_config).expanduser().resolve()}")
    cfg = load_recipe(recipe_path(args.recipe), overrides)
    checked = check_run(cfg)  # refuses before a run folder exists; a refused data file too
    for warning in checked.data_warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if getattr(args, "estimate", False):
        from . import memory

        print((checked.memory or memory.estimate(cfg, source=checked.source, device=checked.device)).sentence(cfg))
        time_estimate(cfg, out=sys.stdout)  # prints its sentence
        return 0
    for warning in checked.warnings:  # the memory fit (the estimate above prints it as its sentence)
        print(f"warning: {warning}", file=sys.stderr)
    est = time_estimate(cfg) if not args.no_estimate else {}
    run = start_run(cfg, name=args.name or "", estimate=est, checked=checked).run
    print(f"run {run.id} -> {run.path}", file=sys.stderr)
    mgr = jobs.manager()
    if args.no_wait:
        print(run.id)
        return 0
    follow(run, mgr)
    status = run.status()
    print(f"{status.get('state')}: {status.get('message', '')}", file=sys.stderr)
    if (run.path / "skipped_rows.csv").is_file():
        print(f"the rows left out of the data, and why: {run.path / 'skipped_rows.csv'}", file=sys.stderr)
    print(summarize(run.metrics() or {}))
    return 0 if status.get("state") in ("completed", "stopped") else 1


def time_estimate(cfg, out=sys.stderr) -> dict:
    """The speed probe (tuner.estimate) as a dict with its sentence; a probe that fails says so and never blocks."""
    from . import estimate

    print("Estimating the training time (a short speed probe of the model on this data)…", file=out, flush=True)
    try:
        est = estimate.estimate(cfg)
    except TunerError:
        raise
    except Exception as exc:  # the run itself reports real problems
        sentence = f"The training time could not be estimated ({type(exc).__name__})."
        print(sentence, file=out)
        return {"sentence": sentence}
    sentence = est.sentence()
    print(sentence, file=out, flush=True)
    return {**est.as_dict(), "sentence": sentence}


def cmd_resume(args) -> int:
    from . import jobs, runs

    run = find_run(args.run)
    runs.check_resumable(run)  # a run whose process died (killed, full disk) is recovered first: no listing needed
    mgr = jobs.manager()
    mgr.submit(run, resume=True)
    follow(run, mgr)
    print(summarize(run.metrics() or {}))
    return 0 if run.state in ("completed", "stopped") else 1


def cmd_predict(args) -> int:
    from .inference import get_predictor

    pred = get_predictor(find_run(args.run))
    if args.file:
        suffix = pred.task.prediction_suffix  # entity tagging writes JSON Lines
        out = args.out or str(Path(args.file).with_suffix("")) + ".predictions" + suffix
        info = pred.predict_file(args.file, out)
        left_out(info)
        print(json.dumps(info, indent=1))
        return 0
    if not args.text:
        raise TunerError("Give one or more texts to classify, or --file with a table.")
    for text, result in zip(args.text, pred.predict(args.text)):
        print(pred.task.format_prediction(text, result))
        if args.all:
            print(json.dumps(result, indent=1))
    return 0


def cmd_eval(args) -> int:
    from .inference import get_predictor

    report = get_predictor(find_run(args.run)).evaluate_file(args.file)
    left_out(report)
    print(json.dumps(report, indent=1) if args.json else summarize(report))
    return 0


def left_out(report: dict) -> None:
    """Print the rows an evaluation or prediction left out (tuner.skipped) as a warning; the list stays in the
    report (--json) under left_out."""
    found = report.get("left_out")
    if found:
        print(f"warning: {found['warning']}".replace("can be downloaded", "is under left_out in --json"), file=sys.stderr)


def cmd_runs(args) -> int:
    """The newest runs (every run with --all); damaged or unwritable run files never stop the listing."""
    from .runs import list_runs
    from .safe_text import clean_name  # a name with ANSI escapes or newlines must not rewrite the terminal

    listed = list_runs()
    shown = listed if args.all or args.limit <= 0 else listed[:args.limit]
    for run in shown:
        st = run.status()
        m = run.metrics() or {}
        key = next((k for k in ("macro_f1", "f1", "rouge_l", "accuracy") if isinstance(m.get(k), (int, float))), None)
        score = f"{key} {m[key]:.3f}" if key else ""
        print(f"{run.id}  {clean_name(st.get('state', '')):<11} {score:<14} {clean_name(st.get('name', ''))}")
    if len(shown) < len(listed):
        print(f"({len(listed) - len(shown):,} older runs not shown; --all lists every run)", file=sys.stderr)
    return 0


def cmd_delete(args) -> int:
    from . import runs

    for ref in args.run:
        run = find_run(ref)
        freed = runs.delete_run(run)
        print(f"Deleted run {run.id} ({runs.fmt_bytes(freed)} freed).")
    return 0


def cmd_stop(args) -> int:
    run = find_run(args.run)
    if run.state != "running":
        raise TunerError(f"Run {run.id} is not training (it is {run.state}).")
    run.stop_path.write_text("stop requested\n")
    print(f"Asked run {run.id} to stop at the next step.")
    return 0


def cmd_chat(args) -> int:
    """A terminal conversation with a chat run, streamed as it is written."""
    from .inference import get_predictor

    pred = get_predictor(find_run(args.run))
    if not hasattr(pred, "template"):
        raise TunerError(f"Run {pred.run.id} is a {pred.task.name} run; `chat` needs a run of the chat task (use `predict`).")
    opts = {"system_prompt": args.system, "temperature": args.temperature, "top_p": args.top_p,
            "max_new_tokens": args.max_new_tokens, "stop": args.stop, "base": args.base}
    interactive = not args.message and sys.stdin.isatty()
    queued = list(args.message or [])
    if interactive:
        print(f"Chatting with run {pred.run.id} ({'base model' if args.base else 'finetuned'}, template {pred.template}). "
              "/reset clears the conversation, /retry answers the last message again, an empty line or /quit ends.",
              file=sys.stderr)
    history: list[dict] = []
    while True:
        try:
            if args.message:
                if not queued:
                    break
                line = queued.pop(0)
            elif interactive:
                line = input("you> ")
            else:
                line = sys.stdin.readline()
                if not line:
                    break
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            break
        line = line.strip()
        if interactive and line in ("", "/quit", "/exit"):
            break
        if not line:
            continue
        if line == "/reset":
            history = []
            print("(conversation cleared)", file=sys.stderr)
            continue
        if line == "/retry":
            if len(history) < 2:
                print("(nothing to retry yet)", file=sys.stderr)
                continue
            line, history = history[-2]["content"], history[:-2]
        print("bot> " if interactive else "", end="", flush=True)
        shown = ""
        try:
            for part in pred.chat_stream(history, line, **opts):
                if part.startswith(shown):
                    sys.stdout.write(part[len(shown):])
                    sys.stdout.flush()
                shown = part
        except KeyboardInterrupt:
            print(" (interrupted)", file=sys.stderr)
        except TunerError as exc:
            if not interactive:
                raise
            print(f"\nerror: {exc}", file=sys.stderr)
            continue
        print(flush=True)
        history += [{"role": "user", "content": line}, {"role": "assistant", "content": shown}]
    return 0


def cmd_export(args) -> int:
    """Zip the adapter, merge it, write a demo Space folder, or push to the Hub (one or more at once)."""
    import os

    from . import export

    run = find_run(args.run)
    if not (args.zip or args.merge or args.space or args.push):
        args.zip = f"tuner-adapter-{run.id}.zip"
    if args.zip:
        print(f"adapter zip: {export.zip_adapter(run, args.zip)}")
    if args.merge:
        print(f"merged model: {export.merge(run, args.merge)}")
    if args.space:
        print(f"demo Space folder: {export.space_folder(run, args.space)}")
    if args.push:
        token = os.environ.get(args.token_env) if args.token_env else None
        what = "space" if args.push_space else ("merged" if args.merged else "adapter")
        url = export.push(run, args.push, token=token, merged=what == "merged", space=what == "space",
                          private=not args.public)
        print(f"pushed the {what} to {url}")
    return 0


def cmd_serve(args) -> int:
    import runpy

    sys.argv = ["app.py", *(["--port", str(args.port)] if args.port else [])]
    runpy.run_path(str(Path(__file__).resolve().parent.parent / "app.py"), run_name="__main__")
    return 0


def cmd_mistakes(args) -> int:
    """What the run gets wrong on its validation rows, in its task's view: a classifier's wrong rows (most confident
    first) after its most confused label pairs; a tagger's sentences with the most entity errors (spans marked) after
    its most frequent error kinds; a chat model's answers with the lowest ROUGE-L beside their references."""
    from .analysis import mistakes

    found = mistakes.find(find_run(args.run), refresh=args.refresh)
    kind = mistakes.kind_of(found)
    if kind == "entities":
        rows = mistakes.with_type(found["rows"], args.type)
    elif kind == "answers":
        rows = found["rows"]
    else:
        rows = mistakes.filtered(found["rows"], args.true, args.predicted)
    if args.json:
        print(json.dumps({**found, "rows": rows[:args.limit]}, indent=1, ensure_ascii=False))
        return 0
    if kind == "entities":
        _print_entity_mistakes(found, rows, args.limit, args.type)
    elif kind == "answers":
        _print_answer_mistakes(found, rows[:args.limit])
    else:
        print(f"{found['n_wrong']:,} of {found['n_validation']:,} validation rows are wrong.")
        if found.get("sets"):
            from .tasks.multilabel.analysis import SETS_NOTE

            print(SETS_NOTE)
        for pair in found["pairs"][:10]:
            print(f"  {pair['true']} -> {pair['predicted']}: {pair['rows']:,} rows")
        print(f"{'row':>6}  {'true':>14}  {'predicted':>14}  {'conf':>6}  text")
        for r in rows[:args.limit]:
            print(f"{r['row'] + 1:>6}  {r['true'][:14]:>14}  {r['predicted'][:14]:>14}  {r['confidence']:>6.3f}  {r['text'][:70]}")
    return 0


def _print_entity_mistakes(found: dict, rows: list[dict], limit: int, entity_type: str | None) -> None:
    """The tagger's view: totals, error kinds, then each sentence with [words|mark] around its entities."""
    from .tasks.ner.analysis import ERROR_WORDS, segments

    print(f"{found['n_wrong']:,} of {found['n_validation']:,} validation sentences have entity errors. "
          f"Of {found['n_entities']:,} reference entities {found['n_missed']:,} were not found exactly "
          f"(recall {found['recall']:.3f}); of {found['n_predicted']:,} predicted, {found['n_spurious']:,} are not in "
          f"the reference (precision {found['precision']:.3f}).")
    print("Most frequent errors:")
    for k in found["kinds"][:10]:
        print(f"  {ERROR_WORDS[k['kind']].format(**k)}: {k['spans']:,} spans")
    if entity_type:
        print(f"{len(rows):,} sentences have an error involving {entity_type}.")
    print("Marks: [words|TYPE] right · [words|missed TYPE] not found · [words|A read as B] right words, wrong type · "
          "[words|TYPE, predicted ...] other boundaries · [words|spurious TYPE] not in the reference.")
    for rank, r in enumerate(rows[:limit], 1):
        place = f"  {r['place']}" if r.get("place") else ""
        print(f"#{rank}{place}  {r['errors']} errors (missed {len(r['missed'])}, spurious {len(r['spurious'])})")
        words = []
        for text, m in segments(r):
            if m is None:
                words.append(text)
                continue
            if m["kind"] == "correct":
                mark = m["true"]
            elif m["kind"] == "boundary":
                mark = f"{m['true']}, predicted " + ", ".join(f'"{p["text"]}" {p["type"]}' for p in m["predicted_spans"])
            else:
                mark = ERROR_WORDS[m["kind"]].format(**m)
            words.append(f"[{text}|{mark}]")
        print("    " + " ".join(words))


def _print_answer_mistakes(found: dict, rows: list[dict]) -> None:
    """The chat model's view: each scored answer beside its prompt and reference, the lowest ROUGE-L first."""
    mean = "–" if found["mean_rouge_l"] is None else f"{found['mean_rouge_l']:.3f}"
    print(f"{found['n_scored']:,} validation answers scored, the lowest ROUGE-L first (mean {mean}). Only the first "
          f"{found['cap']} validation prompts are answered: generation is slow on a CPU (greedy, up to "
          f"{found['max_new_tokens']} new tokens).")
    for r in rows:
        print(f"ROUGE-L {r['rouge_l']:.3f}")
        for key in ("prompt", "reference", "answer"):
            text = " ".join(str(r[key]).split())
            print(f"  {key:>9}: {text[:300]}{'…' if len(text) > 300 else ''}")


def evidence_choice(value: str) -> str:
    from .analysis import evidence

    if not evidence.parts_of(value):
        raise argparse.ArgumentTypeError(f"unknown evidence '{value}': use classical, embeddings, model, or parts "
                                         "joined by + (e.g. classical+embeddings; both = classical+model)")
    return value


def cmd_label_issues(args) -> int:
    """Suspected label errors in the run's training rows; --write accepts every suggestion (or, with --drop /
    --relabel, drops / relabels every flagged row) into a corrected copy, --train-again starts a run with the same
    settings on it."""
    from .analysis import corrections, label_issues

    run = find_run(args.run)
    found = label_issues.find(run, evidence=args.evidence or label_issues.DEFAULT_EVIDENCE, refresh=args.refresh)
    if args.json:
        print(json.dumps({**found, "rows": found["rows"][:args.limit]}, indent=1, ensure_ascii=False))
    else:
        to_relabel = found.get("to_relabel", found["flagged"])
        print(f"{found['flagged']:,} of {found['rows_checked']:,} training rows look mislabelled "
              f"(evidence: {label_issues.describe(found)}, {found['seconds']:.0f} s). Suggested: relabel "
              f"{to_relabel:,}, drop {found['flagged'] - to_relabel:,}.")
        if found.get("agreement") is not None:
            print(label_issues.AGREES.format(share=f"{found['agreement']:.0%}"))
        for part in found.get("skipped") or []:
            print(label_issues.SKIPPED[part])
        print(f"{'row':>6}  {'given':>14}  {'suggestion':>20}  {'quality':>7}  text")
        for r in found["rows"][:args.limit]:
            said = r["suggested"] if r.get("advice", "relabel") == "relabel" else \
                label_issues.DROP_SUGGESTION.format(label=r["suggested"])
            print(f"{r['row'] + 1:>6}  {r['given'][:14]:>14}  {said[:20]:>20}  {r['quality']:>7.3f}  {r['text'][:70]}")
    if args.write or args.train_again:
        counts = corrections.decide_all(run, "drop" if args.drop else "relabel" if args.relabel else "accept")
        print(f"accepted: {counts['relabelled']:,} rows relabelled, {counts['dropped']:,} dropped", file=sys.stderr)
    if args.write:
        import shutil
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            files = corrections.corrected_files(run, corrections.load(run), Path(tmp))
            shutil.copyfile(files["train_file"], args.write)
        print(f"corrected training rows -> {args.write} (the run's validation rows are left out of it)", file=sys.stderr)
    if args.train_again:
        started = corrections.train_again(run)
        print(f"run {started.run.id} -> {started.run.path}", file=sys.stderr)
        print(started.run.id)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tuner", description="Tuner: finetune, evaluate and try adapters.")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train from a recipe (same path as the page's Train button)")
    t.add_argument("recipe", help="recipe YAML path or name in recipes/")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting, e.g. train.epochs=2")
    t.add_argument("--name", help="display name for the run")
    t.add_argument("--no-wait", action="store_true", help="start (or queue) and return the run id")
    t.add_argument("--gpus", help="GPUs to train on: all (default), none, or ids such as 0,1 (one process each)")
    t.add_argument("--processes", type=int, help="training processes; on the CPU N > 1 = data parallel over gloo")
    t.add_argument("--accelerate-config", metavar="FILE", help="an accelerate config file (multi-node, DeepSpeed, FSDP) passed through to accelerate launch")
    t.add_argument("--estimate", action="store_true", help="print the time and memory estimates for this run and exit")
    t.add_argument("--no-estimate", action="store_true", help="start without the speed probe that estimates the training time")
    t.set_defaults(fn=cmd_train)
    r = sub.add_parser("resume", help="resume an interrupted run from its newest complete checkpoint")
    r.add_argument("run")
    r.set_defaults(fn=cmd_resume)
    pr = sub.add_parser("predict", help="classify texts or a file with a finished run")
    pr.add_argument("run", help="run id or run folder")
    pr.add_argument("text", nargs="*")
    pr.add_argument("--file", help="a table to predict row by row")
    pr.add_argument("--out", help="where to write the predictions CSV")
    pr.add_argument("--all", action="store_true", help="print every label's probability")
    pr.set_defaults(fn=cmd_predict)
    e = sub.add_parser("eval", help="score a finished run on a labelled file")
    e.add_argument("run")
    e.add_argument("file")
    e.add_argument("--json", action="store_true")
    e.set_defaults(fn=cmd_eval)
    ls = sub.add_parser("runs", help="list runs, newest first")
    ls.add_argument("--limit", type=int, default=100, help="show the newest N runs (default 100)")
    ls.add_argument("--all", action="store_true", help="show every run")
    ls.set_defaults(fn=cmd_runs)
    de = sub.add_parser("delete", help="delete runs that are not training or queued, with all their files")
    de.add_argument("run", nargs="+", help="run id(s) or run folder(s)")
    de.set_defaults(fn=cmd_delete)
    st = sub.add_parser("stop", help="stop a training run cleanly")
    st.add_argument("run")
    st.set_defaults(fn=cmd_stop)
    ch = sub.add_parser("chat", help="talk to a finished chat run in the terminal (answers stream as they are written)")
    ch.add_argument("run", help="run id or run folder")
    ch.add_argument("-m", "--message", action="append", help="send this message instead of reading the terminal (repeatable: one turn each)")
    ch.add_argument("--system", help="system prompt (default: the one the run was trained with)")
    ch.add_argument("--temperature", type=float, default=0.7, help="0 = always the most likely token (default 0.7)")
    ch.add_argument("--top-p", type=float, default=0.9, help="sample from the smallest set of tokens with this total probability")
    ch.add_argument("--max-new-tokens", type=int, default=None, help="longest answer in tokens (default: the run's setting)")
    ch.add_argument("--stop", help="comma-separated strings that end an answer")
    ch.add_argument("--base", action="store_true", help="answer with the base model (adapter disabled) to compare")
    ch.set_defaults(fn=cmd_chat)
    ex = sub.add_parser("export", help="zip the adapter, merge it into the base model, write a demo Space, or push to the Hub")
    ex.add_argument("run", help="run id or run folder")
    ex.add_argument("--zip", metavar="FILE", help="write the PEFT adapter folder as a zip (the default when nothing else is asked)")
    ex.add_argument("--merge", metavar="DIR", help="merge the adapter into the base (reloaded in full precision) and save it as safetensors")
    ex.add_argument("--space", metavar="DIR", help="write a ready-to-push Hugging Face Space folder with a demo of this run")
    ex.add_argument("--push", metavar="USER/NAME", help="push to the Hugging Face Hub (HF_ENDPOINT is honoured)")
    ex.add_argument("--merged", action="store_true", help="with --push: push the merged model instead of the adapter")
    ex.add_argument("--push-space", action="store_true", help="with --push: push the demo Space instead of the adapter")
    ex.add_argument("--public", action="store_true", help="with --push: make the new repository public (default private)")
    ex.add_argument("--token-env", default="HF_TOKEN", metavar="VAR", help="environment variable holding the write token (default HF_TOKEN)")
    ex.set_defaults(fn=cmd_export)
    mi = sub.add_parser("mistakes", help="what a finished run gets wrong on its validation rows: a classifier's wrong "
                        "rows, a tagger's sentences with entity errors, a chat model's lowest-ROUGE-L answers")
    mi.add_argument("run", help="run id or run folder")
    mi.add_argument("--true", help="only rows whose true label is this (classifier)")
    mi.add_argument("--predicted", help="only rows predicted as this (classifier)")
    mi.add_argument("--type", help="only sentences with an error involving this entity type, e.g. PER (tagger)")
    mi.add_argument("--limit", type=int, default=50, help="rows or sentences to print (default 50)")
    mi.add_argument("--json", action="store_true")
    mi.add_argument("--refresh", action="store_true", help="score the validation rows again instead of the saved result")
    mi.set_defaults(fn=cmd_mistakes)
    li = sub.add_parser("label-issues", help="suspected label errors in a run's training rows, with suggested labels")
    li.add_argument("run", help="run id or run folder")
    li.add_argument("--evidence", type=evidence_choice, default=None, metavar="EVIDENCE",
                    help="what contradicts a label: classical (cross-validated TF-IDF model), embeddings "
                         "(cross-validated model on the base model's sentence embeddings), model (the finetuned run), "
                         "or parts joined by + (both = classical+model); default classical+embeddings+model, the measured best")
    li.add_argument("--limit", type=int, default=50, help="rows to print (default 50)")
    li.add_argument("--write", metavar="FILE", help="accept every suggestion (relabel the rows the evidence is sure "
                    "of, drop the others) and write the corrected training rows as CSV")
    li.add_argument("--train-again", action="store_true", help="accept every suggestion and start a run with the same settings on the corrected copy")
    every = li.add_mutually_exclusive_group()
    every.add_argument("--drop", action="store_true", help="with --write / --train-again: drop every flagged row "
                       "instead of following the suggestions")
    every.add_argument("--relabel", action="store_true", help="with --write / --train-again: relabel every flagged "
                       "row to its most likely label, sure or not (docs/quality.md: risky where the evidence is "
                       "often wrong)")
    li.add_argument("--json", action="store_true")
    li.add_argument("--refresh", action="store_true", help="rank again instead of the saved result")
    li.set_defaults(fn=cmd_label_issues)
    sv = sub.add_parser("serve", help="start the web app")
    sv.add_argument("--port", type=int)
    sv.set_defaults(fn=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except TunerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
