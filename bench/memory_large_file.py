"""Peak memory of a training run and of the Data tab on a large upload (issue #23).

Generates two 1,000,000-row CSVs under /tmp (never in the repo): one of ~180-character texts (~188 MB, 4 labels)
and one of short texts (~10 MB). For each it measures, in fresh processes:

- the Data tab's path: `tuner.data.read_table` alone, then `task.inspect` + the language check on the table
  (peak RSS of the process, and what the table holds once read);
- a training run: `python -m tuner train recipes/classification.yaml` with the bundled default model, capped at
  `train.max_examples=64` so it is short, with a time estimate off (`--no-estimate`). The whole process tree is
  polled (psutil, every 50 ms): the peak of its summed RSS, the peak of each process (the CLI, accelerate's
  launcher, the `tuner.train` child), and the child's peak within each phase it announces (reading, tokenizing,
  baseline, loading, training, evaluating), from the run's events.jsonl.

    python -m bench.memory_large_file                        # this checkout
    python -m bench.memory_large_file --repo /tmp/before     # another checkout (e.g. `git archive` of an older commit)
    python -m bench.memory_large_file --rows 200000 --only big --skip-train

Figures: docs/performance.md ("Memory on a large upload").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from bench.machine import cpu_name

REPO = Path(__file__).resolve().parents[1]
MB = 1024 ** 2

WORDS = ("the a my order account card refund parcel app login password email invoice delivery payment error screen "
         "update settings address number please thanks again still never today week month charged twice late "
         "broken missing wrong help need want cannot when why how where which after before since").split()
TOPIC = {"billing": "charged refund invoice payment fee receipt billed".split(),
         "shipping": "parcel courier delivery tracking shipped warehouse box".split(),
         "technical": "crash error freeze bug update login timeout".split(),
         "account": "username profile delete close account settings verify".split()}


def make_long(path: Path, rows: int, seed: int = 0) -> Path:
    """`rows` support tickets of ~180 characters, 4 labels (~188 MB for 1,000,000 rows)."""
    import numpy as np

    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    labels = list(TOPIC)
    lab = rng.integers(0, len(labels), rows)
    words = np.array(WORDS)
    tmp = path.with_suffix(".part")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("text,label\n")
        for start in range(0, rows, 10_000):
            n = min(10_000, rows - start)
            body = words[rng.integers(0, len(words), (n, 30))]
            key = rng.integers(0, 7, (n, 3))
            out = []
            for i in range(n):
                name = labels[lab[start + i]]
                topic = " ".join(TOPIC[name][k] for k in key[i])
                text = (topic + " " + " ".join(body[i]))[:173]
                out.append(f'"{text}, ok",{name}\n')
            fh.write("".join(out))
    tmp.rename(path)
    return path


def make_short(path: Path, rows: int, seed: int = 1) -> Path:
    """`rows` short texts (one or two words) with 3 labels (~10 MB for 1,000,000 rows)."""
    import numpy as np

    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    words = np.array(WORDS)
    tmp = path.with_suffix(".part")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("text,label\n")
        for start in range(0, rows, 50_000):
            n = min(50_000, rows - start)
            w = words[rng.integers(0, len(words), (n, 2))]
            lab = rng.integers(0, 3, n)
            fh.write("".join(f"{w[i, 0][:4]} {w[i, 1][:3]},{'abc'[lab[i]]}\n" for i in range(n)))
    tmp.rename(path)
    return path


DATA_TAB = textwrap.dedent("""
    import json, os, resource, sys, time
    def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    def now():
        with open('/proc/self/status') as fh:
            return next(int(l.split()[1]) for l in fh if l.startswith('VmRSS:')) / 1024
    from tuner import data, language
    from tuner.config import RunConfig
    from tuner.tasks import get_task
    out = {"imports_mb": peak()}
    t0 = time.perf_counter()
    table = data.read_table(sys.argv[1])
    out.update(read_peak_mb=peak(), read_held_mb=now(), read_seconds=time.perf_counter() - t0, rows=len(table.df))
    task = get_task("classification")
    p = task.propose(table.df)
    cfg = RunConfig.from_dict({"task": "classification", "data": {"text_columns": p["text_columns"], "label_column": p["label_column"]}})
    t0 = time.perf_counter()
    info = task.inspect(table.df, cfg)
    language.check_table(table.df, info["text_columns"], "default")
    data.preview(table.df)
    out.update(inspect_peak_mb=peak(), inspect_seconds=time.perf_counter() - t0)
    print("RESULT " + json.dumps(out))
