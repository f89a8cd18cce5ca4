"""Every supported (task x method) pair trains for real on a tiny model, saves, reloads through
`inference.Predictor` and reproduces the trained model's outputs; unsupported pairs are refused in one
sentence before anything starts.

Training runs in-process through `tuner.train.train` (the child-process path is covered by the e2e tests);
each run is a handful of steps on a 2-layer, width-32 BERT or the tiny Llama.
"""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from transformers import TrainerCallback

from test_ner_e2e import synthetic_conll
from tuner import methods, runs
from tuner import train as train_mod
from tuner.config import RunConfig
from tuner.errors import ConfigError
from tuner.inference import Predictor
from tuner.tasks import get_task

TASKS = ("classification", "ner", "chat")
PAIRS = [(t, m) for t in TASKS for m in methods.METHODS if methods.supported(get_task(t), m)]
REFUSED = [(t, m) for t in TASKS for m in methods.METHODS if not methods.supported(get_task(t), m)]


def chat_rows(n: int = 40) -> str:
    topics = ["refund", "password", "parcel", "invoice", "login"]
    rows = []
    for i in range(n):
        t = topics[i % len(topics)]
        rows.append(json.dumps({"messages": [{"role": "user", "content": f"{t} help ({i})"},
                                              {"role": "assistant", "content": f"Fix your {t}."}]}))
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def data_files(tmp_path_factory, sample_csv_factory):
    root = tmp_path_factory.mktemp("methods-data")
    (root / "train.conll").write_text(synthetic_conll(24, 0), encoding="utf-8")
    (root / "chat.jsonl").write_text(chat_rows(), encoding="utf-8")
    return {"classification": sample_csv_factory(root / "tickets.csv", per_label=10),
            "ner": root / "train.conll", "chat": root / "chat.jsonl"}


def config_for(task: str, method: str, data_files, model_dir) -> RunConfig:
    model = "tiny:llama" if task == "chat" else str(model_dir)
    return RunConfig.from_dict({
        "task": task, "data": {"train_file": str(data_files[task]), "validation_fraction": 0.2},
        "model": {"name": model, "max_length": 128 if task == "chat" else 48},  # the tiny Llama has 1 token per byte
        "adapter": {"method": method, "r": 4, "alpha": 8, "num_virtual_tokens": 4, "freeze_layers": 1,
                    "adalora_init_r": 6, "loraplus_lr_ratio": 4.0 if method == "lora" else 0.0},
        "train": {"epochs": 1, "max_examples": 16, "batch_size": 4, "evals": 0, "learning_rate": 1e-2,
                  "precision": "fp32", "group_by_length": False, "warmup_fraction": 0.0},
        "chat": {"eval_samples": 0},
    })


class Outputs(TrainerCallback):
    """Logits of the trained model on a fixed batch, taken the moment training ends."""

    def __init__(self, batch):
        self.batch, self.logits = batch, None

    def on_train_end(self, args, state, control, model=None, **kw):
        model.eval()
        with torch.no_grad():
            self.logits = model(**self.batch).logits.float().clone()


def fixed_batch(cfg: RunConfig):
    from tuner import models

    task = get_task(cfg.task)
    tokenizer = models.load_tokenizer(models.resolve(cfg.model.name))
    splits = task.load_splits(cfg)
    ds = task.encode(splits.validation, tokenizer, cfg.model.max_length)
    batch = task.collator(tokenizer)([ds[i] for i in range(min(3, len(ds)))])
    return {k: v for k, v in batch.items() if k != "labels"}


@pytest.mark.slow  # 31 short trainings (~2 s of training each on an idle 2-core CPU)
@pytest.mark.parametrize("task,method", PAIRS, ids=[f"{t}-{m}" for t, m in PAIRS])
def test_method_trains_saves_and_reloads(task, method, data_files, tiny_model_dir, runs_dir, monkeypatch):
    monkeypatch.setenv("TUNER_INFER_DTYPE", "fp32")  # compare in the precision it trained in
    cfg = config_for(task, method, data_files, tiny_model_dir)
    run = runs.create_run(cfg)
    cfg = RunConfig.load(run.config_path)
    batch = fixed_batch(cfg)
    grab = Outputs(batch)
    result = train_mod.train(cfg, run, callbacks=[grab])
    assert result["steps"] == 4 and not result["stopped"]
    report = run.metrics()
    assert report["method"] == method and "evaluation_error" not in report, report
    if method == "full":
        assert report["trainable_params"] == report["total_params"]
    else:
        assert 0 < report["trainable_params"] < report["total_params"]
    assert report["adapter_bytes"] > 0 and run.status()["adapter_bytes"] == report["adapter_bytes"]
    assert methods.folder_size(run.adapter_dir) == report["adapter_bytes"]
    assert run.has_adapter() and run.meta()["method"] == method

    run.set_status(state="completed")
    predictor = Predictor(run)
    with torch.no_grad():
        reloaded = predictor.model(**batch).logits.float()
    assert grab.logits is not None and reloaded.shape == grab.logits.shape
    assert torch.allclose(reloaded, grab.logits, atol=2e-4, rtol=1e-3), (reloaded - grab.logits).abs().max()
    if task == "classification":  # and the adapter changed the model: the base gives other outputs
        base = get_task(task).build_model(str(tiny_model_dir), run.meta()).eval()
        with torch.no_grad():
            before = base(**batch).logits.float()
        assert not torch.allclose(before, reloaded, atol=1e-4)


