"""Batch prediction of a file: how the rows are batched and which attention kernel runs, interleaved.

    python -m bench.file_prediction                       # a fresh LoRA adapter on the bundled MiniLM
    python -m bench.file_prediction --run runs/<id>       # a trained classification run

One `tuner.inference.Predictor` predicts ../shared/datasets/sst2/dev.tsv (872 sentences) under each setting in
turn, A B C A B C ... for `--rounds` rounds (after one warm-up pass each); the timed pass is the Try-it tab's
file path (`Predictor.predict_file`: read the table, predict, write the CSV). Settings:
  * before: SDPA attention, batches of up to 256 rows padded to a multiple of 8 (the batching and kernel before
    this bench; the padding itself is already the faster one in every setting);
  * each change alone, and
  * now: eager attention (models.fast_attention on the CPU), batches of up to 64 rows padded to the longest.
Prints one table: rows per batch, pad multiple, attention, real/padded tokens, median rows/s, ratio to
"before", and the share of labels equal to "before".
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "datasets" / "sst2" / "dev.tsv"

# name: (attention, rows per batch, pad multiple)
SETTINGS = {"before": ("sdpa", 256, 8), "eager attention only": ("eager", 256, 8),
            "64-row batches only": ("sdpa", 64, 1), "now": ("eager", 64, 1)}


def padding_share(lengths: list[int], batch_size: int, multiple: int, budget: int = 8192) -> float:
    """Real / padded tokens of the batches ClassificationTask.predict cuts from these token lengths."""
    from tuner.tasks.common import length_batches

    padded = sum(len(idx) * width for idx, width in length_batches(lengths, batch_size, budget, multiple))
    return sum(lengths) / padded


def file_rates(setups: dict, rounds: int) -> tuple[dict, dict]:
    """Time `Predictor.predict_file` on DEV for each setup (name -> a function that readies and returns the
    Predictor to use), A B A B ...: one warm-up pass each (oneDNN builds its kernels per shape), whose labels are
    kept, then one timed pass per round. Returns ({name: predicted labels}, {name: [rows/s per round]})."""
    import pandas as pd

    out = Path(tempfile.mkdtemp(prefix="tuner-fp-"))
    labels, rates = {}, {name: [] for name in setups}
    for name, ready in setups.items():
        ready().predict_file(DEV, out / "p.csv")
        labels[name] = pd.read_csv(out / "p.csv").predicted_label
    for _ in range(rounds):
        for name, ready in setups.items():
            pred = ready()
            t = time.perf_counter()
            rows = pred.predict_file(DEV, out / "p.csv")["rows"]
            rates[name].append(rows / (time.perf_counter() - t))
    return labels, rates


def main() -> None:
    import pandas as pd

    from tuner import runs
    from tuner.inference import Predictor

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", help="a trained classification run folder (default: a fresh adapter)")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if args.run:
        run = runs.Run(Path(args.run).resolve())
    else:
        import os

        os.environ.setdefault("TUNER_RUNS_DIR", tempfile.mkdtemp(prefix="tuner-fp-runs-"))
        from bench.demo_latency import make_classifier_run

        run = make_classifier_run()
    pred = Predictor(run)
    task_predict = pred.task.predict
    texts = [t for t in pd.read_csv(DEV, sep="\t").content.astype(str)]
    lengths = [len(ids) for ids in pred.tokenizer(texts, truncation=True, max_length=pred.max_length)["input_ids"]]

    def use(name: str):
        attention, rows, multiple = SETTINGS[name]
        for model in (pred.model, pred._batch_model):  # the int8 copy of an AVX2-only CPU, once made
            if model is not None:
                model.set_attn_implementation(attention)
        pred.task.predict = functools.partial(task_predict, batch_size=rows, pad_multiple=multiple)
        return pred

    labels, rates = file_rates({name: functools.partial(use, name) for name in SETTINGS}, args.rounds)
    before = statistics.median(rates["before"])
    from bench.demo_latency import file_format
    from bench.machine import cpu_header

    print(f"\n{cpu_header()}; file batches in {file_format(pred)}")
    print(f"File prediction, SST-2 dev.tsv ({len(texts)} rows, {sum(lengths):,} tokens), {args.rounds} interleaved rounds, medians")
    print("| setting | rows per batch | pad multiple | attention | real / padded tokens | rows/s | vs before | labels = before |")
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    for name, (attention, rows, multiple) in SETTINGS.items():
        rate = statistics.median(rates[name])
        agree = (labels[name] == labels["before"]).mean()
        print(f"| {name} | {rows} | {multiple} | {attention} | {padding_share(lengths, rows, multiple):.0%} | "
              f"{rate:,.0f} | {rate / before:.2f}x | {agree:.2%} |")


if __name__ == "__main__":
    main()
