"""Label noise: flip a known share of the labels, see how many of the flipped rows the analysis flags, and whether
training on the corrected file scores at least as well as on the noisy one (issue #26).

    nice -n 10 python -m bench.label_noise                       # SST-2 (10k-row sample), SMS spam, waimai_10k
    nice -n 10 python -m bench.label_noise --only sms_spam --noise 0.1 --evidence classical,embeddings
    nice -n 10 python -m bench.label_noise --only sst2 --noise 0.1 --finetune   # real runs: noisy vs corrected

For each dataset and noise share (5%, 10%): the training rows (SST-2: a seeded 10,000-row sample of train.tsv; SMS
spam and waimai_10k: 80% of the file, stratified) get that share of their labels flipped to another label; the test
rows (SST-2's dev.tsv, the other 20%) stay clean. The ranking is tuner.analysis.label_issues on each evidence of
`--evidence` (tuner.analysis.evidence): "classical" (5-fold cross-validated TF-IDF + logistic regression),
"embeddings" (5-fold cross-validated logistic regression on the bundled MiniLM's mean-pooled sentence embeddings),
"model" (the finetuned run's own probabilities; needs --finetune), "crossfit" (with --crossfit K: K runs,
each scoring the fold it did not train on), and combinations joined by "+" ("both" =
classical+model), combined by the product's rule (each weighted by its log-loss gain over the label shares) and,
on a second line marked "=", by a plain average. Printed per line: precision and recall of the flagged rows
against the flipped ones at k = the number flipped (the top k by label quality) and at the tool's own threshold
(cleanlab's flagged set), the evidence's time, the weights, how many unflipped rows the evidence contradicts
("contra": rows whose most probable label is not their given, true one; each competes with the flipped rows for the
top of the ranking, the ceiling discussed in docs/quality.md), how many flagged rows the product advises relabelling
and how many of those suggestions are the true label ("sure/right"; the others it advises dropping,
tuner.analysis.label_issues.advice), and the test macro F1 of the model trained on the noisy rows vs on the rows
corrected by accepting every suggestion ("fixed": the sure rows relabelled, the other flagged rows dropped), by
relabelling every flagged row ("relab") and by dropping every flagged row ("drop"; with --finetune, by --fix-action).

Without --finetune that model is the classical baseline (tuner.classical, TF-IDF + linear SVM), a stand-in. With
--finetune the noisy rows train a real run (`python -m tuner train <recipe> --set data.train_file=...`, runs under
bench/out/runs), its probabilities on the training rows are the "model" evidence, and for the evidence named by
--fix-with (default: the product's default) the corrected rows train a second run; both runs score the test rows.
With --clean a run on the labels before any was flipped scores them too ("F1 clean"): the most a correction can
give back.
"""

from __future__ import annotations

import argparse
import csv
import random
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
OUT = ROOT / "bench" / "out"


def read(path: Path, text: str, label: str, delimiter: str) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return [(r[text], r[label]) for r in csv.DictReader(fh, delimiter=delimiter, quoting=csv.QUOTE_NONE
                                                            if delimiter == "\t" else csv.QUOTE_MINIMAL) if r[text]]


def stratified(rows, share: float, seed: int = 0):
    rng = random.Random(seed)
    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(r[1], []).append(r)
    train, test = [], []
    for items in by.values():
        rng.shuffle(items)
        cut = round(len(items) * share)
        test += items[:cut]
        train += items[cut:]
    return train, test


def datasets(only: str | None):
    """{name: (train rows, test rows)}, each a list of (text, label)."""
    out = {}
    if only in (None, "sst2"):
        train = read(SHARED / "sst2" / "train.tsv", "sentence", "label", "\t")
        random.Random(0).shuffle(train)
        out["sst2"] = (train[:10_000], read(SHARED / "sst2" / "dev.tsv", "content", "label", "\t"))
    if only in (None, "sms_spam"):
        out["sms_spam"] = stratified(read(SHARED / "sms_spam" / "SMSSpamCollection", "SMS", "Label", "\t"), 0.2)
    if only in (None, "waimai_10k"):
        out["waimai_10k"] = stratified(read(SHARED / "waimai_10k" / "waimai_10k.csv", "review", "label", ","), 0.2)
    return out


def flip(labels: np.ndarray, share: float, n_labels: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(labels), round(len(labels) * share), replace=False)
    noisy = labels.copy()
    noisy[idx] = (noisy[idx] + rng.integers(1, n_labels, len(idx))) % n_labels
    return noisy, idx


def pr(found: set, truth: set) -> tuple[float, float]:
    hit = len(found & truth)
    return hit / max(1, len(found)), hit / max(1, len(truth))


