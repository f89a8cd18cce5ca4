"""Label noise: flip a known share of the labels, see how many of the flipped rows the analysis flags, and whether
training on the corrected file scores at least as well as on the noisy one (issue #26).

    nice -n 10 python -m bench.label_noise                       # SST-2 (10k-row sample), SMS spam, waimai_10k
    nice -n 10 python -m bench.label_noise --only sms_spam --noise 0.1

For each dataset and noise share (5%, 10%): the training rows (SST-2: a seeded 10,000-row sample of train.tsv; SMS
spam and waimai_10k: 80% of the file, stratified) get that share of their labels flipped to another label; the test
rows (SST-2's dev.tsv, the other 20%) stay clean. The ranking is tuner.analysis.label_issues on 5-fold
cross-validated TF-IDF + logistic-regression probabilities (evidence "classical"). Printed per line: precision
and recall of the flagged rows against the flipped ones at k = the number flipped (the top k by label quality) and
at the tool's own threshold (cleanlab's flagged set), the ranking's time, and the test macro F1 of the model
trained on the noisy rows vs on the rows corrected by accepting every suggestion.

The model trained for that last comparison is the classical baseline (tuner.classical, TF-IDF + linear SVM), a
stand-in for the finetuned model: the bench machine is shared and has no GPU, and two MiniLM runs per line would take
hours there. The finetuned model's own probabilities (evidence "model"/"both") need a trained run, and are not
measured here.
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


def main(argv=None) -> int:
    from tuner.analysis import label_issues

    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["sst2", "sms_spam", "waimai_10k"])
    ap.add_argument("--noise", type=float, action="append", help="share of labels flipped (default 0.05 and 0.1)")
    ap.add_argument("--c", type=float, help="the logistic regression's C (default tuner.classical.PROBABILITY_C)")
    args = ap.parse_args(argv)
    if args.c:
        from tuner import classical

        classical.PROBABILITY_C = args.c
    if not SHARED.is_dir():
        print(f"skipped: the shared datasets folder {SHARED} is not present")
        return 0
    print(f"{'dataset':>10} {'noise':>5} {'rows':>6} {'flipped':>7} | {'P@k':>5} {'R@k':>5} | {'flagged':>7} "
          f"{'P':>5} {'R':>5} | {'secs':>5} | {'F1 clean':>8} {'F1 noisy':>8} {'F1 fixed':>8}")
    for name, (train, test) in datasets(args.only).items():
        names = sorted({lab for _, lab in train})
        index = {n: i for i, n in enumerate(names)}
        texts = [t for t, _ in train]
        clean = np.array([index[lab] for _, lab in train])
        test_texts, test_labels = [t for t, _ in test], [index[lab] for _, lab in test]
        f1_clean = test_f1(texts, clean, test_texts, test_labels, len(names))
        for share in args.noise or [0.05, 0.1]:
            noisy, flipped = flip(clean, share, len(names))
            t0 = time.perf_counter()
            probs = label_issues.cross_validated_probs(texts, noisy.tolist(), len(names))
            quality, mask = label_issues.rank_issues(noisy, probs)
            secs = time.perf_counter() - t0
            truth = set(flipped.tolist())
            top = set(np.argsort(quality, kind="stable")[:len(truth)].tolist())
            flagged = set(np.flatnonzero(mask).tolist())
            p_k, r_k = pr(top, truth)
            p, r = pr(flagged, truth)
            fixed = noisy.copy()
            suggested = label_issues.suggestions(noisy, probs)
            fixed[list(flagged)] = suggested[list(flagged)]  # accept every suggestion
            f1_noisy = test_f1(texts, noisy, test_texts, test_labels, len(names))
            f1_fixed = test_f1(texts, fixed, test_texts, test_labels, len(names))
            print(f"{name:>10} {share:>5.2f} {len(texts):>6} {len(truth):>7} | {p_k:>5.3f} {r_k:>5.3f} | "
                  f"{len(flagged):>7} {p:>5.3f} {r:>5.3f} | {secs:>5.0f} | {f1_clean:>8.4f} {f1_noisy:>8.4f} {f1_fixed:>8.4f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
