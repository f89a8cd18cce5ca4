"""Training throughput of the default classification recipe against two baselines (issue #6).

    python -m bench.train_throughput                    # SST-2 rows, MiniLM, 3 interleaved rounds
    python -m bench.train_throughput --rounds 5 --steps 40
    python -m bench.train_throughput --accuracy 8000    # also train competent and tuner on 8,000 rows (3 seeds), score dev.tsv and test.tsv
                                                        # (every variant named in --variants but naive)
    python -m bench.train_throughput --mfu              # add the ~100M BERT-base-sized model (random weights), at the
                                                        # recipe's batch and at --mfu-batch (128)

    ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 ATEN_CPU_CAPABILITY=avx2 python -m bench.train_throughput
                                                        # an AVX2-only CPU (no AVX-512, no AMX) emulated on an AMX one

Every variant computes in the precision `precision: auto` picks on this CPU (tuner.models.pick_precision; the
header says which): bf16 only where it is native (AMX, AVX512-BF16), fp32 elsewhere, where bf16 is emulated
and ~40x slower. The competent baseline is what a competent engineer writes for that CPU.
Variants (same rows, same model, same LoRA settings, same batch size):
  naive      fp32 weights, every batch padded to max length 128, a plain PyTorch loop
  competent  transformers Trainer + peft, DataCollatorWithPadding, train_sampling_strategy="group_by_length",
             fp32 weights; bf16 autocast where bf16 is native
  tuner      what `python -m tuner train` builds (same tuner functions): frozen weights in bf16 where bf16 is
             native, int8 products of the frozen weights while training on AVX2-only CPUs
             (tuner/cpu/frozen_int8.py), else fp32; fp32 adapter, eager attention on the CPU, no dropout masks, tight padding,
             length-grouped batches, fused AdamW, the last layer computed for the [CLS] position only
             (tuner/cpu/cls_layer.py), the LoRA sum as one addmm (tuner/cpu/lora_fused.py)
  tuner_fp32, tuner_int8fwd, tuner_int8, tuner_int8tensor
             the tuner variant with the frozen weights' products forced (frozen_int8 MODES: fp32; int8 forward only;
             int8 forward and per-row int8 input gradient; the same with one gradient scale per tensor)
Every variant runs under the glibc malloc thresholds Tuner sets for training (tuner/cpu/malloc.py): the
baselines gain from them too (bench/cpu_malloc.py), so the tuner / competent ratio leaves out Tuner's own gain.
Each round runs every variant for the same number of optimizer steps, A B C C B A ...; the table shows medians,
and a line after it the tuner / competent ratio of each round.
Padding efficiency = real tokens / processed tokens. Samples per CPU-second (the process's CPU time, every thread)
is the steadier figure where other work shares the cores; run with OMP_NUM_THREADS=1 to compare kernels alone.
Model-FLOPs utilisation (MFU) = the model's matmul FLOPs per token (forward 2N + input-gradient backward 2N for frozen weights, + 6 x the trainable adapter params,
+ attention scores; the work done, so the trimmed last layer counts one position) x tokens/s, divided by a
same-process matmul probe in the precision auto picks (the machine's practical peak in that format); the naive
variant, fp32 by definition, is measured against an fp32 probe.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.machine import cpu_header, precision_line
from tuner.cpu import malloc as cpu_malloc
from tuner.cpu.throughput import TokenCounter, flops_per_token, matmul_probe, plausible_mfu

ROOT = Path(__file__).resolve().parents[1]
SST2 = ROOT.parent / "shared" / "datasets" / "sst2"


def load_rows(n: int, seed: int = 0):
    import pandas as pd

    df = pd.read_csv(SST2 / "train.tsv", sep="\t", quoting=3)
    df = df.sample(n=min(n, len(df)), random_state=seed)
    return df.sentence.tolist(), df.label.astype(int).tolist()


def auto_precision() -> str:
    """What `precision: auto` picks here (bf16 only where the CPU has it natively)."""
    from tuner import models

    return models.pick_precision("auto")


class Variant:
    name = ""
    other_model = False  # the BERT-base-sized MFU variant
    precision = "auto"  # the number format it multiplies in (naive: fp32)

    def __init__(self, source: str, adapter, texts, labels, batch_size: int, seed: int = 0):
        self.source, self.adapter, self.texts, self.labels = source, adapter, texts, labels
        self.batch_size, self.seed = batch_size, seed

    def run(self, steps: int) -> dict:  # -> {"seconds", "samples", "real_tokens", "processed_tokens"}
        raise NotImplementedError


def _lora_model(source, adapter, n_labels, dtype, **kw):
    from tuner import models
    from tuner.tasks import get_task

    task = get_task("classification")
    meta = {"labels": [str(i) for i in range(n_labels)]}
    model = task.build_model(source, meta, dtype=dtype, **kw)
    model = models.attach_adapter(model, adapter, task.peft_task_type, task.modules_to_save(model))
    models.trainable_to_fp32(model)
    return model


class Naive(Variant):
    """fp32, padded to 128, plain loop, shuffled order."""

    name = "naive (fp32, pad 128, plain loop)"
    precision = "fp32"

    def setup(self):
        import torch

        from tuner import models

        self.tok = models.load_tokenizer(self.source)
        self.model = _lora_model(self.source, self.adapter, 2, None, first_token_only=False)
        self.model.train()
        self.opt = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=1e-3)
        self.order = list(range(len(self.texts)))
        random.Random(self.seed).shuffle(self.order)
        self.pos = 0

    def run(self, steps):
        import torch

        real = processed = 0
        t, c = time.perf_counter(), time.process_time()
        for _ in range(steps):
            idx = [self.order[(self.pos + i) % len(self.order)] for i in range(self.batch_size)]
            self.pos += self.batch_size
            enc = self.tok([self.texts[i] for i in idx], padding="max_length", truncation=True, max_length=128,
                           return_tensors="pt")
            out = self.model(**enc, labels=torch.tensor([self.labels[i] for i in idx]))
            out.loss.backward()
            self.opt.step()
            self.opt.zero_grad()
            real += int(enc["attention_mask"].sum())
            processed += enc["input_ids"].numel()
        return {"seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - c,
                "samples": steps * self.batch_size, "real_tokens": real,
                "processed_tokens": processed}


class _TrainerVariant(Variant):
    """Runs a transformers Trainer for `steps` optimizer steps per call, counting the tokens its collator made."""

    trainer = None  # the Trainer class; None = transformers' own

    def _trainer(self, model, collator, dataset, bf16: bool, group: bool, **extra):
        from transformers import Trainer, TrainingArguments

        self.counter = TokenCounter(collator)
        self.tmp = tempfile.mkdtemp(prefix="tuner-bench-")
        self.args = dict(output_dir=self.tmp, per_device_train_batch_size=self.batch_size, learning_rate=1e-3,
                         bf16=bf16, use_cpu=True, save_strategy="no", report_to=[], disable_tqdm=True,
                         logging_steps=10_000, dataloader_num_workers=0, remove_unused_columns=False,
                         train_sampling_strategy="group_by_length" if group else "random", seed=self.seed, **extra)
        self.model, self.dataset, self.make = model, dataset, (self.trainer or Trainer, TrainingArguments)

    def run(self, steps):
        Trainer, TrainingArguments = self.make
        self.counter.real = self.counter.processed = 0
        trainer = Trainer(model=self.model, args=TrainingArguments(max_steps=steps, **self.args),
                          train_dataset=self.dataset, data_collator=self.counter)
        t, c = time.perf_counter(), time.process_time()
        trainer.train()
        return {"seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - c,
                "samples": steps * self.batch_size,
                "real_tokens": self.counter.real, "processed_tokens": self.counter.processed}


class Competent(_TrainerVariant):
    name = "competent (Trainer, group_by_length, bf16 autocast where native)"

    def setup(self):
        from datasets import Dataset
        from transformers import DataCollatorWithPadding

        from tuner import models

        tok = models.load_tokenizer(self.source)
        enc = tok(self.texts, truncation=True, max_length=128)
        ds = Dataset.from_dict({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                                "token_type_ids": enc["token_type_ids"], "labels": self.labels})
        self._trainer(_lora_model(self.source, self.adapter, 2, None, first_token_only=False), DataCollatorWithPadding(tok), ds,
                      auto_precision() == "bf16", True)


class Tuner(_TrainerVariant):
    name = "tuner (default recipe path)"
    first_token_only = True  # the last layer for [CLS] only, as tuner's classification model is built
    extra = {"optim": "adamw_torch_fused"}  # as tuner/train.py
    frozen = "auto"  # frozen weights' products: tuner/cpu/frozen_int8.py's choice for this CPU

    def setup(self):
        from tuner import models
        from tuner.tasks import get_task
        from tuner.train import trainer_class

        self.trainer = trainer_class()
        task = get_task("classification")
        tok = models.load_tokenizer(self.source)
        ds = task.encode({"text": self.texts, "label": self.labels}, tok, 128)
        model = tuner_model(self.source, self.adapter, self.first_token_only, frozen=self.frozen)
        self._trainer(model, task.collator(tok), ds, auto_precision() == "bf16", True, **self.extra)


class TunerFp32(Tuner):
    name = "tuner, frozen weights fp32"
    frozen = "off"


class TunerInt8Fwd(Tuner):
    name = "tuner, frozen weights int8 forward, fp32 input gradient"
    frozen = "int8-fwd"


class TunerInt8(Tuner):
    name = "tuner, frozen weights int8 forward and per-row int8 input gradient"
    frozen = "int8"


class TunerInt8Tensor(Tuner):
    name = "tuner, frozen weights int8 forward and per-tensor int8 input gradient"
    frozen = "int8-tensor"


def tuner_model(source: str, adapter, first_token_only: bool = True, precision: str = "auto", frozen: str = "auto"):
    """The two-label MiniLM classifier with LoRA as `python -m tuner train` builds it on the CPU: frozen weights
    in the precision auto picks (bf16 where native, else fp32), fp32 adapter, eager attention, no dropout masks,
    compile auto (= off on a CPU)."""
    import torch

    from tuner import models

    bf16 = models.pick_precision(precision) == "bf16"
    model = _lora_model(source, adapter, 2, torch.bfloat16 if bf16 else None, first_token_only=first_token_only,
                        attn_implementation=models.fast_attention(), **models.no_dropout_overrides(source))
    models.ready_for_training(model, bf16, "auto", "cpu", frozen=frozen)
    return model


def bert_base_source(tmp: str) -> str:
    """A ~110M-parameter BERT-base-sized model with random weights, saved with the bundled tokenizer."""
    from transformers import BertConfig, BertForSequenceClassification

    from tuner import models

    src = models.resolve("default")
    cfg = BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                     intermediate_size=3072, num_labels=2)
    BertForSequenceClassification(cfg).save_pretrained(tmp, safe_serialization=True)
    models.load_tokenizer(src).save_pretrained(tmp)
    return tmp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=64, help="optimizer steps per round for the Trainer variants "
                    "(each round's Trainer set-up is counted, so short rounds understate the faster variant)")
    ap.add_argument("--slow-steps", type=int, default=8, help="steps per round for the naive and BERT-base variants")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--variants", default="naive,competent,tuner")
    ap.add_argument("--batch", type=int, default=0, help="batch size for every variant (default: the recipe's)")
    ap.add_argument("--mfu", action="store_true", help="also measure the tuner path on a BERT-base-sized model")
    ap.add_argument("--mfu-batch", type=int, default=128, help="with --mfu: also measure the BERT-base-sized model at "
                    "this batch size (0 = only the recipe's); a model of that size trains on larger batches, whose "
                    "matmuls use the CPU's matrix units better")
    ap.add_argument("--accuracy", type=int, default=0, help="train competent and tuner on N rows, score dev.tsv and test.tsv")
    ap.add_argument("--seeds", type=int, default=3, help="seeds (rows, initialisation, order) for --accuracy")
    args = ap.parse_args()
    cpu_malloc.keep_freed_memory()  # process-wide: every variant, as `python -m tuner train` does for Tuner
    print(cpu_header(), flush=True)
    print(precision_line(), flush=True)

    import torch

    from tuner import models
    from tuner.config import RunConfig

    torch.manual_seed(0)
    cfg = RunConfig.load(str(ROOT / "recipes" / "classification.yaml"))
    cfg.train.batch_size = args.batch or cfg.train.batch_size
    texts, labels = load_rows(args.rows)
    source = models.resolve("default")
    kinds = {"naive": Naive, "competent": Competent, "tuner": Tuner, "tuner_fp32": TunerFp32,
             "tuner_int8fwd": TunerInt8Fwd, "tuner_int8": TunerInt8, "tuner_int8tensor": TunerInt8Tensor}
    variants = [kinds[k](source, cfg.adapter, texts, labels, cfg.train.batch_size) for k in args.variants.split(",")]
    if args.mfu:
        bert = bert_base_source(tempfile.mkdtemp(prefix="tuner-bert-base-"))
        for batch in dict.fromkeys(b for b in (cfg.train.batch_size, args.mfu_batch) if b):
            big = Tuner(bert, cfg.adapter, texts, labels, batch)
            big.name = f"tuner, BERT-base-sized (110M, random init), batch {batch}"
            big.other_model = True  # MFU only: no ratio against the MiniLM baselines, few steps
            variants.append(big)
    for v in variants:
        v.setup()
        v.run(2)  # warm-up
    results = {v.name: [] for v in variants}
    probes: dict[str, list] = {p: [] for p in {auto_precision(), "fp32"}}
    for i in range(args.rounds):
        for p in probes:
            probes[p].append(matmul_probe(seconds=1.0, precision=p))
        for v in variants if i % 2 == 0 else variants[::-1]:  # A B C, C B A, ...: no variant always runs first
            slow = isinstance(v, Naive) or v.other_model
            results[v.name].append(v.run(args.slow_steps if slow else args.steps))
    peak = {p: statistics.median(v) for p, v in probes.items()}

    print(f"\nSST-2 train rows: {len(texts):,}; batch {cfg.train.batch_size}; {args.steps} steps ({args.slow_steps} for "
          f"naive/BERT-base) x {args.rounds} rounds per variant, interleaved (medians); LoRA r={cfg.adapter.r} on {cfg.adapter.target_modules or 'all projections'}; "
          + ", ".join(f"{p} matmul probe {v / 1e9:.0f} GFLOP/s" for p, v in peak.items())
          + f"; torch threads {torch.get_num_threads()}")
    print("| variant | samples/s | real tokens/s | padding efficiency | MFU | speed-up vs naive | vs competent "
          "| samples per CPU-second |")
    print("|---|---|---|---|---|---|---|---|")
    rate = {}
    for v in variants:
        rs = results[v.name]
        sps = statistics.median(r["samples"] / r["seconds"] for r in rs)
        tps = statistics.median(r["real_tokens"] / r["seconds"] for r in rs)
        eff = sum(r["real_tokens"] for r in rs) / sum(r["processed_tokens"] for r in rs)
        processed_len = sum(r["processed_tokens"] for r in rs) / sum(r["samples"] for r in rs)
        ptps = statistics.median(r["processed_tokens"] / r["seconds"] for r in rs)
        mfu = plausible_mfu(flops_per_token(v.model, processed_len) * ptps / peak[auto_precision() if v.precision == "auto" else v.precision])
        rate[v.name] = sps
        base = [rate.get(Naive.name), rate.get(Competent.name)]
        rel = [f"{sps / b:.2f}x" if b and not v.other_model else "-" for b in base]
        per_cpu = statistics.median(r["samples"] / r["cpu_seconds"] for r in rs)
        shown = "-" if mfu is None else f"{mfu:.0%}"  # above 100%: the probe missed the peak
        print(f"| {v.name} | {sps:,.0f} | {tps:,.0f} | {eff:.0%} | {shown} | {rel[0]} | {rel[1]} | {per_cpu:,.1f} |")
    for v in variants:
        if Competent.name not in rate or not isinstance(v, Tuner) or v.other_model:
            continue
        pairs = [t["samples"] / t["seconds"] / (c["samples"] / c["seconds"])
                 for t, c in zip(results[v.name], results[Competent.name])]
        print(f"{v.name} / competent per round: " + ", ".join(f"{p:.2f}x" for p in pairs)
              + f" (median {statistics.median(pairs):.2f}x)")
        cpu_pairs = [c["cpu_seconds"] / t["cpu_seconds"] for t, c in zip(results[v.name], results[Competent.name])]
        print("  in CPU-seconds (steadier on a shared machine; all threads' time): "
              + ", ".join(f"{p:.2f}x" for p in cpu_pairs) + f" (median {statistics.median(cpu_pairs):.2f}x)")
    if args.accuracy:
        trained = [kinds[k] for k in args.variants.split(",") if k != "naive"] or [Competent, Tuner]
        accuracy_table(args.accuracy, cfg, args.seeds, trained)


def scoring_splits() -> dict:
    """SST-2 dev.tsv (872 sentences) and, where it has labels, test.tsv (1,821), as DataFrames (label, content).
    One point on dev is ~1 standard error of one run, hence several seeds or the two splits together."""
    import pandas as pd

    splits = {name: pd.read_csv(SST2 / f"{name}.tsv", sep="\t", quoting=3) for name in ("dev", "test")
              if (SST2 / f"{name}.tsv").is_file()}
    return {name: df for name, df in splits.items() if "label" in df.columns and "content" in df.columns}


def score(model, tok, splits: dict) -> list[float]:
    """Accuracy of a classifier on each split (batches of 128, bf16 autocast where bf16 is native); leaves the
    model in eval mode."""
    import torch

    model.eval()
    row = []
    for df in splits.values():
        correct = 0
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=auto_precision() == "bf16"):
            for i in range(0, len(df), 128):
                enc = tok(df.content[i:i + 128].tolist(), padding=True, truncation=True, max_length=128,
                          return_tensors="pt")
                pred = model(**enc).logits.argmax(-1).numpy()
                correct += int((pred == df.label[i:i + 128].to_numpy()).sum())
        row.append(correct / len(df))
    return row


def accuracy_table(n: int, cfg, seeds: int, kinds=None) -> None:
    """Dev and test accuracy of the competent baseline and the tuner path (or `kinds`, Variant classes) after the
    same training rows, for several seeds (each seed draws its own rows, head initialisation and order); the table
    shows the means, and each seed's line its scores."""
    import torch

    from tuner import models

    splits = scoring_splits()
    source = models.resolve("default")
    tok = models.load_tokenizer(source)
    scores: dict[str, list] = {}
    seconds: dict[str, list] = {}
    for seed in range(1, seeds + 1):
        texts, labels = load_rows(n, seed=seed)
        for kind in kinds or (Competent, Tuner):  # the same rows, order and seed for each
            torch.manual_seed(seed)
            v = kind(source, cfg.adapter, texts, labels, cfg.train.batch_size, seed=seed)
            v.setup()
            seconds.setdefault(v.name, []).append(v.run(n // cfg.train.batch_size)["seconds"])
            row = score(v.model, tok, splits)
            scores.setdefault(v.name, []).append(row)
            print(f"  seed {seed} {v.name}: " + ", ".join(f"{k} {a:.4f}" for k, a in zip(splits, row)), flush=True)
            del v
    print(f"\nAccuracy after {n:,} training rows (1 epoch, lr {cfg.train.learning_rate:g}, batch "
          f"{cfg.train.batch_size}; mean of {seeds} seeds, each its own rows and initialisation):")
    print("| variant | train s (median) | " + " | ".join(f"{name} accuracy" for name in splits) + " | dev + test |")
    print("|---|---|" + "---|" * (len(splits) + 1))
    sizes = [len(df) for df in splits.values()]
    for name, rows in scores.items():
        means = [statistics.mean(r[j] for r in rows) for j in range(len(splits))]
        pooled = statistics.mean(sum(a * s for a, s in zip(r, sizes)) / sum(sizes) for r in rows)
        print(f"| {name} | {statistics.median(seconds[name]):.0f} | " + " | ".join(f"{m:.4f}" for m in means)
              + f" | {pooled:.4f} |")


if __name__ == "__main__":
    main()
