"""The chat task end to end: a tiny Llama trained on bitext support rows through the real child process
(`accelerate launch -m tuner.train`), its report, the chat function, the CLI, and the page driven with
`gradio_client` (one streamed chat turn, answered while that training run is in progress).

The module trains once (~300 rows, 72 steps) and shares the run; the app is started first so that the training
runs while the page answers a chat message (the chat's separate queue).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from apphelpers import running_app
from tuner import jobs, runs
from tuner.config import RunConfig

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
BITEXT = SHARED / "bitext_support" / "Bitext_Sample_Customer_Support_Training_Dataset.csv"
SAMPLE = REPO / "assets" / "support_chat.jsonl"
RUN_TIMEOUT = 480
ROWS = 320  # -> 288 train / 32 validation; 288 / batch 8 = 36 steps per epoch


def chat_config(train_file, **train) -> RunConfig:
    return RunConfig.from_dict({
        "task": "chat", "name": "tiny chat e2e",
        "data": {"train_file": str(train_file), "max_train_rows": ROWS, "validation_fraction": 0.1},
        "model": {"name": "tiny:llama", "max_length": 128},
        "adapter": {"r": 16, "alpha": 32},
        "train": {"epochs": 2, "batch_size": 8, "eval_batch_size": 16, "evals": 1, "learning_rate": 1e-2,
                  "precision": "fp32", **train},
        "chat": {"eval_samples": 8, "max_new_tokens": 48},
    })


def log_tail(run) -> str:
    try:
        return run.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
    except OSError:
        return "(no train.log)"


def fabricate_chat_run(name: str = "made by hand") -> runs.Run:
    """A finished chat run whose adapter was never trained but is set to random values (so that the finetuned
    and the base model answer differently), saved through the same code as training."""
    import torch

    from tuner import models
    from tuner import train as train_mod
    from tuner.tasks import get_task

    cfg = RunConfig.from_dict({"task": "chat", "data": {"train_file": str(SAMPLE)},
                               "model": {"name": "tiny:llama", "max_length": 128}, "chat": {"max_new_tokens": 32}})
    run = runs.create_run(cfg, name=name)
    source = models.resolve(cfg.model.name)
    tok = models.load_tokenizer(source)
    model = models.attach_adapter(get_task("chat").build_model(source, {}), cfg.adapter, "CAUSAL_LM", [])
    torch.manual_seed(0)
    for pname, p in model.named_parameters():
        if "lora_B" in pname:
            p.data.normal_(0, 0.5)
    meta = {"task": "chat", "shape": "messages", "template": "auto", "system_prompt": "", "max_new_tokens": 32}
    train_mod.save_adapter(model, tok, run, cfg, meta)
    run.set_status(state="completed", message="made by hand for a test")
    return run


@pytest.fixture(scope="module")
def chat_env(tmp_path_factory):
    if not BITEXT.is_file():
        pytest.skip("the shared datasets folder ../shared/datasets is not present")
    root = tmp_path_factory.mktemp("chat-e2e")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNER_RUNS_DIR", str(root / "runs"))
        mp.setenv("TUNER_CACHE_DIR", str(root / "cache"))
        (root / "runs").mkdir()
        from tuner import tiny_models

        tiny_models.build("llama")  # once, before the app and the child both want it
        yield root


@pytest.fixture(scope="module")
def app(chat_env):
    with running_app(chat_env / "app.log") as (url, _proc):
        yield url


@pytest.fixture(scope="module")
def training(chat_env):
    run = runs.create_run(chat_config(BITEXT))
    manager = jobs.JobManager()
    assert manager.submit(run) == 0
    yield run, manager
    manager.kill(run)


@pytest.fixture(scope="module")
def trained_run(training):
    run, manager = training
    code = manager.wait(run, timeout=RUN_TIMEOUT)
    assert code == 0, f"child exited with {code}; state {run.status()}; log:\n{log_tail(run)}"
    return run


def _assistant_text(history) -> str:
    content = history[-1]["content"]
    return content if isinstance(content, str) else "".join(c.get("text", "") for c in content)


# ---- the page: one streamed chat turn while a run trains ------------------------------------------------
def test_page_streams_a_chat_turn_while_a_run_trains(app, training):
    from gradio_client import Client

    run, _ = training
    made = fabricate_chat_run()
    deadline = time.time() + RUN_TIMEOUT
    while not any(e.get("type") in ("start", "progress") for e in run.events()):
        assert run.state in ("queued", "running") and time.time() < deadline, f"{run.status()}\n{log_tail(run)}"
        time.sleep(0.5)
    client = Client(app, verbose=False)
    t0 = time.time()
    job = client.submit(made.id, "Where is my parcel?", [], [], "", 0.0, 1.0, 24, "", True, api_name="/chat")
    job.result(timeout=180)
    seconds = time.time() - t0
    ended = run.status().get("ended")
    # the chat request overlapped the training (it may finish first: the tiny run is short)
    assert run.state == "running" or (ended and ended > t0), "the training finished before the chat was asked"
    outputs = job.outputs()
    assert len(outputs) >= 3, outputs  # the reply arrives in pieces, not at the end
    lengths = [len(_assistant_text(o[1])) for o in outputs]
    assert lengths == sorted(lengths) and lengths[-1] > 0
    message, tuned, base = outputs[-1]
    assert message == "" and [m["role"] for m in tuned] == ["user", "assistant"]
    assert [m["role"] for m in base] == ["user", "assistant"]
    assert _assistant_text(tuned) != _assistant_text(base)  # side by side: adapter on vs. off
    assert seconds < 120, f"a 24-token answer took {seconds:.0f} s during training"


def test_page_shows_the_prompt_format_with_trained_tokens(app):
    from gradio_client import Client, handle_file

    client = Client(app, verbose=False)
    text_cols, label_col, summary, *_, error = client.predict(handle_file(str(SAMPLE)), handle_file(str(SAMPLE)), "chat",
                                                              api_name="/upload")
    assert error == "" and "**38 rows**" in summary and text_cols["value"] == ["messages"]
    assert "separate file, 38 rows" in summary
    tokens, info = client.predict("tiny:qwen2", "auto", "", 0, api_name="/prompt_format")
    assert "38" in info and "carry loss" in info
    pieces = [(p["token"], p["class_or_confidence"]) for p in tokens]
    trained = "".join(t for t, lab in pieces if lab)
    assert trained.endswith("<|im_end|>") and "<|im_start|>" not in trained
    assert "".join(t for t, _ in pieces).startswith("<|im_start|>")
    with pytest.raises(Exception, match=r"without '\.\.'|outside the allowed"):
        client.predict("../../etc", "auto", "", 0, api_name="/prompt_format")


# ---- the trained run ------------------------------------------------------------------------------------
def test_run_completes_with_events(trained_run):
    status = trained_run.status()
    assert status["state"] == "completed", f"{status}\n{log_tail(trained_run)}"
    events = trained_run.events()
    start = next(e for e in events if e["type"] == "start")
    assert events[0]["type"] == "phase" and start["total_steps"] == 72
    assert start["train_rows"] == 288 and start["validation_rows"] == 32
    assert any("longer than 128 tokens and were truncated" in w for w in start["warnings"])
    evals = [e for e in events if e["type"] == "eval"]
    assert evals and all(math.isfinite(e["loss"]) for e in evals)


def test_heldout_loss_falls_by_at_least_half(trained_run):
    report = trained_run.metrics()
    assert report and "evaluation_error" not in report, report
    base = report["baseline"]
    assert report["eval_loss"] <= 0.5 * base["eval_loss"], (report["eval_loss"], base["eval_loss"])
    assert report["perplexity"] == pytest.approx(math.exp(report["eval_loss"]), rel=1e-6)
    assert report["perplexity"] < base["perplexity"]
    assert report["n_examples"] == 32 and report["n_generated"] == 8 and report["template"] == "model"
    for side in (report, base):
        assert 0.0 <= side["rouge_l"] <= 1.0 and 0.0 <= side["bleu"] <= 1.0
    assert report["rouge_l"] > base["rouge_l"]  # the tiny model learned the words of support replies
    assert len(report["samples"]) == 5 and all(s["reference"] for s in report["samples"])
    assert report["data"]["training"]["conversations"] == 288


def test_adapter_and_meta(trained_run):
    adapter = trained_run.adapter_dir
    assert (adapter / "adapter_model.safetensors").is_file()
    assert not [p for p in adapter.rglob("*") if p.suffix in (".bin", ".pt", ".pth", ".pkl")]
    meta = trained_run.meta()
    assert meta["task"] == "chat" and meta["template"] == "model" and meta["base_model"] == "tiny:llama"
    assert meta["text_columns"] == ["instruction"] and meta["label_column"] == "response"


def test_the_chat_function_replies_and_streams(trained_run):
    from tuner.inference import get_predictor

    pred = get_predictor(trained_run)
    reply = pred.chat([], "How do I cancel my order?", temperature=0.0, max_new_tokens=40)
    assert isinstance(reply, str) and reply.strip()
    parts = list(pred.chat_stream([], "How do I cancel my order?", temperature=0.0, max_new_tokens=40))
    assert len(parts) >= 2 and parts[-1] == reply
    assert all(parts[i + 1].startswith(parts[i].rstrip()) for i in range(len(parts) - 1))
    base = pred.chat([], "How do I cancel my order?", temperature=0.0, max_new_tokens=40, base=True)
    assert base != reply
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": reply}]
    assert pred.chat(history, "and a refund?", temperature=0.7, top_p=0.9, max_new_tokens=16, stop="\\n").strip() != ""
    assert pred.predict(["Where is my parcel?"])[0] == pred.chat([], "Where is my parcel?", max_new_tokens=pred.meta["max_new_tokens"])


def test_chat_inputs_are_bounded(trained_run):
    from tuner.errors import DataError, RunError
    from tuner.inference import MAX_TEXT_CHARS, get_predictor

    pred = get_predictor(trained_run)
    with pytest.raises(DataError, match="Type a message"):
        pred.chat([], "   ")
    with pytest.raises(DataError, match="temperature must be between 0.0 and 2.0"):
        pred.chat([], "hi", temperature=5)
    with pytest.raises(DataError, match="max new tokens must be between 1 and 1024"):
        pred.chat([], "hi", max_new_tokens=100_000)
    # A message over the context is refused in one sentence; a long history is cut from the oldest turn.
    messages = pred.chat_messages([], "x" * (MAX_TEXT_CHARS * 3))
    assert len(messages[-1]["content"]) == MAX_TEXT_CHARS
    pred.context_tokens, saved = 600, pred.context_tokens
    try:
        with pytest.raises(DataError, match="the limit is 472 tokens"):
            pred.chat([], "y" * 2000, max_new_tokens=128)
        history = [{"role": r, "content": f"turn {i} " * 20} for i in range(20) for r in ("user", "assistant")]
        ids = pred.chat_prompt_ids(pred.chat_messages(history, "last question"), 128)
        assert len(ids) <= 472 and pred.tokenizer.decode(ids).count("last question") == 1
    finally:
        pred.context_tokens = saved
    with pytest.raises(RunError):
        runs.get_run("../../etc")


def test_cli_chat_streams_to_the_terminal(trained_run, capsys):
    from tuner import cli

    code = cli.main(["chat", trained_run.id, "-m", "Where is my parcel?", "-m", "/retry", "--temperature", "0",
                     "--max-new-tokens", "24"])
    out = capsys.readouterr().out
    assert code == 0
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 2 and lines[0] == lines[1]  # greedy: the retry gives the same answer
    code = cli.main(["chat", trained_run.id, "-m", "hi", "--temperature", "9"])
    assert code == 2 and "temperature must be between" in capsys.readouterr().err


def test_cli_eval_and_predict_files(trained_run, tmp_path, capsys):
    import csv
    import json

    from tuner import cli

    rows = [{"messages": [{"role": "user", "content": f"How do I cancel order {i}?"},
                          {"role": "assistant", "content": "I understand you want to cancel your order."}]} for i in range(6)]
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert cli.main(["eval", trained_run.id, str(labelled), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["task"] == "chat" and report["n_examples"] == 6 and report["n_generated"] == 6
    assert report["eval_loss"] < report["baseline"]["eval_loss"]
    prompts = tmp_path / "prompts.csv"
    prompts.write_text("instruction\nwhere is my parcel\nI want a refund\n")
    assert cli.main(["predict", trained_run.id, "--file", str(prompts)]) == 0
    info = json.loads(capsys.readouterr().out)
    out = list(csv.DictReader(open(info["path"], encoding="utf-8")))
    assert info["rows"] == 2 and [r["instruction"] for r in out] == ["where is my parcel", "I want a refund"]
    assert all(r["reply"].strip() for r in out)