""")


def data_tab(repo: Path, path: Path, env: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", DATA_TAB, str(path)], cwd=repo, env=env, capture_output=True,
                          text=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}
    return json.loads(line[7:])


READER = textwrap.dedent("""
    import io, json, resource, sys, time
    import pandas as pd
    def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    path, how = sys.argv[1], sys.argv[2]
    base, t0 = peak(), time.perf_counter()
    kw = dict(sep=",", dtype=str, keep_default_na=False, engine="c", quotechar='"')
    if how == "str":  # what tuner.data does on 2026-12-03: decode, then pandas reads an io.StringIO of the text
        df = pd.read_csv(io.StringIO(open(path, "rb").read().decode("utf-8")), **kw)
    elif how == "bytes":
        df = pd.read_csv(io.BytesIO(open(path, "rb").read()), encoding="utf-8", **kw)
    else:
        df = pd.read_csv(path, encoding="utf-8", **kw)
    print("RESULT " + json.dumps({"peak_mb": peak() - base, "seconds": time.perf_counter() - t0, "rows": len(df)}))
""")


def reader_variants(path: Path, env: dict) -> dict:
    """Peak RSS over a bare pandas process of pd.read_csv (C engine) fed a str, the bytes, or the path."""
    out = {}
    for how in ("str", "bytes", "path"):
        proc = subprocess.run([sys.executable, "-c", READER, str(path), how], env=env, capture_output=True, text=True)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        out[how] = json.loads(line[7:]) if line else {"error": proc.stderr.strip().splitlines()[-1:]}
    return out


ENCODE = textwrap.dedent("""
    import gc, json, resource, sys, time
    import pandas as pd
    def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    path, rows, how = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    df = pd.read_csv(path, nrows=rows, dtype=str, keep_default_na=False)
    split = {"text": [str(x) for x in df["text"]], "label": [hash(x) % 4 for x in df["label"]]}
    del df
    from datasets import Dataset
    from tuner import models
    from tuner.tasks import get_task
    tok = models.load_tokenizer(models.resolve("default"))
    def one_call(split):  # before issue #23: one tokenizer call on every row, then Dataset.from_dict
        enc = tok(split["text"], truncation=True, max_length=128)
        cols = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": split["label"]}
        cols.update({"token_type_ids": enc["token_type_ids"]} if "token_type_ids" in enc else {})
        return Dataset.from_dict(cols)
    encode = one_call if how == "one call" else (lambda s: get_task("classification").encode(s, tok, 128))
    encode({k: v[:2000] for k, v in split.items()}); gc.collect()  # imports and pools warm
    base, t0 = peak(), time.perf_counter()
    ds = encode(split)
    print("RESULT " + json.dumps({"peak_mb": peak() - base, "seconds": time.perf_counter() - t0,
                                  "arrow_mb": ds.data.nbytes / 2 ** 20}))
""")


def encode_variants(path: Path, rows: int, env: dict, only_now: bool = False) -> dict:
    """Peak RSS of tokenizing `rows` rows: one tokenizer call (before) against the task's Arrow encode (now)."""
    out = {}
    for how in ("task.encode",) if only_now else ("one call", "task.encode"):
        proc = subprocess.run([sys.executable, "-c", ENCODE, str(path), str(rows), how], env=env, capture_output=True,
                              text=True)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        out[how] = json.loads(line[7:]) if line else {"error": proc.stderr.strip().splitlines()[-1:]}
    return out


