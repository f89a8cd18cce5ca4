"""The last encoder layer computed for the [CLS] position only (tuner/cpu/cls_layer.py), on and off, interleaved.

    python -m bench.first_token_layer                       # training samples/s (SST-2 rows, the default recipe's LoRA)
    python -m bench.first_token_layer --run runs/<id>       # also file prediction rows/s on SST-2 dev.tsv with that run

Training: the tuner path of bench/train_throughput.py with and without the trimmed layer, A B A B ... for
`--rounds` rounds of `--steps` steps. Prediction: two Predictors of the same run, one loading the model with the
full last layer; each predicts dev.tsv once per round; the share of equal labels is printed. Prints one table of medians.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from bench import train_throughput as tt

ROOT = Path(__file__).resolve().parents[1]


class FullLastLayer(tt.Tuner):
    name = "tuner path, full last layer"
    first_token_only = False


def training(args) -> list[tuple[str, float, float]]:
    from tuner import models
    from tuner.config import RunConfig

    cfg = RunConfig.load(str(ROOT / "recipes" / "classification.yaml"))
    texts, labels = tt.load_rows(args.rows)
    variants = [kind(models.resolve("default"), cfg.adapter, texts, labels, cfg.train.batch_size)
                for kind in (tt.Tuner, FullLastLayer)]
    for v in variants:
        v.setup()
        v.run(2)
    rates = {v.name: [] for v in variants}
    for _ in range(args.rounds):
        for v in variants:
            out = v.run(args.steps)
            rates[v.name].append(out["samples"] / out["seconds"])
    on, off = (rates[v.name] for v in variants)
    return [("training samples/s", statistics.median(on), statistics.median(off))]


def prediction(args) -> list[tuple[str, float, float]]:
    import tuner.tasks.classification as classification
    from bench.file_prediction import file_rates
    from tuner import runs
    from tuner.inference import Predictor

    run = runs.Run(Path(args.run).resolve())
    trimmed = Predictor(run)
    build = classification.ClassificationTask.build_model
    classification.ClassificationTask.build_model = lambda self, *a, **k: build(self, *a, **{**k, "first_token_only": False})
    try:
        full = Predictor(run)
    finally:
        classification.ClassificationTask.build_model = build
    labels, rates = file_rates({"on": lambda: trimmed, "off": lambda: full}, args.rounds)
    print(f"labels agree on {(labels['on'] == labels['off']).mean():.2%} of the {len(labels['on'])} dev rows")
    return [("file prediction rows/s (SST-2 dev)", statistics.median(rates["on"]), statistics.median(rates["off"]))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=8000)
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--run", help="a trained classification run folder: also time file prediction")
    args = ap.parse_args()
    rows = training(args) + (prediction(args) if args.run else [])
    from bench.machine import cpu_header, precision_line

    print(f"\n{cpu_header()}\n{precision_line()}")
    print(f"Last layer for [CLS] only vs the full layer; {args.rounds} interleaved rounds, medians")
    print("| measure | [CLS] only | full last layer | ratio |")
    print("|---|---:|---:|---:|")
    for measure, on, off in rows:
        print(f"| {measure} | {on:,.0f} | {off:,.0f} | {on / off:.2f}x |")


if __name__ == "__main__":
    main()
