"""GPU checks: bf16 picked from the hardware, 8/4-bit QLoRA on CUDA, one process per selected GPU.
Each test runs when CUDA is present and is skipped otherwise, with the reason."""

from __future__ import annotations

import re

import pytest
import torch

from test_methods import chat_rows
from tuner import jobs, memory, models, quantize, runs
from tuner import train as train_mod
from tuner.config import RunConfig

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA GPU on this machine")
needs_two = pytest.mark.skipif(not CUDA or torch.cuda.device_count() < 2, reason="needs 2 or more CUDA GPUs")


@needs_cuda
def test_precision_from_the_hardware():
    expected = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    assert models.pick_precision("auto") == expected
    assert jobs.gpu_count() == torch.cuda.device_count()
    device, free = memory.device_free_bytes("auto")
    assert device == "GPU" and free > 0


@needs_cuda
@pytest.mark.parametrize("mode", ["8bit", "4bit"])
def test_quantized_chat_on_cuda(mode, tmp_path, runs_dir):
    ok, why = quantize.can_run(mode, "cuda")
    assert ok, why
    (tmp_path / "c.jsonl").write_text(chat_rows(), encoding="utf-8")
    cfg = RunConfig.from_dict({
        "task": "chat", "data": {"train_file": str(tmp_path / "c.jsonl"), "validation_fraction": 0.2},
        "model": {"name": "tiny:llama", "max_length": 128}, "adapter": {"r": 4, "alpha": 8},
        "train": {"epochs": 1, "max_examples": 16, "batch_size": 4, "evals": 0, "quantization": mode},
        "chat": {"eval_samples": 2, "max_new_tokens": 8},
    })
    run = runs.create_run(cfg)
    result = train_mod.train(RunConfig.load(run.config_path), run)
    assert result["steps"] == 4
    report = run.metrics()
    assert report["quantization"] == mode and report["train_precision"] in ("bf16", "fp16")
    assert "evaluation_error" not in report, report


@needs_two
def test_one_process_per_selected_gpu(tmp_path, runs_dir, tiny_model_dir, sample_csv):
    cfg = RunConfig.from_dict({
        "data": {"train_file": str(sample_csv), "validation_fraction": 0.2},
        "model": {"name": str(tiny_model_dir), "max_length": 32}, "adapter": {"r": 4},
        "train": {"epochs": 1, "batch_size": 4, "evals": 0, "gpus": "0,1"},
    })
    run = runs.create_run(cfg)
    argv = jobs.run_argv(run)
    assert argv[argv.index("--num_processes") + 1] == "2" and "--multi_gpu" in argv
    manager = jobs.JobManager()
    manager.submit(run)
    try:
        assert manager.wait(run, timeout=600) == 0
    finally:
        manager.kill(run)
    log = run.log_path.read_text(encoding="utf-8", errors="replace")
    assert run.state == "completed", log[-3000:]
    assert set(re.findall(r"rank (\d) of 2 trained", log)) == {"0", "1"}
    assert next(e for e in run.events() if e["type"] == "start")["device"] == "cuda"
