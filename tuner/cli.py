"""`python -m tuner train|predict|eval|runs|stop|resume|serve ...` — the same code paths as the page."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .errors import TunerError

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


def recipe_path(name: str) -> Path:
    """A recipe by path, or by bare name from the recipes/ folder."""
    p = Path(name)
    if p.is_file():
        return p
    candidate = RECIPES / (name if name.endswith(".yaml") else f"{name}.yaml")
    if candidate.is_file():
        return candidate
    known = ", ".join(sorted(q.stem for q in RECIPES.glob("*.yaml")))
    raise TunerError(f"No recipe '{name}'; give a YAML path or one of: {known}.")


def find_run(ref: str):
    from .runs import Run, get_run

    p = Path(ref)
    if p.is_dir() and (p / "config.yaml").is_file():
        return Run(p.resolve())
    return get_run(ref)


def follow(run, manager, out=sys.stderr) -> dict:
    """Print a progress bar from the run's events until the process ends; Ctrl-C stops cleanly."""
    from tqdm import tqdm

    bar = tqdm(total=None, unit="step", file=out, dynamic_ncols=True, desc=run.id, mininterval=1.0)
    last_loss = None
    try:
        while manager.is_active(run) or run.state in ("queued", "running"):
            prog = run.progress()
            if prog["total_steps"] and bar.total != prog["total_steps"]:
                bar.total = prog["total_steps"]
                bar.refresh()
            if prog["train"]:
                last_loss = prog["train"][-1]["loss"]
                bar.set_postfix(loss=f"{last_loss:.4f}", refresh=False)
            bar.update(max(0, prog["step"] - bar.n))
            if not manager.is_active(run) and run.state in ("queued", "running"):
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping cleanly (the adapter will be saved)…", file=out)
        manager.stop(run)
        manager.wait(run)
    prog = run.progress()
    bar.update(max(0, prog["step"] - bar.n))
    bar.close()
    return prog


def summarize(report: dict) -> str:
    if not report:
        return "No evaluation report."
    if "evaluation_error" in report:
        return report["evaluation_error"]
    lines = [f"{k:>16}: {report[k]:.4f}" for k in ("accuracy", "macro_f1", "precision", "recall") if k in report]
    if "baseline" in report:
        b = report["baseline"]
        lines.append(f"{'baseline':>16}: accuracy {b['accuracy']:.4f}, macro_f1 {b['macro_f1']:.4f} ({b['name']})")
    for row in report.get("per_label", []):
        lines.append(f"  {row['label'][:24]:>24}  P {row['precision']:.3f}  R {row['recall']:.3f}  F1 {row['f1']:.3f}  n={row['support']}")
    return "\n".join(lines)


def cmd_train(args) -> int:
    from . import jobs, runs
    from .config import load_recipe

    cfg = load_recipe(recipe_path(args.recipe), args.set)
    run = runs.create_run(cfg, name=args.name or "")
    print(f"run {run.id} -> {run.path}", file=sys.stderr)
    mgr = jobs.manager()
    mgr.submit(run)
    if args.no_wait:
        print(run.id)
        return 0
    follow(run, mgr)
    status = run.status()
    print(f"{status.get('state')}: {status.get('message', '')}", file=sys.stderr)
    print(summarize(run.metrics() or {}))
    return 0 if status.get("state") in ("completed", "stopped") else 1


def cmd_resume(args) -> int:
    from . import jobs

    run = find_run(args.run)
    if run.state not in ("interrupted", "stopped", "failed"):
        raise TunerError(f"Run {run.id} is {run.state}; only interrupted, stopped or failed runs can be resumed.")
    mgr = jobs.manager()
    mgr.submit(run, resume=True)
    follow(run, mgr)
    print(summarize(run.metrics() or {}))
    return 0 if run.state in ("completed", "stopped") else 1


def cmd_predict(args) -> int:
    from .inference import get_predictor

    pred = get_predictor(find_run(args.run))
    if args.file:
        out = args.out or str(Path(args.file).with_suffix("")) + ".predictions.csv"
        info = pred.predict_file(args.file, out)
        print(json.dumps(info, indent=1))
        return 0
    if not args.text:
        raise TunerError("Give one or more texts to classify, or --file with a table.")
    for text, probs in zip(args.text, pred.predict(args.text)):
        top = next(iter(probs))
        print(f"{top}\t{probs[top]:.4f}\t{text[:80]}")
        if args.all:
            print(json.dumps(probs, indent=1))
    return 0


def cmd_eval(args) -> int:
    from .inference import get_predictor

    report = get_predictor(find_run(args.run)).evaluate_file(args.file)
    print(json.dumps(report, indent=1) if args.json else summarize(report))
    return 0


def cmd_runs(args) -> int:
    from .runs import list_runs

    for run in list_runs():
        st = run.status()
        m = run.metrics() or {}
        score = f"acc {m['accuracy']:.3f}" if "accuracy" in m else ""
        print(f"{run.id}  {st.get('state', ''):<11} {score:<10} {st.get('name', '')}")
    return 0


def cmd_stop(args) -> int:
    run = find_run(args.run)
    if run.state != "running":
        raise TunerError(f"Run {run.id} is not training (it is {run.state}).")
    run.stop_path.write_text("stop requested\n")
    print(f"Asked run {run.id} to stop at the next step.")
    return 0


def cmd_serve(args) -> int:
    import runpy

    sys.argv = ["app.py", *(["--port", str(args.port)] if args.port else [])]
    runpy.run_path(str(Path(__file__).resolve().parent.parent / "app.py"), run_name="__main__")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tuner", description="Tuner: finetune, evaluate and try adapters.")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train from a recipe (same path as the page's Train button)")
    t.add_argument("recipe", help="recipe YAML path or name in recipes/")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting, e.g. train.epochs=2")
    t.add_argument("--name", help="display name for the run")
    t.add_argument("--no-wait", action="store_true", help="start (or queue) and return the run id")
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
    ls = sub.add_parser("runs", help="list runs")
    ls.set_defaults(fn=cmd_runs)
    st = sub.add_parser("stop", help="stop a training run cleanly")
    st.add_argument("run")
    st.set_defaults(fn=cmd_stop)
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