def test_f1(texts, labels, test_texts, test_labels, n_labels) -> float:
    from sklearn.metrics import f1_score

    from tuner.classical import ClassicalBaseline

    model = ClassicalBaseline(list(texts), [int(x) for x in labels])
    return f1_score(test_labels, model.predict(list(test_texts)), average="macro", labels=list(range(n_labels)))


def write_csv(path: Path, texts, labels, names) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows((t, names[int(y)]) for t, y in zip(texts, labels))
    return path


def finetune(name: str, texts, labels, names, recipe: str, extra: list[str]):
    """Train a real run on these rows through the CLI; the finished Run."""
    import os
    import subprocess
    import sys

    from tuner import runs

    data = write_csv(OUT / "data" / f"{name}.csv", texts, labels, names)
    env = dict(os.environ, TUNER_RUNS_DIR=str(OUT / "runs"))
    argv = [sys.executable, "-m", "tuner", "train", recipe, "--name", f"noise-{name}", "--no-estimate",
            "--set", f"data.train_file={data}"] + [x for item in extra for x in ("--set", item)]
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    ids = [ln.split()[1] for ln in done.stdout.splitlines() + done.stderr.splitlines() if ln.startswith("run ")]
    if done.returncode or not ids:
        raise SystemExit(f"training {name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    os.environ["TUNER_RUNS_DIR"] = env["TUNER_RUNS_DIR"]
    run = runs.get_run(ids[0])
    print(f"  trained {name}: run {run.id} in {time.perf_counter() - t0:.0f} s", flush=True)
    return run


def run_probs(run, texts) -> np.ndarray:
    from tuner.inference import get_predictor
    from tuner.tasks import get_task

    return get_task("classification").label_probabilities(get_predictor(run), list(texts))


def memorised(run, probs: np.ndarray, noisy: np.ndarray, flipped) -> str:
    """How often the finetuned model disagrees with a flipped label, on the rows it trained on vs the rows it held out
    for validation: the price of "model" evidence seeing the rows it scores."""
    from tuner.tasks import get_task

    seen = set(int(i) for i in get_task("classification").analysis_splits(run.config()).train["row"])
    pred = probs.argmax(axis=1)
    parts = []
    for what, rows in (("trained on", [i for i in flipped if i in seen]), ("held out", [i for i in flipped if i not in seen])):
        share = float(np.mean(pred[rows] != noisy[rows])) if rows else float("nan")
        parts.append(f"{share:.3f} of {len(rows):,} flipped rows it {what}")
    return "the finetuned model disagrees with the flipped label on " + ", ".join(parts)


def parts_of(evidence: str) -> tuple[str, ...]:
    """The product's evidence parts (tuner.analysis.evidence.parts_of), with the bench's own "crossfit"."""
    from tuner.analysis.evidence import parts_of as product_parts

    parts = [p.strip() for p in evidence.split("+") if p.strip()]
    if "crossfit" not in parts:
        return product_parts(evidence)
    rest = "+".join(p for p in parts if p != "crossfit")
    known = product_parts(rest) if rest else ()
    return known + ("crossfit",) if known or not rest else ()


def crossfit(tag: str, texts, labels, names, folds: int, recipe: str, extra: list[str]) -> np.ndarray:
    """Out-of-sample finetuned probabilities: `folds` real runs, each trained on the other folds (stratified,
    seeded), scoring the fold it did not see; what K-fold finetuning would give the ranking, at K runs' cost."""
    from sklearn.model_selection import StratifiedKFold

    probs = np.zeros((len(texts), len(names)))
    for k, (train, held) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=0).split(texts, labels)):
        run = finetune(f"{tag}-crossfit{folds}-{k}", [texts[i] for i in train], labels[train], names, recipe, extra)
        probs[held] = run_probs(run, [texts[i] for i in held])
    return probs


def _corrected(noisy: np.ndarray, relabel, drop, suggest: np.ndarray) -> tuple[list[int], np.ndarray]:
    """(the rows kept, their labels) after relabelling `relabel` to their suggestions and dropping `drop`."""
    labels = noisy.copy()
    labels[relabel] = suggest[relabel]
    kept = np.flatnonzero(~np.isin(np.arange(len(noisy)), drop)).tolist()
    return kept, labels[kept]


def run_f1(run, test_texts, test_labels, n_labels) -> float:
    from sklearn.metrics import f1_score

    pred = np.argmax(run_probs(run, test_texts), axis=1)
    return f1_score(test_labels, pred, average="macro", labels=list(range(n_labels)))