@pytest.mark.parametrize("task,method", REFUSED, ids=[f"{t}-{m}" for t, m in REFUSED])
def test_unsupported_pair_is_refused_in_one_sentence(task, method):
    with pytest.raises(ConfigError) as err:
        RunConfig.from_dict({"task": task, "adapter": {"method": method}})
    text = str(err.value)
    assert text.count(". ") == 0 and text.endswith(".") and "\n" not in text
    assert "use one of" in text and "LoRA" in text  # names what would work instead


def test_full_finetuning_cannot_be_quantized():
    with pytest.raises(ConfigError, match="cannot be trained in 4bit"):
        RunConfig.from_dict({"adapter": {"method": "full"}, "train": {"quantization": "4bit"}})


def test_every_method_field_has_help_and_is_a_setting():
    from tuner.config import field_meta

    for m in methods.METHODS.values():
        for path in m.fields:
            assert field_meta(path)["help"], path
    assert set(methods.method_names()) == set(field_meta("adapter.method")["choices"])


def test_lora_options_reach_peft(tiny_model_dir):
    from transformers import AutoModelForSequenceClassification

    from tuner import models
    from tuner.config import AdapterConfig

    base = AutoModelForSequenceClassification.from_pretrained(str(tiny_model_dir), num_labels=3)
    model = models.attach_adapter(base, AdapterConfig(r=4, alpha=8, use_rslora=True, use_dora=True), "SEQ_CLS",
                                  ["classifier"])
    cfg = model.peft_config["default"]
    assert cfg.use_rslora and cfg.use_dora
    layer = next(m for n, m in model.named_modules() if n.endswith("query"))
    assert math.isclose(layer.scaling["default"], 8 / math.sqrt(4))  # rsLoRA: alpha / sqrt(r)
    opt = methods.make_optimizer(model, AdapterConfig(loraplus_lr_ratio=16.0), 1e-3, 0.0)
    lrs = {round(g["lr"], 9) for g in opt.param_groups if g["params"]}
    assert {1e-3, 16e-3} <= lrs  # LoRA+: the B matrices learn 16x faster than A
    assert opt.defaults.get("fused") is True  # one kernel for all adapter tensors, like the default optimizer


@pytest.mark.skipif(not shutil.which("cc"), reason="torch.compile on the CPU needs a C compiler")
def test_chat_run_with_compiled_blocks(tmp_path, runs_dir):
    """train.compile=on (auto turns it on for GPU runs): the blocks train compiled, then evaluation generates
    answers with the eager blocks and the KV cache back on."""
    topics = ["refund", "parcel", "wallet", "ticket", "signin"]  # rows of one length: one compiled shape
    rows = [{"messages": [{"role": "user", "content": f"{t} help ({i:02d})"},
                          {"role": "assistant", "content": f"Fix your {t}."}]} for i, t in zip(range(20), topics * 4)]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = RunConfig.from_dict({
        "task": "chat", "data": {"train_file": str(tmp_path / "c.jsonl"), "validation_fraction": 0.2},
        "model": {"name": "tiny:llama", "max_length": 64}, "adapter": {"r": 4, "alpha": 8},
        "train": {"epochs": 1, "max_examples": 16, "batch_size": 4, "evals": 0, "compile": "on", "precision": "fp32"},
        "chat": {"eval_samples": 2, "max_new_tokens": 8},
    })
    run = runs.create_run(cfg)
    result = train_mod.train(RunConfig.load(run.config_path), run)
    assert result["steps"] == 4
    assert next(e for e in run.events() if e["type"] == "start")["compiled_blocks"] == 2
    report = run.metrics()
    assert "evaluation_error" not in report, report
    assert math.isfinite(report["eval_loss"])
    assert len(report["samples"]) == 2
