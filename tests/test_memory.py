"""The memory estimate (weights, adapter + optimizer, activations vs the device) and the out-of-memory
back-off, tested with a fake OOM raised in the first steps (as accelerate's own tests do)."""

from __future__ import annotations

import pytest
from transformers import TrainerCallback

from tuner import memory, runs
from tuner import train as train_mod
from tuner.config import RunConfig
from tuner.errors import TunerError

GiB = 1024 ** 3


def cfg_with(model_dir, **over) -> RunConfig:
    data = {"model": {"name": str(model_dir), "max_length": 64},
            "train": {"batch_size": 8, "precision": "fp32"}}
    for key, value in over.items():
        section, name = key.split("__")
        data.setdefault(section, {})[name] = value
    return RunConfig.from_dict(data)


def test_estimate_parts_scale_with_the_settings(tiny_model_dir):
    base = memory.estimate(cfg_with(tiny_model_dir), available=None)
    assert base.weights > 0 and base.trainable_state > 0 and base.activations > 0
    assert base.total == base.weights + base.trainable_state + base.activations
    assert 0 < base.trainable_params < base.total_params
    big_batch = memory.estimate(cfg_with(tiny_model_dir, train__batch_size=32), available=None)
    assert big_batch.activations == pytest.approx(4 * base.activations, rel=0.01)
    assert big_batch.weights == base.weights
    full = memory.estimate(cfg_with(tiny_model_dir, adapter__method="full"), available=None)
    assert full.trainable_params == full.total_params and full.trainable_state > 10 * base.trainable_state
    q8 = memory.estimate(cfg_with(tiny_model_dir, train__quantization="8bit"), available=None)
    q4 = memory.estimate(cfg_with(tiny_model_dir, train__quantization="4bit"), available=None)
    assert q4.weights < q8.weights < base.weights


def test_fit_sentences(tiny_model_dir):
    cfg = cfg_with(tiny_model_dir, train__batch_size=64, model__max_length=512)
    roomy = memory.estimate(cfg, available=64 * GiB)
    assert roomy.fits and "should fit" in roomy.sentence(cfg)
    tight = memory.estimate(cfg, available=roomy.total // 4)
    assert not tight.fits
    text = tight.sentence(cfg)
    assert "will not fit" in text and "lower the batch size (e.g. 32 with gradient accumulation 2)" in text
    assert text.count("\n") == 0
    device, free = memory.device_free_bytes("cpu")
    assert device == "CPU" and (free is None or free > 0)


class FakeOOM(TrainerCallback):
    """Raises the CUDA out-of-memory error at the first step while the batch is above `fits`."""

    def __init__(self, fits: int):
        self.fits, self.seen = fits, []

    def on_step_begin(self, args, state, control, **kw):
        self.seen.append((args.per_device_train_batch_size, args.gradient_accumulation_steps))
        if args.per_device_train_batch_size > self.fits:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")


def small_run(tiny_model_dir, csv, batch_size):
    cfg = RunConfig.from_dict({
        "data": {"train_file": str(csv), "validation_fraction": 0.2},
        "model": {"name": str(tiny_model_dir), "max_length": 32}, "adapter": {"r": 4},
        "train": {"epochs": 1, "batch_size": batch_size, "evals": 0, "precision": "fp32"},
    })
    run = runs.create_run(cfg)
    return run, RunConfig.load(run.config_path)


def test_oom_backs_off_keeping_the_effective_batch(tiny_model_dir, runs_dir, sample_csv):
    run, cfg = small_run(tiny_model_dir, sample_csv, 8)
    fake = FakeOOM(fits=2)
    result = train_mod.train(cfg, run, callbacks=[fake])
    assert fake.seen[0] == (8, 1) and (4, 2) in fake.seen and fake.seen[-1] == (2, 4)
    assert result["steps"] == 9  # 72 rows / effective batch 8, as planned before the back-off
    status, report = run.status(), run.metrics()
    assert (status["batch_size"], status["grad_accum"]) == (2, 4)
    assert (report["batch_size"], report["grad_accum"]) == (2, 4)
    backoffs = [e for e in run.events() if e["type"] == "oom_backoff"]
    assert [(e["batch_size"], e["grad_accum"]) for e in backoffs] == [(4, 2), (2, 4)]
    assert "same effective batch" in backoffs[0]["message"]


def test_oom_at_the_floor_is_one_sentence(tiny_model_dir, runs_dir, sample_csv):
    run, cfg = small_run(tiny_model_dir, sample_csv, 2)
    with pytest.raises(TunerError) as err:
        train_mod.train(cfg, run, callbacks=[FakeOOM(fits=0)])
    text = str(err.value)
    assert "even at batch size 1" in text and "max length" in text and "\n" not in text


def test_other_errors_are_not_retried(tiny_model_dir, runs_dir, sample_csv):
    class Boom(TrainerCallback):
        calls = 0

        def on_step_begin(self, *a, **k):
            Boom.calls += 1
            raise RuntimeError("something else")

    run, cfg = small_run(tiny_model_dir, sample_csv, 8)
    with pytest.raises(RuntimeError, match="something else"):
        train_mod.train(cfg, run, callbacks=[Boom()])
    assert Boom.calls == 1 and not [e for e in run.events() if e["type"] == "oom_backoff"]
