"""The fast inference paths give the same answers as the plain ones (issue #6; the speed itself is measured by
bench/demo_latency.py, never asserted here): token-budget batches = one text at a time, the merged classifier =
the unmerged PEFT model, the chat's folded adapter = the unmerged adapter, and its 'before finetuning' answers =
the base model's, with the finetuned weights restored exactly afterwards."""

from __future__ import annotations

import json

import pytest

TEXTS = ["ok", "The parcel never arrived and the tracking page shows nothing at all, please help me find it",
         "refund", "My invoice lists a fee twice", "", "a " * 80, "Sync fails with a timeout error on Linux",
         "crash", "Where is my order? It was due on Monday and the courier says it left the warehouse."]


def _randomise_lora(model, seed=0):
    """A fresh LoRA adds nothing (B = 0); give B values so merged vs. unmerged is a real comparison."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)


def _make_run(root, task_name, source, meta):
    """A finished run folder holding a LoRA adapter with non-zero updates, as train.save_adapter writes it."""
    from peft import LoraConfig, get_peft_model

    from tuner import models
    from tuner.runs import Run
    from tuner.tasks import get_task

    task = get_task(task_name)
    run = Run(root / f"20260101-000000-{task_name[:3]}abc")
    run.path.mkdir(parents=True)
    base = task.build_model(models.resolve(source), meta)
    cfg = LoraConfig(task_type=task.peft_task_type, r=4, lora_alpha=8,
                     target_modules=models.target_module_paths(base, models.detect_target_modules(base)),
                     modules_to_save=task.modules_to_save(base) or None)
    model = get_peft_model(base, cfg)
    _randomise_lora(model)
    model.save_pretrained(str(run.adapter_dir), safe_serialization=True)
    models.load_tokenizer(models.resolve(source)).save_pretrained(str(run.adapter_dir))
    (run.adapter_dir / "tuner_meta.json").write_text(json.dumps({**meta, "base_model": source, "method": "lora"}))
    run.set_status(state="completed")
    return run


@pytest.fixture
def classifier_run(tmp_path, tiny_model_dir):
    meta = {"task": "classification", "labels": ["billing", "shipping", "technical"], "text_columns": ["text"],
            "label_column": "label", "max_length": 64}
    return _make_run(tmp_path, "classification", str(tiny_model_dir), meta)


@pytest.fixture
def chat_run(tmp_path):
    meta = {"task": "chat", "template": "auto", "system_prompt": "", "max_new_tokens": 8, "max_length": 256}
    return _make_run(tmp_path, "chat", "tiny:llama", meta)


def _close(a: list[dict], b: list[dict], tol: float) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert set(x) == set(y)
        for k in x:
            assert abs(x[k] - y[k]) <= tol, (k, x[k], y[k])


def test_token_budget_batches_equal_one_by_one(classifier_run, monkeypatch):
    monkeypatch.setenv("TUNER_INFER_DTYPE", "fp32")
    from tuner.inference import Predictor

    p = Predictor(classifier_run)
    task, meta = p.task, p.meta
    batched = task.predict(p.model, p.tokenizer, TEXTS, meta, 64, batch_size=4, token_budget=40)
    single = [task.predict(p.model, p.tokenizer, [t], meta, 64)[0] for t in TEXTS]
    _close(batched, single, 1e-5)
    # the order of the answers is the order of the inputs, not the length-sorted order
    assert [next(iter(r)) for r in p.predict(TEXTS)] == [next(iter(r)) for r in single]
    probs = [sum(r.values()) for r in batched]
    assert all(abs(s - 1) < 1e-5 for s in probs)
    assert task.predict(p.model, p.tokenizer, [], meta, 64) == []


def test_padding_to_a_multiple_and_eager_attention_change_nothing(classifier_run, monkeypatch):
    """The file path's batches (64 rows, padded to the longest, eager attention on the CPU) give the answers
    of the old ones (256 rows padded to a multiple of 8) and of SDPA attention."""
    monkeypatch.setenv("TUNER_INFER_DTYPE", "fp32")
    import torch

    from tuner.inference import Predictor

    p = Predictor(classifier_run)
    task, meta = p.task, p.meta
    if not torch.cuda.is_available():
        assert p.model.config._attn_implementation == "eager"
    tight = task.predict(p.model, p.tokenizer, TEXTS * 3, meta, 64, batch_size=4)
    _close(tight, task.predict(p.model, p.tokenizer, TEXTS * 3, meta, 64, batch_size=256, pad_multiple=8), 1e-5)
    p.model.set_attn_implementation("sdpa")
    _close(tight, task.predict(p.model, p.tokenizer, TEXTS * 3, meta, 64, batch_size=4), 1e-5)


@pytest.mark.parametrize("side", ["right", "left"])
def test_padded_rows_match_the_tokenizer_pad(tiny_model_dir, side):
    from tuner import models
    from tuner.tasks.common import padded as _padded

    tok = models.load_tokenizer(str(tiny_model_dir))
    tok.padding_side = side
    enc = tok(TEXTS[:4], truncation=True, max_length=32)
    ref = tok.pad({k: enc[k] for k in enc}, pad_to_multiple_of=8, return_tensors="np")
    pads = {"input_ids": tok.pad_token_id, "attention_mask": 0, "token_type_ids": tok.pad_token_type_id}
    for key in enc:
        got = _padded(enc[key], ref[key].shape[1], pads[key], side)
        assert (got == ref[key]).all(), key


def test_merged_classifier_equals_the_unmerged_adapter(classifier_run, monkeypatch):
    monkeypatch.setenv("TUNER_INFER_DTYPE", "fp32")
    import torch
    from peft import PeftModel

    from tuner import models
    from tuner.inference import Predictor

    p = Predictor(classifier_run)
    assert not hasattr(p.model, "peft_config"), "the classifier is served merged (one plain forward)"
    unmerged = PeftModel.from_pretrained(p.task.build_model(models.resolve(p.meta["base_model"]), p.meta),
                                         str(classifier_run.adapter_dir)).eval()
    base = p.task.build_model(models.resolve(p.meta["base_model"]), p.meta).eval()
    fast = p.predict(TEXTS)
    slow = p.task.predict(unmerged, p.tokenizer, TEXTS, p.meta, 64)
    _close(fast, slow, 1e-4)
    plain = p.task.predict(base, p.tokenizer, TEXTS, p.meta, 64)
    diff = max(abs(a[k] - b[k]) for a, b in zip(fast, plain) for k in a)
    assert diff > 1e-3, "the adapter changes the answers (else the comparison above proves nothing)"
    assert torch.get_num_threads() >= 1


def test_bf16_weights_keep_the_predictions(classifier_run, monkeypatch):
    import torch

    from tuner.inference import Predictor

    monkeypatch.setenv("TUNER_INFER_DTYPE", "fp32")
    exact = Predictor(classifier_run).predict(TEXTS)
    monkeypatch.setenv("TUNER_INFER_DTYPE", "bf16")
    p = Predictor(classifier_run)
    assert next(p.model.parameters()).dtype == torch.bfloat16
    fast = p.predict(TEXTS)
    _close(fast, exact, 0.03)


def test_large_batches_use_bf16_autocast_and_keep_the_labels(classifier_run, monkeypatch):
    import torch

    from tuner import inference
    from tuner.inference import Predictor

    monkeypatch.setenv("TUNER_INFER_DTYPE", "fp32")
    texts = [f"{t} {i}" for i in range(8) for t in TEXTS][:inference.BF16_MIN_ROWS + 4]
    exact = Predictor(classifier_run).predict(texts)
    monkeypatch.setenv("TUNER_INFER_DTYPE", "auto")
    monkeypatch.setattr("tuner.models.cpu_has_fast_bf16", lambda: True)
    p = Predictor(classifier_run)
    assert next(p.model.parameters()).dtype == torch.float32  # weights stay exact for single sentences
    seen = []
    hook = p.model.register_forward_hook(lambda m, a, kw_out=None: seen.append(torch.is_autocast_enabled("cpu")))
    fast = p.predict(texts)
    few = p.predict(texts[:3])
    hook.remove()
    assert seen[0] is True and seen[-1] is False  # the big batch ran under autocast, the small one did not
    _close(fast, exact, 0.03)
    _close(few, exact[:3], 1e-5)


def test_threads_and_dtype_settings(monkeypatch):
    import torch

    from tuner import inference

    monkeypatch.setenv("TUNER_INFER_THREADS", "3")
    assert inference.inference_threads() == 3
    monkeypatch.setenv("TUNER_INFER_THREADS", "zero")
    assert 1 <= inference.inference_threads() <= 8
    model = torch.nn.Linear(2, 2)
    monkeypatch.setenv("TUNER_INFER_DTYPE", "fp32")
    assert inference.inference_dtype(model) is None
    monkeypatch.setenv("TUNER_INFER_DTYPE", "bf16")
    assert inference.inference_dtype(model) is torch.bfloat16
    monkeypatch.setenv("TUNER_INFER_DTYPE", "auto")
    monkeypatch.setattr("tuner.models.cpu_has_fast_bf16", lambda: True)
    assert inference.inference_dtype(model) is torch.bfloat16
    assert inference.inference_dtype(model, generation=True) is None  # one-row matmuls: fp32 is faster
    monkeypatch.setattr("tuner.models.cpu_has_fast_bf16", lambda: False)
    assert inference.inference_dtype(model) is None
    assert inference.inference_dtype(model.to(torch.float16)) is None  # reduced weights stay as they are


def test_chat_folds_the_adapter_and_still_answers_as_the_base(chat_run, monkeypatch):
    monkeypatch.setenv("TUNER_INFER_DTYPE", "fp32")
    import torch
    from peft import PeftModel

    from tuner import models
    from tuner.inference import Predictor

    p = Predictor(chat_run)
    assert not hasattr(p.model, "peft_config") and p._base_swap, "LoRA folded into the weights"
    source = models.resolve(p.meta["base_model"])
    unmerged = PeftModel.from_pretrained(p.task.build_model(source, p.meta), str(chat_run.adapter_dir)).eval()
    base = p.task.build_model(source, p.meta).eval()
    ids = torch.tensor([p.tokenizer("Hello there, how are you?")["input_ids"]])
    with torch.inference_mode():
        folded = p.model(input_ids=ids).logits
        before = [t.clone() for t in p.model.state_dict().values()]
        torch.testing.assert_close(folded, unmerged(input_ids=ids).logits, atol=1e-4, rtol=1e-4)
        with p.base_weights():
            torch.testing.assert_close(p.model(input_ids=ids).logits, base(input_ids=ids).logits, atol=1e-5, rtol=1e-5)
        after = list(p.model.state_dict().values())
        assert all(torch.equal(a, b) for a, b in zip(before, after)), "finetuned weights restored exactly"
        assert (folded - base(input_ids=ids).logits).abs().max() > 1e-3  # the adapter matters
    # through the public path: the base answer is the base model's greedy answer, the finetuned one differs
    reply_base = p.chat([], "Hello there", base=True, max_new_tokens=6)
    reply_tuned = p.chat([], "Hello there", max_new_tokens=6)
    assert isinstance(reply_base, str) and isinstance(reply_tuned, str)
    with torch.inference_mode():
        prompt = torch.tensor([p.chat_prompt_ids(p.chat_messages([], "Hello there"), 6)])
        import threading

        from tuner.tasks.chat.generate import cut_at_stop, generation_kwargs

        kw, stops = generation_kwargs(p.tokenizer, p.template, prompt.shape[1], 6, 0.0, 1.0, [], threading.Event())
        ref = base.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), **kw)
    expected = cut_at_stop(p.tokenizer.decode(ref[0, prompt.shape[1]:], skip_special_tokens=True), stops).strip()
    assert reply_base == expected


def test_answers_are_computed_on_the_compute_thread(classifier_run, chat_run, monkeypatch):
    """tuner/cpu/threads.py: whichever thread asks, the forward passes run on the one compute thread (large
    batches under bf16 autocast there too, since autocast is per thread); a chat still streams piece by piece."""
    import threading

    import torch

    monkeypatch.delenv("TUNER_CPU_TEAMS", raising=False)
    from tuner.inference import BF16_MIN_ROWS, Predictor

    p = Predictor(classifier_run)
    seen = []
    real = p.task.predict

    def spy(*a, **kw):
        seen.append((threading.current_thread().name, torch.is_autocast_enabled("cpu")))
        return real(*a, **kw)

    monkeypatch.setattr(p.task, "predict", spy)
    one = p.predict_one(TEXTS[1])
    other = []
    t = threading.Thread(target=lambda: other.append(p.predict_one(TEXTS[1])))
    t.start()
    t.join(60)
    assert other == [one]
    p.predict(TEXTS * (BF16_MIN_ROWS // len(TEXTS) + 1))
    assert [name for name, _ in seen] == ["tuner-compute"] * 3
    assert seen[2][1] == (p._batch_dtype is not None)  # the file-sized batch: autocast entered on the compute thread

    chat = Predictor(chat_run)
    names = []
    hook = chat.model.register_forward_hook(lambda *a: names.append(threading.current_thread().name))
    try:
        pieces = list(chat.chat_stream([], "hello there", max_new_tokens=8))
    finally:
        hook.remove()
    assert names and set(names) == {"tuner-compute"}
    assert len(pieces) >= 1 and all(isinstance(x, str) for x in pieces)


def test_int8_file_rows_only_when_asked(classifier_run, monkeypatch):
    import torch

    from tuner import inference
    from tuner.inference import Predictor

    monkeypatch.setenv("TUNER_INFER_DTYPE", "fp32")
    texts = [f"{t} {i}" for i in range(8) for t in TEXTS if t.strip()][:inference.BF16_MIN_ROWS + 4]
    exact = Predictor(classifier_run).predict(texts)
    monkeypatch.setattr("tuner.models.cpu_has_fast_bf16", lambda: False)  # an AVX2-only CPU
    monkeypatch.setenv("TUNER_INFER_DTYPE", "auto")
    p = Predictor(classifier_run)
    assert p._batch_dtype is None and not p._int8  # auto: fp32 there (int8 changes labels)
    p.predict(texts)
    assert p._batch_model is None
    monkeypatch.setenv("TUNER_INFER_DTYPE", "int8")
    p = Predictor(classifier_run)
    assert p._int8
    few = p.predict(texts[:3])
    assert p._batch_model is None  # a few sentences: the fp32 model, exact
    fast = p.predict(texts)
    assert p._batch_model is not None and p._batch_model is not p.model
    int8 = [n for n, m in p._batch_model.named_modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
    assert int8 and not any("classifier" in n for n in int8)  # the encoder's products; the head stays fp32
    assert next(p.model.parameters()).dtype == torch.float32  # the model itself is untouched
    _close(few, exact[:3], 1e-5)
    _close(fast, exact, 0.05)
    assert not inference.int8_batches(p.model.to(torch.bfloat16))  # reduced weights stay as they are