def role(cmdline: list[str]) -> str:
    text = " ".join(cmdline)
    if "accelerate" in text:  # `accelerate launch ... -m tuner.train ...`
        return "launcher"
    if "tuner.train" in text:
        return "child"
    return "cli"


def train_tree(repo: Path, path: Path, env: dict, extra: list[str], timeout: float) -> dict:
    """Peak RSS of `python -m tuner train` and its descendants, polled; the child's peak per phase."""
    import psutil

    runs = Path(env["TUNER_RUNS_DIR"])
    before = set(runs.iterdir()) if runs.exists() else set()
    cmd = [sys.executable, "-m", "tuner", "train", "recipes/classification.yaml", "--no-estimate",
           "--set", f"data.train_file={path}", "--set", "train.max_examples=64", *extra]
    t0 = time.time()
    log = open(runs.parent / "cli-output.txt", "w+", encoding="utf-8")  # a file, not a pipe: its progress lines never block it
    proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    top = psutil.Process(proc.pid)
    peaks: dict[str, float] = {}
    tree_peak = 0.0
    timeline: list[tuple[float, float]] = []  # (time, child RSS MB)
    timed_out = False
    while proc.poll() is None:
        if time.time() - t0 > timeout:
            timed_out = True
            for p in top.children(recursive=True):
                p.kill()
            proc.kill()
            break
        total, child = 0.0, None
        try:
            procs = [top, *top.children(recursive=True)]
        except psutil.Error:
            procs = [top]
        for p in procs:
            try:
                rss = p.memory_info().rss / MB
                who = role(p.cmdline())
            except psutil.Error:
                continue
            total += rss
            peaks[who] = max(peaks.get(who, 0.0), rss)
            if who == "child":
                child = rss
        tree_peak = max(tree_peak, total)
        if child is not None:
            timeline.append((time.time(), child))
        time.sleep(0.05)
    proc.wait()
    log.seek(0)
    output = log.read()
    log.close()
    new = sorted(set(runs.iterdir()) - before) if runs.exists() else []
    phases: dict[str, float] = {}
    starts: dict[str, float] = {}  # the child's RSS when each phase began
    message = ""
    if new:
        events = [json.loads(x) for x in (new[-1] / "events.jsonl").read_text().splitlines() if x.strip()] \
            if (new[-1] / "events.jsonl").exists() else []
        marks = [(e["time"], e["phase"]) for e in events if e.get("type") == "phase"]
        for (start, name), (end, _) in zip(marks, [*marks[1:], (float("inf"), "")]):
            inside = [rss for t, rss in timeline if start <= t < end]
            if inside:
                phases[name] = max(phases.get(name, 0.0), max(inside))
                starts.setdefault(name, inside[0])
        status = json.loads((new[-1] / "status.json").read_text()) if (new[-1] / "status.json").exists() else {}
        message = status.get("state", "") + ": " + status.get("message", "")
    return {"tree_peak_mb": tree_peak, "process_peak_mb": peaks, "phase_peak_mb": phases, "phase_start_mb": starts,
            "seconds": time.time() - t0, "timed_out": timed_out, "rc": proc.returncode, "status": message,
            "tail": [x[-300:] for x in output.replace("\r", "\n").strip().splitlines()[-3:]]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", default=str(REPO), help="checkout to measure (its `tuner` package is imported)")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "tuner-memory-bench"))
    ap.add_argument("--only", choices=["long", "short"], default=None)
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-data-tab", action="store_true")
    ap.add_argument("--readers", action="store_true", help="also time pandas' C engine fed a str, the bytes, the path")
    ap.add_argument("--encode", type=int, default=0, metavar="ROWS",
                    help="also tokenize ROWS rows of the long file: one tokenizer call (before) vs task.encode (now)")
    ap.add_argument("--encode-now-only", action="store_true", help="with --encode: only task.encode (1M rows in one "
                    "call take ~12 GB)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds before a training run is killed")
    ap.add_argument("--set", action="append", default=[], help="extra overrides for the run (key=value)")
    args = ap.parse_args()
    repo = Path(args.repo).resolve()
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TUNER_RUNS_DIR": str(work / "runs"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TUNER_TRAIN_SCHED": "normal",  # nice 19 only: a busy machine does not starve the measured run
           "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1", "PYTHONPATH": str(repo)}
    import psutil

    print(f"# memory on a large upload — {cpu_name()}, {os.cpu_count()} CPUs, "
          f"{psutil.virtual_memory().total / 1024 ** 3:.0f} GiB RAM; checkout {repo}; memory in MB of 2^20 bytes")
    files = {}
    if args.only in (None, "long"):
        files["long"] = make_long(work / f"long-{args.rows}.csv", args.rows)
    if args.only in (None, "short"):
        files["short"] = make_short(work / f"short-{args.rows}.csv", args.rows)
    extra = [x for kv in args.set for x in ("--set", kv)]
    for name, path in files.items():
        size = path.stat().st_size / MB
        print(f"\n## {name} texts: {path} ({args.rows:,} rows, {path.stat().st_size / 1e6:.1f} MB = {size:.1f} MiB)")
        if not args.skip_data_tab:
            r = data_tab(repo, path, env)
            if "error" in r:
                print(f"data tab: failed: {r['error']}")
            else:
                print(f"data tab: after imports {r['imports_mb']:.0f} MB; read_table peak {r['read_peak_mb']:.0f} MB "
                      f"({r['read_seconds']:.1f} s, table held {r['read_held_mb']:.0f} MB = "
                      f"{(r['read_peak_mb'] - r['imports_mb']) / size:.1f}x the file over imports); "
                      f"+ inspect peak {r['inspect_peak_mb']:.0f} MB ({r['inspect_seconds']:.1f} s)")
        if args.readers:
            for how, r in reader_variants(path, env).items():
                print(f"pd.read_csv from the {how}: " + (f"+{r['peak_mb']:.0f} MB ({r['peak_mb'] / size:.1f}x the file), "
                                                          f"{r['seconds']:.1f} s" if "peak_mb" in r else f"failed: {r['error']}"))
        if args.encode and name == "long":
            for how, r in encode_variants(path, args.encode, env, args.encode_now_only).items():
                print(f"tokenizing {args.encode:,} rows, {how}: " + (
                    f"+{r['peak_mb']:.0f} MB ({r['arrow_mb']:.0f} MB kept in Arrow), {r['seconds']:.0f} s"
                    if "peak_mb" in r else f"failed: {r['error']}"))
        if not args.skip_train:
            r = train_tree(repo, path, env, extra, args.timeout)
            procs = ", ".join(f"{k} {v:.0f}" for k, v in sorted(r["process_peak_mb"].items()))
            phases = ", ".join(f"{k} {v:.0f}" for k, v in r["phase_peak_mb"].items())
            print(f"train (max_examples=64): tree peak {r['tree_peak_mb']:.0f} MB; per process peak MB: {procs}; "
                  f"{r['seconds']:.0f} s, rc {r['rc']}{' (TIMED OUT)' if r['timed_out'] else ''}")
            print(f"  child peak by phase (MB): {phases}")
            if "reading" in r["phase_start_mb"] and "reading" in r["phase_peak_mb"]:
                start, top = r["phase_start_mb"]["reading"], r["phase_peak_mb"]["reading"]
                print(f"  reading phase: {start:.0f} MB at its start, +{top - start:.0f} MB "
                      f"({(top - start) * MB / path.stat().st_size:.1f}x the file)")
            print(f"  {r['status'][:300]}")
            if r["rc"] not in (0, None) or r["timed_out"]:
                print("  " + "\n  ".join(r["tail"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
