"""Training batches that are short on padding and still carry every label.

transformers' length grouping (`train_sampling_strategy="group_by_length"`) sorts groups of 50 batches by length, so
each batch holds rows of one length. Where length goes with the label — spam is longer than ham, complaints longer
than praise — those batches are nearly all one label, the gradients swing from batch to batch, and a classifier can
collapse to the majority class (it did on SMS spam: "always ham" at every evaluation). Here each group of 50 batches
is sorted by length *per label*, and the k-th batch takes the k-th length slice of every label: batches keep the
file's label mix and most of the padding saving. Figures: docs/quality.md (`bench/batch_mix.py`).
"""

from __future__ import annotations

import math
import random

MEGABATCH = 50  # batches sorted together, as in transformers' LengthGroupedSampler


def mixed_length_order(lengths: list[int], labels: list[int], batch_size: int, rng: random.Random,
                       megabatch: int = MEGABATCH) -> list[int]:
    """Row indices in training order: consecutive runs of `batch_size` rows are the batches."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    out: list[int] = []
    size = batch_size * megabatch
    for start in range(0, len(order), size):
        group = order[start:start + size]
        n_batches = max(1, math.ceil(len(group) / batch_size))
        slices: list[list[int]] = [[] for _ in range(n_batches)]
        by_label: dict[int, list[int]] = {}
        for i in group:
            by_label.setdefault(labels[i], []).append(i)
        for rows in by_label.values():
            rows.sort(key=lambda i: -lengths[i])
            for j, i in enumerate(rows):  # this label's j-th longest row goes to the matching length slice
                slices[j * n_batches // len(rows)].append(i)
        flat = [i for piece in slices for i in piece]
        batches = [flat[b:b + batch_size] for b in range(0, len(flat), batch_size)]
        rng.shuffle(batches)
        out += [i for batch in batches for i in batch]
    return out


def batch_plan(lengths: list[int], labels: list[int] | None, batch_size: int, grouped: bool,
               seed: int = 0) -> list[tuple[list[int], int]]:
    """(row indices, padded width) of the batches training will cut: mixed-length order with labels, transformers'
    plain length grouping without (entity tagging, chat), or random order when grouping is off."""
    rng = random.Random(seed)
    if grouped and labels is not None:
        order = mixed_length_order(lengths, labels, batch_size, rng)
    else:
        order = list(range(len(lengths)))
        rng.shuffle(order)
        if grouped:
            size = batch_size * MEGABATCH
            order = [i for s in range(0, len(order), size) for i in sorted(order[s:s + size], key=lambda i: -lengths[i])]
    return [(order[b:b + batch_size], max(lengths[i] for i in order[b:b + batch_size]))
            for b in range(0, len(order), batch_size)]


def class_labels(dataset) -> list[int] | None:
    """The dataset's labels when each row has one class id (classification); None otherwise."""
    names = getattr(dataset, "column_names", None) or []
    if "labels" not in names or len(dataset) == 0:
        return None
    labels = dataset["labels"]
    return list(labels) if isinstance(labels[0], int) else None


class MixedLengthSampler:
    """A torch Sampler over `mixed_length_order`, reshuffled each epoch from torch's global generator (seeded by
    the Trainer, as transformers' LengthGroupedSampler is)."""

    def __init__(self, lengths: list[int], labels: list[int], batch_size: int):
        self.lengths, self.labels, self.batch_size = list(lengths), list(labels), batch_size

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        import torch

        seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
        return iter(mixed_length_order(self.lengths, self.labels, self.batch_size, random.Random(seed)))