def main(argv=None) -> int:
    from tuner.analysis import evidence as ev
    from tuner.analysis import label_issues

    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["sst2", "sms_spam", "waimai_10k"])
    ap.add_argument("--noise", type=float, action="append", help="share of labels flipped (default 0.05 and 0.1)")
    ap.add_argument("--evidence", default="classical,embeddings,classical+embeddings",
                    help="comma-separated evidences: classical, embeddings, model, both, or parts joined by +")
    ap.add_argument("--c", type=float, help="the logistic regression's C (default tuner.classical.PROBABILITY_C)")
    ap.add_argument("--finetune", action="store_true", help="train real runs on the noisy and the corrected rows")
    ap.add_argument("--fix-with", default=label_issues.DEFAULT_EVIDENCE, help="with --finetune: the evidence whose "
                    "suggestions correct the rows for the second run ('none': no second run)")
    ap.add_argument("--crossfit", type=int, default=0, metavar="K", help="with --finetune: also train K runs, each "
                    "on all folds but one, for the evidence 'crossfit' (each row's probabilities from the run that did "
                    "not see it)")
    ap.add_argument("--fix-action", choices=["fixed", "relabel", "drop", "all"], default="fixed", help="with "
                    "--finetune: the second run trains on the rows corrected by accepting every suggestion (fixed: "
                    "the sure ones relabelled, the others dropped), on every flagged row relabelled (relabel), on the "
                    "rows less the flagged ones (drop), or one run each (all)")
    ap.add_argument("--clean", action="store_true", help="with --finetune: also train a run on the clean labels "
                    "(F1 clean)")
    ap.add_argument("--recipe", default="classification", help="with --finetune: the recipe the runs use")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="with --finetune: a setting")
    ap.add_argument("--noisy-run", help="with --finetune, one dataset and one noise share: reuse this finished run "
                    "trained on the noisy rows instead of training it again")
    args = ap.parse_args(argv)
    evidences = [e.strip() for e in args.evidence.split(",") if e.strip()]
    fix_with = [args.fix_with] if args.finetune and args.fix_with != "none" else []
    for e in evidences + fix_with:
        if not parts_of(e) or ({"model", "crossfit"} & set(parts_of(e)) and not args.finetune) or \
                ("crossfit" in parts_of(e) and not args.crossfit):
            ap.error(f"evidence '{e}': unknown, 'model' without --finetune, or 'crossfit' without --crossfit")
    if args.c:
        from tuner import classical

        classical.PROBABILITY_C = args.c
    if not SHARED.is_dir():
        print(f"skipped: the shared datasets folder {SHARED} is not present")
        return 0
    needed = {p for e in evidences + fix_with for p in parts_of(e)}
    print(f"{'dataset':>10} {'noise':>5} {'rows':>6} {'flip':>5} {'evidence':>22} | {'P@k':>5} {'R@k':>5} | "
          f"{'flagged':>7} {'P':>5} {'R':>5} | {'secs':>5} | {'weights':>11} | {'contra':>6} | {'sure/right':>10} | "
          f"{'F1 clean':>8} {'F1 noisy':>8} {'F1 fixed':>8} {'F1 relab':>8} {'F1 drop':>8}  "
          f"(F1: {'finetuned runs' if args.finetune else 'classical stand-in'})")
    for name, (train, test) in datasets(args.only).items():
        names = sorted({lab for _, lab in train})
        index = {n: i for i, n in enumerate(names)}
        texts = [t for t, _ in train]
        clean = np.array([index[lab] for _, lab in train])
        test_texts, test_labels = [t for t, _ in test], [index[lab] for _, lab in test]
        f1_clean = float("nan")
        if not args.finetune:
            f1_clean = test_f1(texts, clean, test_texts, test_labels, len(names))
        elif args.clean:  # the reference: a run on the labels before any was flipped
            f1_clean = run_f1(finetune(f"{name}-clean", texts, clean, names, args.recipe, args.set), test_texts,
                              test_labels, len(names))
        vectors, embed_secs = None, 0.0
        if "embeddings" in needed:
            cache = OUT / "embeddings" / f"{name}.npz"  # a rerun (--finetune) reuses them, with their time
            if cache.is_file():
                saved = np.load(cache)
                vectors, embed_secs = saved["vectors"], float(saved["secs"])
            else:
                t0 = time.perf_counter()
                vectors = ev.embed(texts)
                embed_secs = time.perf_counter() - t0
                cache.parent.mkdir(parents=True, exist_ok=True)
                np.savez(cache, vectors=vectors, secs=embed_secs)
            print(f"  {name}: embedded {len(texts):,} rows in {embed_secs:.0f} s", flush=True)
        for share in args.noise or [0.05, 0.1]:
            noisy, flipped = flip(clean, share, len(names))
            truth = set(flipped.tolist())
            parts, secs = {}, {}
            if "classical" in needed:
                t0 = time.perf_counter()
                parts["classical"] = ev.classical_probs(texts, noisy.tolist(), len(names))
                secs["classical"] = time.perf_counter() - t0
            if "embeddings" in needed:
                t0 = time.perf_counter()
                parts["embeddings"] = ev.embedding_probs(texts, noisy.tolist(), len(names), vectors=vectors)
                secs["embeddings"] = time.perf_counter() - t0 + embed_secs
            if args.finetune:
                tag = f"{name}-{round(share * 100)}"
                if args.noisy_run:
                    import os

                    from tuner import runs

                    os.environ["TUNER_RUNS_DIR"] = str(OUT / "runs")
                    noisy_run = runs.get_run(args.noisy_run)
                else:
                    noisy_run = finetune(f"{tag}-noisy", texts, noisy, names, args.recipe, args.set)
                t0 = time.perf_counter()
                parts["model"] = run_probs(noisy_run, texts)
                secs["model"] = time.perf_counter() - t0
                print(f"  {memorised(noisy_run, parts['model'], noisy, flipped.tolist())}", flush=True)
                if args.crossfit:
                    t0 = time.perf_counter()
                    parts["crossfit"] = crossfit(tag, texts, noisy, names, args.crossfit, args.recipe, args.set)
                    secs["crossfit"] = time.perf_counter() - t0
                f1_noisy = run_f1(noisy_run, test_texts, test_labels, len(names))
            else:  # once per noise share: it does not depend on the evidence
                f1_noisy = test_f1(texts, noisy, test_texts, test_labels, len(names))
            for e in evidences + [x for x in fix_with if x not in evidences]:
                chosen = {p: parts[p] for p in parts_of(e)}
                rules = [("", ev.combine(noisy, chosen))]
                if len(chosen) > 1:
                    rules.append(("=", (sum(chosen.values()) / len(chosen), {p: 1 / len(chosen) for p in chosen})))
                for mark, (probs, w) in rules:
                    quality, mask = label_issues.rank_issues(noisy, probs)
                    top = set(np.argsort(quality, kind="stable")[:len(truth)].tolist())
                    flagged = np.flatnonzero(mask)
                    p_k, r_k = pr(top, truth)
                    p, r = pr(set(flagged.tolist()), truth)
                    suggest = label_issues.suggestions(noisy, probs)
                    sure = label_issues.advice(noisy, probs, suggest)[flagged] == "relabel"
                    versions = {  # the training rows each way of correcting leaves: (row indexes, their labels)
                        "fixed": _corrected(noisy, flagged[sure], flagged[~sure], suggest),  # every suggestion
                        "relabel": _corrected(noisy, flagged, [], suggest),  # every flagged row relabelled
                        "drop": _corrected(noisy, [], flagged, suggest)}  # every flagged row dropped
                    f1 = {}
                    for what, (kept, labels) in versions.items():
                        if not args.finetune:
                            f1[what] = test_f1([texts[i] for i in kept], labels, test_texts, test_labels, len(names))
                        elif e == args.fix_with and not mark and args.fix_action in (what, "all"):
                            run = finetune(f"{tag}-{what}-{e.replace('+', '-')}", [texts[i] for i in kept], labels,
                                           names, args.recipe, args.set)
                            f1[what] = run_f1(run, test_texts, test_labels, len(names))
                    fixes = " ".join(f"{f1.get(what, float('nan')):>8.4f}" for what in versions)
                    relabels = f"{int(sure.sum()):>5}/{int(np.mean(clean[flagged[sure]] == suggest[flagged[sure]]) * 100) if sure.any() else 0:>3}%"
                    weights = "/".join(f"{w[x]:.2f}" for x in chosen) if len(chosen) > 1 else "-"
                    contra = int(np.sum((np.argmax(probs, axis=1) != noisy) & (noisy == clean)))
                    print(f"{name:>10} {share:>5.2f} {len(texts):>6} {len(truth):>5} {mark + e:>22} | {p_k:>5.3f} "
                          f"{r_k:>5.3f} | {len(flagged):>7} {p:>5.3f} {r:>5.3f} | {sum(secs[x] for x in chosen):>5.0f} | "
                          f"{weights:>11} | {contra:>6,} | {relabels} | {f1_clean:>8.4f} {f1_noisy:>8.4f} {fixes}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
