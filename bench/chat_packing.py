"""Sequence packing on vs. off for the chat task: same recipe, same data, tokens per second (issue #3).

    python -m bench.chat_packing                       # recipes/chat-tiny.yaml on 600 Alpaca rows, max length 512
    python -m bench.chat_packing --rows 2000 --set model.max_length=1024
    python -m bench.chat_packing --data assets/support_chat.jsonl --rows 0 --set train.epochs=4

Both runs go through the page's path (`python -m tuner train <recipe>`, an `accelerate launch` child). Packing
puts several conversations into each max-length row (each still attends only to itself), so the same tokens
take fewer, fuller rows. Prints one table: rows after packing, optimizer steps, real (non-padding) tokens
trained on, the Trainer loop's seconds, real tokens per second, and the held-out loss at the end; a third row
trains unpacked with random batches instead of the recipe's length-grouped ones. Each setting runs --repeats
times, interleaved, and the fastest run is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tuner.runs import Run

ROOT = Path(__file__).resolve().parents[1]
ALPACA = ROOT.parent / "shared" / "datasets" / "alpaca" / "alpaca_5000.json"


def run_one(packing: bool, args, extra: list[str] = (), label: str = "") -> dict:
    runs_dir = ROOT / "bench" / "out" / "runs"
    env = dict(os.environ, TUNER_RUNS_DIR=str(runs_dir))
    overrides = [f"data.train_file={args.data}", f"data.max_train_rows={args.rows}", f"chat.packing={str(packing).lower()}",
                 "chat.eval_samples=0", "train.evals=0", *args.set, *extra]
    argv = [sys.executable, "-m", "tuner", "train", args.recipe, "--name", f"bench-packing-{'on' if packing else 'off'}"]
    for item in overrides:
        argv += ["--set", item]
    t0 = time.time()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.time() - t0
    run_line = next((ln for ln in proc.stderr.splitlines() if ln.startswith("run ")), "")
    if proc.returncode != 0 or not run_line:
        print(proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"packing={packing}: training failed (exit {proc.returncode})")
    run_dir = Path(run_line.split("-> ", 1)[1])
    m = json.loads((run_dir / "metrics.json").read_text())
    config = (run_dir / "config.yaml").read_text()
    epochs = float(next(ln.split(":", 1)[1] for ln in config.splitlines() if ln.strip().startswith("epochs:")))
    data = m["data"]["training"]
    tokens = int(data["tokens"] * epochs)
    mfu = [e["mfu"] for e in Run(run_dir).events() if e.get("type") == "progress" and "mfu" in e]
    return {"packing": label or ("on" if packing else "off"), "mfu": statistics.median_high(mfu) if mfu else None,
            "conversations": data["conversations"], "rows": data["rows"],
            "steps": m["steps"], "tokens": tokens, "train_s": m["train_seconds"], "tok_s": tokens / m["train_seconds"],
            "eval_loss": m["eval_loss"], "wall_s": wall, "run": run_dir.name}


def mfu_cell(mfu: float | None) -> str:
    """The median of the run's live MFU readings (tuner.cpu.throughput: executed matmul FLOPs vs a same-run probe)."""
    return "–" if mfu is None else f"{100 * mfu:.0f}%"


def clean_alpaca(path: Path) -> tuple[Path, int]:
    """A copy of the Alpaca file without the records whose output is empty (the task refuses those, naming them)."""
    records = json.loads(path.read_text(encoding="utf-8"))
    kept = [r for r in records if str(r.get("output", "")).strip() and str(r.get("instruction", "")).strip()]
    out = ROOT / "bench" / "out" / "alpaca_clean.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), encoding="utf-8")
    return out, len(records) - len(kept)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recipe", default="recipes/chat-tiny.yaml")
    ap.add_argument("--data", default=str(ALPACA), help="training file (default: 5,000 Alpaca records from ../shared)")
    ap.add_argument("--rows", type=int, default=600, help="training rows sampled from the file (0 = all)")
    ap.add_argument("--set", action="append", default=["train.epochs=1"], help="extra override for every run")
    ap.add_argument("--repeats", type=int, default=2, help="runs per setting, interleaved; the fastest is reported")
    args = ap.parse_args()
    if not Path(args.data).is_file():
        raise SystemExit(f"training file not found: {args.data}")
    if Path(args.data) == ALPACA:
        cleaned, dropped = clean_alpaca(ALPACA)
        print(f"{ALPACA.name}: {dropped} record(s) with an empty output left out -> {cleaned}", file=sys.stderr)
        args.data = str(cleaned)
    # The recipe batches conversations of similar length together (train.group_by_length), which already removes
    # most padding; the middle row shows what packing competes with when batches are drawn at random.
    configs = [(False, [], "off"), (False, ["train.group_by_length=false"], "off, random batches"), (True, [], "on")]
    # Interleaved repeats, best (least disturbed) time kept: a shared CPU makes single timings swing by 2x.
    best: dict[str, dict] = {}
    for _ in range(args.repeats):
        for packing, extra, label in configs:
            r = run_one(packing, args, extra, label)
            print(f"packing {label}: {r['tok_s']:,.0f} real tokens/s, {r['train_s']:.1f} s, run {r['run']}", file=sys.stderr)
            if label not in best or r["train_s"] < best[label]["train_s"]:
                best[label] = r
    results = [best[label] for _, _, label in configs]
    print(f"\nrecipe {args.recipe} · data {Path(args.data).name} · rows {args.rows or 'all'} · overrides {' '.join(args.set)}"
          f" · best of {args.repeats}\n")
    print("| packing | conversations | rows | steps | real tokens | train s | real tokens/s | MFU | held-out loss |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['packing']} | {r['conversations']:,} | {r['rows']:,} | {r['steps']} | {r['tokens']:,} | "
              f"{r['train_s']:.1f} | {r['tok_s']:,.0f} | {mfu_cell(r['mfu'])} | {r['eval_loss']:.3f} |")
    off, _, on = results
    print(f"\npacking: {on['tok_s'] / off['tok_s']:.2f}x the real tokens per second "
          f"({off['steps']} -> {on['steps']} steps); runs {off['run']}, {on['run']}")


if __name__ == "__main__":
    main()
