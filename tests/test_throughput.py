"""Live speed figures: token counting, FLOPs per token, the meter behind the Train page's tokens/s and MFU."""

import time

import pytest
import torch

from tuner.cpu.throughput import SpeedMeter, TokenCounter, flops_per_token, matmul_probe


def _collate(features):
    width = max(len(f) for f in features)
    ids = torch.zeros(len(features), width, dtype=torch.long)
    mask = torch.zeros(len(features), width, dtype=torch.long)
    for i, f in enumerate(features):
        ids[i, :len(f)] = torch.tensor(f)
        mask[i, :len(f)] = 1
    return {"input_ids": ids, "attention_mask": mask}


def test_token_counter_counts_real_and_padded_tokens():
    counter = TokenCounter(_collate)
    batch = counter([[1, 2, 3], [4]])
    assert batch["input_ids"].shape == (2, 3)
    assert (counter.real, counter.processed, counter.rows) == (4, 6, 2)
    counter([[5, 6]])
    assert (counter.real, counter.processed, counter.rows) == (6, 8, 3)


def test_token_counter_without_mask_counts_every_token():
    counter = TokenCounter(lambda feats: {"input_ids": torch.ones(2, 5, dtype=torch.long)})
    counter([None, None])
    assert counter.real == counter.processed == 10


class _Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(100, 8)  # a lookup: no matmul FLOPs
        self.frozen = torch.nn.Linear(8, 16, bias=False)
        self.trainable = torch.nn.Linear(16, 4, bias=False)
        self.frozen.weight.requires_grad_(False)
        self.embed_tokens.weight.requires_grad_(False)
        self.config = type("C", (), {"num_hidden_layers": 2, "hidden_size": 8})()


def test_flops_per_token_counts_frozen_trainable_and_attention():
    model = _Tiny()
    # 4 x 128 frozen + 6 x 64 trainable + 2 x (4 x 2 layers x 8 hidden x 10 tokens)
    assert flops_per_token(model, 10) == 4 * 128 + 6 * 64 + 2 * 4 * 2 * 8 * 10
    assert flops_per_token(model, 20) > flops_per_token(model, 10)


def test_matmul_probe_reports_a_positive_rate():
    assert matmul_probe("cpu", seconds=0.05) > 1e8  # any CPU does more than 0.1 GFLOP/s


def test_speed_meter_reports_tokens_per_second_since_the_last_reading():
    counter = TokenCounter(_collate)
    meter = SpeedMeter(counter, _Tiny(), "cpu", world_size=2)
    assert meter.reading() == {}  # not started
    meter.start()
    assert meter.peak > 0
    counter([[1, 2, 3, 4], [5, 6]])  # 6 real of 8 processed
    time.sleep(0.05)
    first = meter.reading()
    assert first["padding_efficiency"] == pytest.approx(0.75)
    assert 0 < first["tokens_per_s"] < 6 * 2 / 0.05  # two ranks, at most 6 tokens each over >= 50 ms
    assert 0 <= first["mfu"] < 1  # a 200-FLOP toy model uses almost none of the peak
    assert meter.reading() == {}  # nothing new since


def test_trainer_counts_the_same_flops_walking_the_model_once(tiny_model_dir, tmp_path, monkeypatch):
    import torch
    from transformers import Trainer, TrainingArguments

    from tuner.tasks import get_task
    from tuner.train import trainer_class

    model = get_task("classification").build_model(str(tiny_model_dir), {"labels": ["a", "b"]})
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    ours, stock = trainer_class()(model=model, args=args), Trainer(model=model, args=args)
    inputs = {"input_ids": torch.ones(4, 9, dtype=torch.long), "labels": torch.zeros(4, dtype=torch.long)}
    expected = stock.floating_point_ops(inputs)
    assert expected > 0
    walks = []
    count = type(model).num_parameters
    monkeypatch.setattr(type(model), "num_parameters", lambda self, **kw: walks.append(1) or count(self, **kw))
    assert [ours.floating_point_ops(inputs) for _ in range(3)] == [expected] * 3
    assert len(walks) == 1
