"""tuner/sampling.py: length-grouped training batches that keep every label in them."""

from __future__ import annotations

import random

from tuner.sampling import MixedLengthSampler, batch_plan, class_labels, mixed_length_order


def spam_like(n: int = 3200, seed: int = 0):
    """Labels that go with length, as in SMS spam: 1 in 8 rows is label 1, and those rows are long."""
    rng = random.Random(seed)
    labels = [1 if rng.random() < 0.125 else 0 for _ in range(n)]
    lengths = [rng.randint(30, 60) if y else rng.randint(5, 35) for y in labels]
    return lengths, labels


def label_share(batches, labels) -> list[float]:
    return [sum(labels[i] for i in idx) / len(idx) for idx, _ in batches]


def padding(batches, lengths) -> float:
    return sum(sum(lengths[i] for i in idx) for idx, _ in batches) / sum(len(idx) * w for idx, w in batches)


def test_order_is_a_permutation_in_whole_batches():
    lengths, labels = spam_like(1000)
    order = mixed_length_order(lengths, labels, 32, random.Random(1))
    assert sorted(order) == list(range(1000))


def test_batches_keep_the_label_mix_that_plain_length_grouping_loses():
    lengths, labels = spam_like()
    overall = sum(labels) / len(labels)
    mixed = batch_plan(lengths, labels, 32, grouped=True)
    plain = batch_plan(lengths, None, 32, grouped=True)  # transformers' length grouping
    random_ = batch_plan(lengths, None, 32, grouped=False)
    assert max(abs(s - overall) for s in label_share(mixed[:-1], labels)) < 0.07  # every batch near 1 in 8
    assert sum(s in (0.0, 1.0) for s in label_share(plain, labels)) > 0.7 * len(plain)  # one label per batch
    assert padding(mixed, lengths) > padding(random_, lengths) + 0.05  # less padding than random batches
    assert padding(plain, lengths) > padding(mixed, lengths)


def test_sampler_reshuffles_each_epoch_from_torch_seed():
    import torch

    lengths, labels = spam_like(500)
    sampler = MixedLengthSampler(lengths, labels, 16)
    torch.manual_seed(0)
    first, second = list(sampler), list(sampler)
    torch.manual_seed(0)
    assert list(sampler) == first and first != second and len(sampler) == 500


def test_class_labels_only_for_one_label_per_row():
    from datasets import Dataset

    assert class_labels(Dataset.from_dict({"input_ids": [[1], [2]], "labels": [0, 1]})) == [0, 1]
    assert class_labels(Dataset.from_dict({"input_ids": [[1], [2]], "labels": [[0], [1]]})) is None
    assert class_labels(Dataset.from_dict({"input_ids": [[1]]})) is None
